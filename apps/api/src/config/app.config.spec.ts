import { ConfigError, loadConfig, loadDownConfig } from './app.config';

/** Runs loadConfig and returns the ConfigError it throws; fails the test when it does not throw one. */
function configErrorOf(env: NodeJS.ProcessEnv): ConfigError {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(env)}`);
}

describe('loadConfig', () => {
  it('gives the documented defaults for an empty environment', () => {
    expect(loadConfig({})).toMatchObject({
      port: 3000,
      databaseUrl: 'postgres://postgres@localhost:5432/pairwatch',
      redisUrl: 'redis://localhost:6379',
      workerRedisUrl: 'redis://localhost:6379',
      upholdApiUrl: 'https://api.uphold.com',
      upholdRateLimitPerMin: 250,
      upholdRelay: true,
      monitorCreateLimitPerMin: 30,
      workerRuntime: 'docker',
      workerImage: 'pairwatch-worker:latest',
      workerNetwork: undefined,
      workerScript: undefined,
      hostPath: undefined,
      apiKey: undefined,
      logLevel: 'info',
      webhooks: {
        allowedHosts: [],
        retryScheduleMs: [5000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000],
        retentionMs: 30 * 86_400_000,
        leaseMs: 60_000,
      },
      stream: { heartbeatMs: 15_000, maxClients: 1000, clientBufferBytes: 1_048_576 },
    });
  });

  it('listens on 127.0.0.1 by default, with no read key and no open mode', () => {
    expect(loadConfig({})).toMatchObject({ host: '127.0.0.1', allowNoAuth: false, apiReadKey: undefined });
  });

  it.each(['127.0.0.1', '127.0.0.2', '::1', 'localhost'])(
    'accepts the loopback HOST=%s without API_KEY',
    (host) => {
      expect(loadConfig({ HOST: host }).host).toBe(host);
    },
  );

  it.each(['0.0.0.0', '::', '192.168.1.10', 'pairwatch.example'])(
    'refuses HOST=%s without API_KEY, saying what to set',
    (host) => {
      const error = configErrorOf({ HOST: host });
      expect(error.message).toContain(`HOST=${host}`);
      expect(error.message).toContain('API_KEY');
      expect(error.message).toContain('ALLOW_NO_AUTH=true');
    },
  );

  it('takes a non-loopback HOST with API_KEY, or with ALLOW_NO_AUTH=true', () => {
    expect(loadConfig({ HOST: '0.0.0.0', API_KEY: 'k'.repeat(16) }).host).toBe('0.0.0.0');
    expect(loadConfig({ HOST: '::', ALLOW_NO_AUTH: 'true' })).toMatchObject({
      host: '::',
      allowNoAuth: true,
    });
    expect(configErrorOf({ ALLOW_NO_AUTH: 'yes' }).message).toContain('ALLOW_NO_AUTH');
    expect(configErrorOf({ HOST: 'a b' }).message).toContain('HOST');
  });

  it('takes API_READ_KEY only beside a different API_KEY, and never prints it', () => {
    expect(loadConfig({ API_KEY: 'k'.repeat(16), API_READ_KEY: 'r'.repeat(16) }).apiReadKey).toBe(
      'r'.repeat(16),
    );
    expect(configErrorOf({ API_READ_KEY: 'r'.repeat(16) }).message).toContain('without API_KEY');
    expect(configErrorOf({ API_KEY: 'k'.repeat(16), API_READ_KEY: 'k'.repeat(16) }).message).toContain(
      'differ',
    );
    const short = configErrorOf({ API_KEY: 'k'.repeat(16), API_READ_KEY: 'short-secret' });
    expect(short.message).toContain('API_READ_KEY');
    expect(short.message).not.toContain('short-secret');
  });

  it('reads SECRETS_KEY and SECRETS_KEY_PREVIOUS as 32 bytes, and never prints a bad one', () => {
    const key = Buffer.alloc(32, 1);
    const previous = Buffer.alloc(32, 2);
    expect(
      loadConfig({ SECRETS_KEY: key.toString('base64'), SECRETS_KEY_PREVIOUS: previous.toString('hex') })
        .secrets,
    ).toEqual({ key, previousKey: previous });
    expect(loadConfig({}).secrets).toEqual({ key: undefined, previousKey: undefined });
    const error = configErrorOf({ SECRETS_KEY: 'my-secret-passphrase' });
    expect(error.message).toContain('SECRETS_KEY="***" must be 32 bytes');
    expect(error.message).not.toContain('my-secret-passphrase');
  });

  it('reads the live stream variables', () => {
    expect(
      loadConfig({ SSE_HEARTBEAT_MS: '250', SSE_MAX_CLIENTS: '3', SSE_CLIENT_BUFFER_BYTES: '65536' }).stream,
    ).toEqual({ heartbeatMs: 250, maxClients: 3, clientBufferBytes: 65_536 });
  });

  it('reads the webhook variables', () => {
    expect(
      loadConfig({
        WEBHOOK_ALLOWED_HOSTS: '127.0.0.1:8080, [::1]:9000,receiver.local:80',
        WEBHOOK_RETRY_SCHEDULE: '200ms,1s',
        WEBHOOK_RETENTION: '12h',
        WEBHOOK_LEASE_MS: '30000',
      }).webhooks,
    ).toEqual({
      allowedHosts: ['127.0.0.1:8080', '[::1]:9000', 'receiver.local:80'],
      retryScheduleMs: [200, 1000],
      retentionMs: 12 * 3_600_000,
      leaseMs: 30_000,
    });
  });

  it('does not read process.env when given an environment', () => {
    const before = process.env.PORT;
    process.env.PORT = 'not-a-port';
    try {
      expect(loadConfig({}).port).toBe(3000);
    } finally {
      if (before === undefined) delete process.env.PORT;
      else process.env.PORT = before;
    }
  });

  it('reads every variable it is given, numbers as numbers', () => {
    const config = loadConfig({
      PORT: '8080',
      DATABASE_URL: 'postgresql://u:p@db:5432/x',
      REDIS_URL: 'rediss://cache:6380',
      WORKER_REDIS_URL: 'redis://redis:6379',
      UPHOLD_API_URL: 'http://fake-ticker:8080',
      UPHOLD_RATE_LIMIT_PER_MIN: '120',
      UPHOLD_RELAY: 'off',
      RELAY_PORT: '18095',
      MONITOR_CREATE_LIMIT_PER_MIN: '5',
      WORKER_RUNTIME: 'swarm',
      WORKER_IMAGE: 'registry.local:5000/pairwatch/worker:1.2.3',
      WORKER_NETWORK: 'pairwatch_default',
      WORKER_SCRIPT: '/opt/pairwatch/worker.cjs',
      API_KEY: 'a-key-of-at-least-16-chars',
      LOG_LEVEL: 'debug',
      PATH: '/usr/bin:/bin',
    });
    expect(config).toMatchObject({
      port: 8080,
      databaseUrl: 'postgresql://u:p@db:5432/x',
      redisUrl: 'rediss://cache:6380',
      workerRedisUrl: 'redis://redis:6379',
      upholdApiUrl: 'http://fake-ticker:8080',
      upholdRateLimitPerMin: 120,
      upholdRelay: false,
      relayPort: 18095,
      monitorCreateLimitPerMin: 5,
      workerRuntime: 'swarm',
      workerImage: 'registry.local:5000/pairwatch/worker:1.2.3',
      workerNetwork: 'pairwatch_default',
      workerScript: '/opt/pairwatch/worker.cjs',
      hostPath: '/usr/bin:/bin',
      apiKey: 'a-key-of-at-least-16-chars',
      logLevel: 'debug',
    });
  });

  it('defaults WORKER_REDIS_URL to REDIS_URL, also when it is set but empty', () => {
    expect(loadConfig({ REDIS_URL: 'redis://redis:6379/2' }).workerRedisUrl).toBe('redis://redis:6379/2');
    expect(loadConfig({ REDIS_URL: 'redis://redis:6379/2', WORKER_REDIS_URL: '' }).workerRedisUrl).toBe(
      'redis://redis:6379/2',
    );
  });

  it('treats an empty API_KEY, WORKER_NETWORK or WORKER_SCRIPT as unset', () => {
    const config = loadConfig({ API_KEY: '', WORKER_NETWORK: '', WORKER_SCRIPT: '' });
    expect(config.apiKey).toBeUndefined();
    expect(config.workerNetwork).toBeUndefined();
    expect(config.workerScript).toBeUndefined();
  });

  it.each([
    ['https://api.uphold.com/', 'https://api.uphold.com'],
    ['https://api.uphold.com//', 'https://api.uphold.com'],
    ['http://fake:8080/prefix/', 'http://fake:8080/prefix'],
  ])('strips the trailing slash of UPHOLD_API_URL %s', (given, expected) => {
    expect(loadConfig({ UPHOLD_API_URL: given }).upholdApiUrl).toBe(expected);
  });

  it.each([
    ['PORT', 'abc'],
    ['PORT', '70000'],
    ['PORT', '-1'],
    ['PORT', '3000.5'],
    ['PORT', ' 3000'],
    ['DATABASE_URL', 'mysql://root@localhost/pairwatch'],
    ['DATABASE_URL', 'localhost:5432'],
    ['REDIS_URL', 'http://localhost:6379'],
    ['WORKER_REDIS_URL', 'localhost:6379'],
    ['UPHOLD_API_URL', 'ftp://api.uphold.com'],
    ['UPHOLD_API_URL', 'api.uphold.com'],
    ['UPHOLD_RATE_LIMIT_PER_MIN', '0'],
    ['UPHOLD_RATE_LIMIT_PER_MIN', '2.5'],
    ['MONITOR_CREATE_LIMIT_PER_MIN', '0'],
    ['MONITOR_CREATE_LIMIT_PER_MIN', '-5'],
    ['MONITOR_CREATE_LIMIT_PER_MIN', '1.5'],
    ['MONITOR_CREATE_LIMIT_PER_MIN', 'lots'],
    ['MONITOR_CREATE_LIMIT_PER_MIN', '1000001'],
    ['WORKER_RUNTIME', 'kubernetes'],
    ['WORKER_IMAGE', 'pairwatch worker:latest'],
    ['WORKER_IMAGE', 'Pairwatch-Worker:latest'],
    ['WORKER_IMAGE', 'img;rm -rf /'],
    ['WORKER_NETWORK', 'net work'],
    ['WORKER_SCRIPT', 'dist/worker/main.ts'],
    ['WORKER_SCRIPT', 'dist/worker/'],
    ['API_KEY', 'short'],
    ['LOG_LEVEL', 'loud'],
    ['WEBHOOK_ALLOWED_HOSTS', '127.0.0.1'],
    ['WEBHOOK_ALLOWED_HOSTS', 'http://127.0.0.1:80'],
    ['WEBHOOK_RETRY_SCHEDULE', '5s,5x'],
    ['WEBHOOK_RETRY_SCHEDULE', ''],
    ['WEBHOOK_RETENTION', '30'],
    ['SSE_HEARTBEAT_MS', '10'],
    ['SSE_MAX_CLIENTS', '0'],
    ['SSE_CLIENT_BUFFER_BYTES', 'big'],
  ])('refuses %s=%j with a ConfigError naming it', (name, value) => {
    const error = configErrorOf({ [name]: value });
    expect(error.message).toContain(`${name}=`);
    // Only the bad variable is named.
    const named = error.message.match(/\b[A-Z][A-Z_]+(?==)/g);
    expect(named).toEqual([name]);
  });

  it('names every bad variable at once', () => {
    const error = configErrorOf({
      PORT: 'abc',
      REDIS_URL: 'http://x',
      WORKER_RUNTIME: 'kubernetes',
      LOG_LEVEL: 'loud',
      UPHOLD_RATE_LIMIT_PER_MIN: '0',
    });
    for (const name of ['PORT', 'REDIS_URL', 'WORKER_RUNTIME', 'LOG_LEVEL', 'UPHOLD_RATE_LIMIT_PER_MIN']) {
      expect(error.message).toContain(`${name}=`);
    }
    expect(error.message).not.toContain('DATABASE_URL');
  });

  // PORT=abc was "PORT must not be greater than 65535, PORT must not be less than 0, PORT must be an integer
  // number", and MONITOR_CREATE_LIMIT_PER_MIN=-1 the same three, though -1 is a whole number under its bound.
  it('says what is wrong with a number: not a whole number, or the bound it breaks', () => {
    expect(configErrorOf({ PORT: 'abc' }).message).toBe(
      'invalid configuration: PORT="abc" PORT must be an integer number',
    );
    expect(configErrorOf({ MONITOR_CREATE_LIMIT_PER_MIN: '-1' }).message).toBe(
      'invalid configuration: MONITOR_CREATE_LIMIT_PER_MIN=-1 MONITOR_CREATE_LIMIT_PER_MIN must not be less than 1',
    );
    expect(configErrorOf({ SSE_MAX_CLIENTS: '2.5' }).message).toBe(
      'invalid configuration: SSE_MAX_CLIENTS="2.5" SSE_MAX_CLIENTS must be an integer number',
    );
  });

  // REDIS_MODE=sentinel with no REDIS_SENTINELS read "REDIS_SENTINELS=undefined must list …", as if it were set.
  it('says a Redis variable the mode needs is not set, rather than showing it as undefined', () => {
    expect(configErrorOf({ REDIS_MODE: 'sentinel' }).message).toBe(
      'invalid configuration: REDIS_SENTINELS (not set) must list at least one host:port',
    );
    expect(configErrorOf({ REDIS_MODE: 'sentinel', REDIS_SENTINELS: 'a:1,b' }).message).toContain(
      'REDIS_SENTINELS="a:1,b" must be',
    );
  });

  it('never puts the value of API_KEY in its message', () => {
    const secret = 'hunter2-xyz';
    const error = configErrorOf({ API_KEY: secret, PORT: 'abc' });
    expect(error.message).toContain('API_KEY');
    expect(error.message).not.toContain(secret);
    expect(error.message).not.toContain('hunter2');
    expect(error.stack ?? '').not.toContain(secret);
  });

  it('accepts API_KEY of exactly 16 characters', () => {
    expect(loadConfig({ API_KEY: '0123456789abcdef' }).apiKey).toBe('0123456789abcdef');
    expect(configErrorOf({ API_KEY: '0123456789abcde' }).message).toContain('API_KEY');
  });

  it.each(['0', '65535'])('accepts PORT=%s', (port) => {
    expect(loadConfig({ PORT: port }).port).toBe(Number(port));
  });

  it.each(['1', '1000000'])('accepts MONITOR_CREATE_LIMIT_PER_MIN=%s', (limit) => {
    expect(loadConfig({ MONITOR_CREATE_LIMIT_PER_MIN: limit }).monitorCreateLimitPerMin).toBe(Number(limit));
  });

  it.each(['docker', 'swarm', 'process'])('accepts WORKER_RUNTIME=%s', (runtime) => {
    expect(loadConfig({ WORKER_RUNTIME: runtime }).workerRuntime).toBe(runtime);
  });
});

describe('loadConfig: the relay', () => {
  it.each([
    ['on', true],
    ['off', false],
  ])('reads UPHOLD_RELAY=%s', (value, expected) => {
    expect(loadConfig({ UPHOLD_RELAY: value }).upholdRelay).toBe(expected);
  });

  it.each(['yes', 'ON', '1', 'true', ''])('refuses UPHOLD_RELAY=%j, naming it', (value) => {
    expect(() => loadConfig({ UPHOLD_RELAY: value })).toThrow(/UPHOLD_RELAY=.* must be on or off/);
  });

  it.each(['0', '65536', '80.5', 'http', '-1'])('refuses RELAY_PORT=%j, naming it', (value) => {
    expect(() => loadConfig({ RELAY_PORT: value })).toThrow(/RELAY_PORT=/);
  });

  it.each(['1', '8095', '65535'])('accepts RELAY_PORT=%s', (value) => {
    expect(loadConfig({ RELAY_PORT: value }).relayPort).toBe(Number(value));
  });
});

describe('the installation (PAIRWATCH_INSTANCE) and its relay port', () => {
  const url = (db: string, host = 'localhost:5432') => `postgres://postgres@${host}/${db}`;

  it('defaults to a label made from the database, the same for every replica of it', () => {
    const one = loadConfig({ DATABASE_URL: url('pairwatch') });
    expect(one.instance).toMatch(/^pairwatch-[0-9a-f]{6}$/);
    // Credentials and the host name's case do not make another installation.
    expect(loadConfig({ DATABASE_URL: 'postgres://other:secret@LOCALHOST:5432/pairwatch' }).instance).toBe(
      one.instance,
    );
  });

  it('tells apart two checkouts with two databases, or one name on two servers', () => {
    const a = loadConfig({ DATABASE_URL: url('pairwatch') }).instance;
    const b = loadConfig({ DATABASE_URL: url('pairwatch_dev') }).instance;
    const c = loadConfig({ DATABASE_URL: url('pairwatch', 'db2:5432') }).instance;
    expect(b).toMatch(/^pairwatch-dev-[0-9a-f]{6}$/);
    expect(new Set([a, b, c]).size).toBe(3);
  });

  it('makes a valid label of any database name', () => {
    const long = loadConfig({ DATABASE_URL: url('A_Very_Long_Database_Name_Indeed_1234567890') }).instance;
    expect(long).toMatch(/^[a-z0-9][a-z0-9-]{0,31}$/);
    expect(loadConfig({ DATABASE_URL: url('__') }).instance).toMatch(/^db-[0-9a-f]{6}$/);
  });

  it('keeps PAIRWATCH_INSTANCE when it is set', () => {
    expect(loadConfig({ PAIRWATCH_INSTANCE: 'dev' }).instance).toBe('dev');
  });

  it('gives the relay a port that follows the instance: 8095 for "default", another for another', () => {
    expect(loadConfig({ PAIRWATCH_INSTANCE: 'default' }).relayPort).toBe(8095);
    const ports = ['dev', 'ci', 'pairwatch-5c1e0a'].map(
      (i) => loadConfig({ PAIRWATCH_INSTANCE: i }).relayPort,
    );
    for (const port of ports) expect(port).toBeGreaterThan(8095);
    for (const port of ports) expect(port).toBeLessThanOrEqual(8095 + 900);
    expect(new Set(ports).size).toBe(3);
    // The same instance, the same port (two replicas of one installation share one relay).
    expect(loadConfig({ PAIRWATCH_INSTANCE: 'dev' }).relayPort).toBe(ports[0]);
  });

  it('lets RELAY_PORT override the port the instance gives', () => {
    expect(loadConfig({ PAIRWATCH_INSTANCE: 'dev', RELAY_PORT: '9000' }).relayPort).toBe(9000);
  });
});

describe('loadDownConfig', () => {
  it('stops one installation when PAIRWATCH_INSTANCE is set', () => {
    expect(loadDownConfig({ PAIRWATCH_INSTANCE: 'dev' })).toMatchObject({
      onlyInstance: 'dev',
      config: { instance: 'dev' },
    });
  });

  it.each([[{}], [{ PAIRWATCH_INSTANCE: '' }]])(
    "stops only this installation's workers for %j: the instance made from DATABASE_URL, as the API's",
    (env) => {
      const { onlyInstance } = loadDownConfig(env);
      expect(onlyInstance).toBe(loadConfig(env).instance);
      expect(onlyInstance).toMatch(/^pairwatch-[0-9a-f]{6}$/);
    },
  );

  it('stops every installation with --all', () => {
    expect(loadDownConfig({ PAIRWATCH_INSTANCE: 'dev' }, { all: true }).onlyInstance).toBeUndefined();
    expect(loadDownConfig({}, { all: true }).onlyInstance).toBeUndefined();
  });

  it('refuses a bad PAIRWATCH_INSTANCE, naming it', () => {
    expect(() => loadDownConfig({ PAIRWATCH_INSTANCE: 'Not An Instance' })).toThrow(/PAIRWATCH_INSTANCE=/);
  });
});
