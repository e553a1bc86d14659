import type { ClusterOptions, RedisOptions } from 'ioredis';

/**
 * How pairwatch's programs (the API, the workers, the relay) reach Redis, read from one set of variables
 * (docs/REDIS.md) and checked the same way by each: {@link parseRedisEnv} gives the settings or the problems,
 * each naming its variable; {@link toRedisEnv} is what the API hands the programs it starts;
 * {@link redisClientPlan} says which ioredis client to build, with which options, so each program's factory
 * only calls the constructor.
 */
export const REDIS_MODES = ['standalone', 'sentinel', 'cluster'] as const;
export type RedisMode = (typeof REDIS_MODES)[number];

export interface HostPort {
  host: string;
  port: number;
}

export interface RedisSettings {
  mode: RedisMode;
  /**
   * REDIS_URL. Standalone: the server. Sentinel: the master's credentials, database and TLS (`rediss://`); its
   * host is not used. Cluster: the nodes' credentials and TLS; no database (a cluster has database 0 only).
   */
  url: string;
  /** REDIS_SENTINELS (sentinel mode). */
  sentinels: HostPort[];
  /** REDIS_SENTINEL_NAME: the master's name as the sentinels know it. */
  sentinelName: string;
  /** REDIS_CLUSTER_NODES (cluster mode): some of the cluster's nodes; the rest is discovered. */
  clusterNodes: HostPort[];
  /** REDIS_WAIT_REPLICAS: replicas that must have an alert before a worker drops it from its queue (WAIT). */
  waitReplicas: number;
}

export const DEFAULT_REDIS_URL = 'redis://localhost:6379';
export const DEFAULT_SENTINEL_NAME = 'mymaster';
/** REDIS_WAIT_REPLICAS' upper bound: more replicas than a shard has would never confirm. */
export const MAX_WAIT_REPLICAS = 16;

/** The variables {@link parseRedisEnv} reads (REDIS_URL's name may differ: see its `urlVariable`). */
export const REDIS_ENV_VARIABLES = [
  'REDIS_MODE',
  'REDIS_URL',
  'REDIS_SENTINELS',
  'REDIS_SENTINEL_NAME',
  'REDIS_CLUSTER_NODES',
  'REDIS_WAIT_REPLICAS',
] as const;

/** The default of REDIS_WAIT_REPLICAS: 1 where there are replicas to wait for, 0 on a lone server. */
export function defaultWaitReplicas(mode: RedisMode): number {
  return mode === 'standalone' ? 0 : 1;
}

const HOST =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])$/;

/** `host:port` (an IPv6 address in brackets), or undefined. */
export function parseHostPort(text: string): HostPort | undefined {
  const match = /^(.+):(\d{1,5})$/.exec(text.trim());
  if (!match || !HOST.test(match[1])) return undefined;
  const port = Number(match[2]);
  if (port < 1 || port > 65535) return undefined;
  return { host: match[1].replace(/^\[(.*)\]$/, '$1'), port };
}

function formatHostPort({ host, port }: HostPort): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** A comma-separated list of host:port; the problem names the first bad entry (it holds no secret). */
function parseHostList(name: string, text: string | undefined, required: boolean): HostPort[] | string {
  const entries = (text ?? '')
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '');
  if (entries.length === 0) {
    return required ? `${name} must list at least one host:port` : [];
  }
  const out: HostPort[] = [];
  for (const entry of entries) {
    const parsed = parseHostPort(entry);
    if (!parsed)
      return `${name} must be a comma-separated list of host:port; ${JSON.stringify(entry)} is not`;
    out.push(parsed);
  }
  return out;
}

/** The URL as ioredis would read it, or undefined. */
function parseRedisUrl(text: string): URL | undefined {
  if (!/^rediss?:\/\/\S+$/.test(text)) return undefined;
  try {
    return new URL(text);
  } catch {
    return undefined;
  }
}

/** The database a URL names (`/2`), 0 when none; undefined when the path is not a database number. */
function urlDatabase(url: URL): number | undefined {
  const path = url.pathname.replace(/^\/+/, '');
  if (path === '') return 0;
  return /^\d{1,5}$/.test(path) ? Number(path) : undefined;
}

export type ParsedRedisEnv = { ok: true; settings: RedisSettings } | { ok: false; problems: string[] };

/**
 * Reads REDIS_MODE and its variables. Every problem names its variable and never echoes a URL (it may carry a
 * password). `urlVariable` is the name REDIS_URL goes by in this program (the API hands workers theirs as
 * REDIS_URL, from WORKER_REDIS_URL); `defaultUrl` applies when it is unset (undefined: it is required).
 */
export function parseRedisEnv(
  env: Record<string, string | undefined>,
  options: { urlVariable?: string; defaultUrl?: string } = {},
): ParsedRedisEnv {
  const urlVariable = options.urlVariable ?? 'REDIS_URL';
  const problems: string[] = [];
  const given = (name: string): string | undefined =>
    env[name] === undefined || env[name] === '' ? undefined : env[name];

  const modeText = given('REDIS_MODE') ?? 'standalone';
  const mode = (REDIS_MODES as readonly string[]).includes(modeText) ? (modeText as RedisMode) : undefined;
  if (!mode) problems.push(`REDIS_MODE must be one of ${REDIS_MODES.join(', ')}`);

  const urlText = given(urlVariable) ?? options.defaultUrl;
  let url: URL | undefined;
  if (urlText === undefined) {
    problems.push(`${urlVariable} is required`);
  } else {
    url = parseRedisUrl(urlText);
    if (!url) problems.push(`${urlVariable} must be a redis:// or rediss:// URL`);
    else if (urlDatabase(url) === undefined) {
      problems.push(`${urlVariable} must name a database by its number (/0 to /99999), or none`);
    } else if (mode === 'cluster' && url.pathname.replace(/^\/+/, '') !== '') {
      problems.push(
        `${urlVariable} must not name a database in cluster mode (a cluster has database 0 only)`,
      );
    }
  }

  const sentinels = parseHostList('REDIS_SENTINELS', given('REDIS_SENTINELS'), mode === 'sentinel');
  if (typeof sentinels === 'string') problems.push(sentinels);
  const clusterNodes = parseHostList('REDIS_CLUSTER_NODES', given('REDIS_CLUSTER_NODES'), mode === 'cluster');
  if (typeof clusterNodes === 'string') problems.push(clusterNodes);

  const sentinelName = given('REDIS_SENTINEL_NAME') ?? DEFAULT_SENTINEL_NAME;
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(sentinelName)) {
    problems.push('REDIS_SENTINEL_NAME must be 1 to 128 letters, digits, dots, dashes or underscores');
  }

  const waitText = given('REDIS_WAIT_REPLICAS');
  let waitReplicas = mode ? defaultWaitReplicas(mode) : 0;
  if (waitText !== undefined) {
    if (!/^\d{1,3}$/.test(waitText) || Number(waitText) > MAX_WAIT_REPLICAS) {
      problems.push(`REDIS_WAIT_REPLICAS must be a whole number from 0 to ${MAX_WAIT_REPLICAS}`);
    } else {
      waitReplicas = Number(waitText);
    }
  }

  if (
    problems.length > 0 ||
    !mode ||
    !urlText ||
    typeof sentinels === 'string' ||
    typeof clusterNodes === 'string'
  ) {
    return { ok: false, problems };
  }
  return {
    ok: true,
    settings: { mode, url: urlText, sentinels, sentinelName, clusterNodes, waitReplicas },
  };
}

/**
 * The inverse of {@link parseRedisEnv}: the variables a program started by the API gets. REDIS_URL always; the
 * rest only when they differ from the defaults, so a worker of a standalone installation keeps the
 * environment (and the spec hash) it had before the modes existed.
 */
export function toRedisEnv(settings: RedisSettings): Record<string, string> {
  const env: Record<string, string> = { REDIS_URL: settings.url };
  if (settings.mode !== 'standalone') env.REDIS_MODE = settings.mode;
  if (settings.mode === 'sentinel') {
    env.REDIS_SENTINELS = settings.sentinels.map(formatHostPort).join(',');
    env.REDIS_SENTINEL_NAME = settings.sentinelName;
  }
  if (settings.mode === 'cluster')
    env.REDIS_CLUSTER_NODES = settings.clusterNodes.map(formatHostPort).join(',');
  if (settings.waitReplicas !== defaultWaitReplicas(settings.mode)) {
    env.REDIS_WAIT_REPLICAS = String(settings.waitReplicas);
  }
  return env;
}

/** Which ioredis client a program builds: `new Redis(url, options)`, `new Redis(options)` or `new Cluster(nodes, options)`. */
export type RedisClientPlan =
  | { kind: 'redis'; url: string | undefined; options: RedisOptions }
  | { kind: 'cluster'; nodes: HostPort[]; options: ClusterOptions };

/**
 * After a failover the old master may still answer, now as a replica: a write it refuses (READONLY) means
 * "reconnect and ask the sentinels again", and the command is sent again on the new master.
 */
function reconnectOnReadonly(error: Error): 2 | false {
  return error.message.startsWith('READONLY') ? 2 : false;
}

/**
 * The client for `settings`, with `connection` (the program's own timeouts, retries, name) applied to every
 * connection it makes: to the server, to the master a sentinel names, or to each node of a cluster.
 */
export function redisClientPlan(settings: RedisSettings, connection: RedisOptions): RedisClientPlan {
  if (settings.mode === 'standalone') return { kind: 'redis', url: settings.url, options: connection };
  const url = new URL(settings.url);
  const credentials: RedisOptions = {
    username: url.username ? decodeURIComponent(url.username) : undefined,
    password: url.password ? decodeURIComponent(url.password) : undefined,
    tls: url.protocol === 'rediss:' ? {} : undefined,
  };
  if (settings.mode === 'sentinel') {
    return {
      kind: 'redis',
      url: undefined,
      options: {
        ...connection,
        ...credentials,
        db: urlDatabase(url) ?? 0,
        sentinels: settings.sentinels,
        name: settings.sentinelName,
        enableTLSForSentinelMode: url.protocol === 'rediss:',
        // Told of a +switch-master by the sentinels, the client moves to the new master at once.
        failoverDetector: true,
        reconnectOnError: reconnectOnReadonly,
        sentinelRetryStrategy: (times: number) => Math.min(times * 200, 2000),
      },
    };
  }
  // The cluster client keeps its own queue and retries; each node's connection gets the rest.
  const nodeOptions: RedisOptions = { ...connection };
  delete nodeOptions.retryStrategy;
  delete nodeOptions.enableOfflineQueue;
  delete nodeOptions.enableAutoPipelining;
  return {
    kind: 'cluster',
    nodes: settings.clusterNodes,
    options: {
      redisOptions: { ...nodeOptions, ...credentials },
      enableOfflineQueue: connection.enableOfflineQueue ?? true,
      // Commands of one tick go out as one pipeline per node (never one pipeline across nodes).
      enableAutoPipelining: connection.enableAutoPipelining,
      // Writes go to masters only; nothing is read from a replica.
      scaleReads: 'master',
      clusterRetryStrategy: (times: number) => Math.min(times * 200, 2000),
      retryDelayOnFailover: 200,
      retryDelayOnClusterDown: 300,
      maxRedirections: 8,
      slotsRefreshTimeout: 2000,
      // Slots are asked again now and then, so a promotion is seen even by a client that is not redirected.
      slotsRefreshInterval: 5000,
      // TLS to nodes named by address (ElastiCache's configuration endpoint): no second DNS look-up.
      ...(url.protocol === 'rediss:'
        ? {
            dnsLookup: (address: string, callback: (error: null, address: string) => void) =>
              callback(null, address),
          }
        : {}),
    },
  };
}

/** The settings of one standalone server at `url` (tests, benchmarks and tools). */
export function standaloneRedis(url: string, waitReplicas = 0): RedisSettings {
  return {
    mode: 'standalone',
    url,
    sentinels: [],
    sentinelName: DEFAULT_SENTINEL_NAME,
    clusterNodes: [],
    waitReplicas,
  };
}
