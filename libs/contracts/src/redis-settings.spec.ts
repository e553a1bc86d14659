import { parseRedisEnv, redisClientPlan, RedisSettings, standaloneRedis, toRedisEnv } from './redis-settings';

const problems = (env: Record<string, string>): string[] => {
  const parsed = parseRedisEnv(env);
  return parsed.ok ? [] : parsed.problems;
};
const settings = (env: Record<string, string>): RedisSettings => {
  const parsed = parseRedisEnv(env);
  if (!parsed.ok) throw new Error(parsed.problems.join('; '));
  return parsed.settings;
};

describe('parseRedisEnv', () => {
  it('defaults to one standalone server, without WAIT', () => {
    expect(settings({ REDIS_URL: 'redis://localhost:6379/2' })).toEqual(
      standaloneRedis('redis://localhost:6379/2'),
    );
    expect(parseRedisEnv({}, { defaultUrl: 'redis://localhost:6379' })).toMatchObject({ ok: true });
  });

  it('reads a sentinel set, waiting for one replica by default', () => {
    expect(
      settings({
        REDIS_MODE: 'sentinel',
        REDIS_URL: 'redis://:pw@ignored/3',
        REDIS_SENTINELS: 's1:26379, 10.0.0.2:26380,[::1]:26381',
        REDIS_SENTINEL_NAME: 'pairwatch',
      }),
    ).toEqual({
      mode: 'sentinel',
      url: 'redis://:pw@ignored/3',
      sentinels: [
        { host: 's1', port: 26379 },
        { host: '10.0.0.2', port: 26380 },
        { host: '::1', port: 26381 },
      ],
      sentinelName: 'pairwatch',
      clusterNodes: [],
      waitReplicas: 1,
    });
  });

  it('reads a cluster, with REDIS_WAIT_REPLICAS when given', () => {
    expect(
      settings({
        REDIS_MODE: 'cluster',
        REDIS_URL: 'rediss://user:pw@cluster',
        REDIS_CLUSTER_NODES: 'a:7000,b:7001',
        REDIS_WAIT_REPLICAS: '2',
      }),
    ).toMatchObject({
      mode: 'cluster',
      clusterNodes: [
        { host: 'a', port: 7000 },
        { host: 'b', port: 7001 },
      ],
      waitReplicas: 2,
    });
  });

  it.each([
    [
      { REDIS_MODE: 'replicated', REDIS_URL: 'redis://h' },
      'REDIS_MODE must be one of standalone, sentinel, cluster',
    ],
    [{ REDIS_MODE: 'sentinel', REDIS_URL: 'redis://h' }, 'REDIS_SENTINELS must list at least one host:port'],
    [
      { REDIS_MODE: 'sentinel', REDIS_URL: 'redis://h', REDIS_SENTINELS: ' , ' },
      'REDIS_SENTINELS must list at least one host:port',
    ],
    [
      { REDIS_MODE: 'cluster', REDIS_URL: 'redis://h' },
      'REDIS_CLUSTER_NODES must list at least one host:port',
    ],
    [
      { REDIS_MODE: 'cluster', REDIS_URL: 'redis://h', REDIS_CLUSTER_NODES: 'a:7000,b' },
      'REDIS_CLUSTER_NODES must be a comma-separated list of host:port; "b" is not',
    ],
    [
      { REDIS_MODE: 'cluster', REDIS_URL: 'redis://h', REDIS_CLUSTER_NODES: 'a:70000' },
      'REDIS_CLUSTER_NODES must be a comma-separated list of host:port; "a:70000" is not',
    ],
    [
      { REDIS_MODE: 'cluster', REDIS_URL: 'redis://:pw@h/2', REDIS_CLUSTER_NODES: 'a:7000' },
      'REDIS_URL must not name a database in cluster mode (a cluster has database 0 only)',
    ],
    [{ REDIS_URL: 'http://h:6379' }, 'REDIS_URL must be a redis:// or rediss:// URL'],
    [{ REDIS_URL: 'redis://h/x' }, 'REDIS_URL must name a database by its number (/0 to /99999), or none'],
    [
      { REDIS_URL: 'redis://h', REDIS_WAIT_REPLICAS: 'two' },
      'REDIS_WAIT_REPLICAS must be a whole number from 0 to 16',
    ],
    [{ REDIS_URL: 'redis://h', REDIS_SENTINEL_NAME: 'a b' }, 'REDIS_SENTINEL_NAME must be 1 to 128 letters'],
  ])('refuses %j naming the variable', (env, problem) => {
    expect(problems(env)).toEqual([expect.stringContaining(problem)]);
  });

  it('names the URL variable the program reads, and never echoes a URL', () => {
    const found = problems({ WORKER_REDIS_URL: 'http://user:s3cret@h' });
    expect(
      parseRedisEnv({ WORKER_REDIS_URL: 'http://user:s3cret@h' }, { urlVariable: 'WORKER_REDIS_URL' }),
    ).toEqual({
      ok: false,
      problems: ['WORKER_REDIS_URL must be a redis:// or rediss:// URL'],
    });
    expect(found).toEqual(['REDIS_URL is required']);
    expect(JSON.stringify(problems({ REDIS_URL: 'http://user:s3cret@h' }))).not.toContain('s3cret');
  });
});

describe('toRedisEnv', () => {
  it('gives a standalone worker REDIS_URL alone (its environment as before the modes)', () => {
    expect(toRedisEnv(standaloneRedis('redis://r:6379'))).toEqual({ REDIS_URL: 'redis://r:6379' });
  });

  it.each<Record<string, string>>([
    {
      REDIS_MODE: 'sentinel',
      REDIS_URL: 'redis://:pw@x/2',
      REDIS_SENTINELS: 'a:1,[::1]:2',
      REDIS_SENTINEL_NAME: 'm',
    },
    {
      REDIS_MODE: 'cluster',
      REDIS_URL: 'redis://x',
      REDIS_CLUSTER_NODES: 'a:1,b:2',
      REDIS_WAIT_REPLICAS: '0',
    },
  ])('is the inverse of parseRedisEnv (%j)', (env) => {
    const parsed = settings(env);
    expect(settings(toRedisEnv(parsed))).toEqual(parsed);
  });
});

describe('redisClientPlan', () => {
  const connection = {
    connectionName: 'x',
    maxRetriesPerRequest: 1,
    enableOfflineQueue: true,
    retryStrategy: () => 1,
  };

  it('standalone: the URL as it is', () => {
    expect(redisClientPlan(standaloneRedis('redis://r:6379/4'), connection)).toEqual({
      kind: 'redis',
      url: 'redis://r:6379/4',
      options: connection,
    });
  });

  it("sentinel: the sentinels, the master's name, credentials and database from the URL, failover detection", () => {
    const plan = redisClientPlan(
      settings({ REDIS_MODE: 'sentinel', REDIS_URL: 'rediss://u:p%40ss@x/5', REDIS_SENTINELS: 'a:1' }),
      connection,
    );
    expect(plan).toMatchObject({
      kind: 'redis',
      url: undefined,
      options: {
        connectionName: 'x',
        sentinels: [{ host: 'a', port: 1 }],
        name: 'mymaster',
        username: 'u',
        password: 'p@ss',
        db: 5,
        tls: {},
        failoverDetector: true,
      },
    });
    const reconnect = (plan.options as { reconnectOnError: (e: Error) => unknown }).reconnectOnError;
    expect(reconnect(new Error("READONLY You can't write against a read only replica."))).toBe(2);
    expect(reconnect(new Error('ERR other'))).toBe(false);
  });

  it("cluster: the nodes, each node's connection with the program's options and the credentials", () => {
    const plan = redisClientPlan(
      settings({ REDIS_MODE: 'cluster', REDIS_URL: 'redis://:pw@x', REDIS_CLUSTER_NODES: 'a:1,b:2' }),
      connection,
    );
    expect(plan.kind).toBe('cluster');
    if (plan.kind !== 'cluster') return;
    expect(plan.nodes).toEqual([
      { host: 'a', port: 1 },
      { host: 'b', port: 2 },
    ]);
    expect(plan.options.redisOptions).toEqual({
      connectionName: 'x',
      maxRetriesPerRequest: 1,
      password: 'pw',
      username: undefined,
      tls: undefined,
    });
    expect(plan.options).toMatchObject({ enableOfflineQueue: true, scaleReads: 'master' });
  });
});
