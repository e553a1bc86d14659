import {
  DEFAULT_PRICE_HISTORY_MS,
  DEFAULT_REDIS_URL,
  parseRedisEnv,
  PRICE_HISTORY_LIMITS,
  RedisSettings,
} from '@pairwatch/contracts';
import { plainToInstance, Transform } from 'class-transformer';
import {
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  Matches,
  Max,
  Min,
  MinLength,
  ValidateBy,
  validateSync,
} from 'class-validator';
import * as ipaddr from 'ipaddr.js';
import { DEFAULT_RETRY_SCHEDULE, parseDuration, parseRetrySchedule } from './durations';
import { normalizeHostPort } from './host-port';
import { defaultInstance, defaultRelayPort, INSTANCE_PATTERN } from './instance';
import { parseSecretsKey } from './secrets-key';

export const WORKER_RUNTIMES = ['docker', 'swarm', 'process'] as const;
export type WorkerRuntimeKind = (typeof WORKER_RUNTIMES)[number];
export const ON_OFF = ['on', 'off'] as const;
export const TRUE_FALSE = ['true', 'false'] as const;
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

// A negative number is read as one, so that its bound names what is wrong (MONITOR_CREATE_LIMIT_PER_MIN=-1 must
// not be less than 1), not its type.
const toInt = ({ value }: { value: unknown }) =>
  typeof value === 'string' && /^-?\d+$/.test(value) ? Number(value) : value;
const emptyToUndefined = ({ value }: { value: unknown }) => (value === '' ? undefined : value);

/** A variable checked by a parser of its own (which gives undefined for a bad value). */
const ParsedBy = (parse: (text: string) => unknown, message: string) =>
  ValidateBy({
    name: 'parsedBy',
    validator: {
      validate: (value: unknown) => typeof value === 'string' && parse(value) !== undefined,
      defaultMessage: () => message,
    },
  });

const parseAllowedHosts = (text: string): string[] | undefined => {
  const entries = text
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '');
  return entries.every((e) => normalizeHostPort(e) !== undefined) ? entries : undefined;
};

/** The process environment as pairwatch's API reads it; every variable is checked once, at start. */
class EnvironmentVariables {
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(65535)
  PORT: number = 3000;

  /** The address the API listens on; anything but loopback needs API_KEY (or ALLOW_NO_AUTH=true). */
  @Matches(/^(localhost|[0-9.]{7,15}|[0-9a-fA-F:.]{2,45}|[a-zA-Z0-9]([a-zA-Z0-9.-]{0,251}[a-zA-Z0-9])?)$/, {
    message: 'must be an IP address or a host name, e.g. 127.0.0.1, 0.0.0.0 or ::',
  })
  HOST = '127.0.0.1';

  /** true: listen on a non-loopback HOST without API_KEY, on purpose. */
  @IsIn(TRUE_FALSE, { message: 'must be true or false' })
  ALLOW_NO_AUTH: (typeof TRUE_FALSE)[number] = 'false';

  @Matches(/^postgres(ql)?:\/\/\S+$/, { message: 'must be a postgres:// URL' })
  DATABASE_URL = 'postgres://postgres@localhost:5432/pairwatch';

  /**
   * A streaming replica of DATABASE_URL (docs/STORAGE.md): history pages, candles, statistics and backtests
   * read there while its replay lag is under READ_MAX_LAG_MS. Unset: every read goes to DATABASE_URL.
   */
  @Transform(emptyToUndefined)
  @IsOptional()
  @Matches(/^postgres(ql)?:\/\/\S+$/, { message: 'must be a postgres:// URL' })
  DATABASE_READ_URL?: string;

  /** The replay lag past which the replica's reads go to the primary instead, in milliseconds. */
  @Transform(toInt)
  @IsInt()
  @Min(100)
  @Max(3_600_000)
  READ_MAX_LAG_MS: number = 5000;

  /**
   * Redis (docs/REDIS.md): REDIS_MODE standalone (REDIS_URL), sentinel (REDIS_SENTINELS, REDIS_SENTINEL_NAME;
   * REDIS_URL for credentials, database, TLS) or cluster (REDIS_CLUSTER_NODES; REDIS_URL for credentials, TLS);
   * REDIS_WAIT_REPLICAS for the workers. Checked together by libs/contracts parseRedisEnv (see loadConfig).
   */
  @IsString()
  REDIS_URL = DEFAULT_REDIS_URL;

  /** Redis as workers and the relay reach it: REDIS_URL's credentials and address for them. */
  @Transform(emptyToUndefined)
  @IsOptional()
  @IsString()
  WORKER_REDIS_URL?: string;

  @IsString()
  REDIS_MODE = 'standalone';

  @IsOptional()
  @IsString()
  REDIS_SENTINELS?: string;

  @IsOptional()
  @IsString()
  REDIS_SENTINEL_NAME?: string;

  @IsOptional()
  @IsString()
  REDIS_CLUSTER_NODES?: string;

  @IsOptional()
  @IsString()
  REDIS_WAIT_REPLICAS?: string;

  @Matches(/^https?:\/\/[^\s/]+(\/\S*)?$/, { message: 'must be an http(s) URL' })
  UPHOLD_API_URL = 'https://api.uphold.com';

  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(100_000)
  UPHOLD_RATE_LIMIT_PER_MIN: number = 250;

  /** on: workers and the API's pair checks go through the relay, the installation's one door to Uphold. */
  @IsIn(ON_OFF, { message: 'must be on or off' })
  UPHOLD_RELAY: (typeof ON_OFF)[number] = 'on';

  /** The port the relay listens on (and, on swarm, is published at). */
  @Transform(toInt)
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(65535)
  RELAY_PORT?: number;

  /** POST /monitors and POST /monitors/:id/restart one client may make per minute (per API process). */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(1_000_000)
  MONITOR_CREATE_LIMIT_PER_MIN: number = 30;

  @IsIn(WORKER_RUNTIMES)
  WORKER_RUNTIME: WorkerRuntimeKind = 'docker';

  @Matches(/^[a-z0-9][a-z0-9._\-/:@]{0,254}$/, { message: 'must be a Docker image reference' })
  WORKER_IMAGE = 'pairwatch-worker:latest';

  @Transform(emptyToUndefined)
  @IsOptional()
  @Matches(/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/, { message: 'must be a Docker network name' })
  WORKER_NETWORK?: string;

  /** WORKER_RUNTIME=process: the bundled worker program to run (default dist/worker/main.js). */
  @Transform(emptyToUndefined)
  @IsOptional()
  @Matches(/^[^\0\n]+\.[cm]?js$/, {
    message: 'must be the path of a JavaScript file (a build of the worker)',
  })
  WORKER_SCRIPT?: string;

  @Transform(emptyToUndefined)
  @IsOptional()
  @IsString()
  @MinLength(16, { message: 'must be at least 16 characters when set' })
  API_KEY?: string;

  /** Read-only access: GET calls, the alert stream and /metrics; any other call with it is 403. */
  @Transform(emptyToUndefined)
  @IsOptional()
  @IsString()
  @MinLength(16, { message: 'must be at least 16 characters when set' })
  API_READ_KEY?: string;

  /** 32 bytes (base64 or hex) that seal the secrets kept in Postgres (AES-256-GCM); the API needs one. */
  @Transform(emptyToUndefined)
  @IsOptional()
  @ParsedBy(
    parseSecretsKey,
    'must be 32 bytes as base64 (44 characters) or hex (64), e.g. `openssl rand -base64 32`',
  )
  SECRETS_KEY?: string;

  /** The key before a rotation: secrets it sealed still open, and are sealed again under SECRETS_KEY when touched. */
  @Transform(emptyToUndefined)
  @IsOptional()
  @ParsedBy(parseSecretsKey, 'must be 32 bytes as base64 (44 characters) or hex (64)')
  SECRETS_KEY_PREVIOUS?: string;

  /** How often the API compares running workers with active monitors. */
  @Transform(toInt)
  @IsInt()
  @Min(1000)
  @Max(3_600_000)
  RECONCILE_INTERVAL_MS: number = 15_000;

  /** A worker that dies more than this many times within CRASH_LOOP_WINDOW_MS fails its monitor. */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(100)
  CRASH_LOOP_MAX_DEATHS: number = 5;

  @Transform(toInt)
  @IsInt()
  @Min(1000)
  @Max(86_400_000)
  CRASH_LOOP_WINDOW_MS: number = 600_000;

  @Transform(toInt)
  @IsInt()
  @Min(32)
  @Max(65_536)
  WORKER_MEMORY_MB: number = 128;

  /** CPU share of one worker, in thousandths of a CPU. */
  @Transform(toInt)
  @IsInt()
  @Min(10)
  @Max(64_000)
  WORKER_MILLICPUS: number = 250;

  @Transform(toInt)
  @IsInt()
  @Min(8)
  @Max(4096)
  WORKER_PIDS: number = 64;

  /**
   * Tells apart the workers of two pairwatch installations sharing one engine (e.g. tests and a dev API); by
   * default made from DATABASE_URL's database (defaultInstance).
   */
  @Transform(emptyToUndefined)
  @IsOptional()
  @Matches(INSTANCE_PATTERN, { message: 'must be 1 to 32 lower-case letters, digits or dashes' })
  PAIRWATCH_INSTANCE?: string;

  /** The older name of CHANNEL_ALLOWED_HOSTS, still read: the two lists are joined, for webhooks and channels. */
  @ParsedBy(parseAllowedHosts, 'must be a comma-separated list of host:port, e.g. 127.0.0.1:8080,[::1]:9000')
  WEBHOOK_ALLOWED_HOSTS = '';

  /** host:port targets channels may reach although they are internal; WEBHOOK_ALLOWED_HOSTS is read too. */
  @ParsedBy(parseAllowedHosts, 'must be a comma-separated list of host:port, e.g. 127.0.0.1:8080,[::1]:9000')
  CHANNEL_ALLOWED_HOSTS = '';

  /**
   * The installation's SMTP server for email channels: smtp://user:pass@host:587 (STARTTLS when offered) or
   * smtps://…:465 (TLS). Unset: email channels are refused (422 at create) and their deliveries fail.
   */
  @Transform(emptyToUndefined)
  @IsOptional()
  @Matches(/^smtps?:\/\/[^\s]+$/, { message: 'must be an smtp:// or smtps:// URL' })
  SMTP_URL?: string;

  /** The sender of email channels' messages. */
  @Matches(/^[^\r\n]{3,254}$/, { message: 'must be an address, e.g. pairwatch <alerts@example.com>' })
  SMTP_FROM = 'pairwatch <pairwatch@localhost>';

  /** Telegram's Bot API (tests point it at a local stand-in). */
  @Matches(/^https?:\/\/[^\s/]+(:\d+)?\/?$/, {
    message: 'must be an http(s) base URL, e.g. https://api.telegram.org',
  })
  TELEGRAM_API_URL = 'https://api.telegram.org';

  /** The waits between a delivery's attempts. */
  @ParsedBy(
    parseRetrySchedule,
    'must be comma-separated durations such as 5s,5m,30m,2h (units ms, s, m, h, d)',
  )
  WEBHOOK_RETRY_SCHEDULE = DEFAULT_RETRY_SCHEDULE;

  /** How long finished deliveries are kept in the log. */
  @ParsedBy(parseDuration, 'must be a duration such as 30d or 12h (units ms, s, m, h, d)')
  WEBHOOK_RETENTION = '30d';

  /**
   * How long a delivery taken by a dispatcher stays its own: one whose API died mid-send is due again after this.
   * At least 30 s: over twice the 10 s send timeout, so a delivery that waited for a slot is still sent under it.
   */
  @Transform(toInt)
  @IsInt()
  @Min(30_000)
  @Max(3_600_000)
  WEBHOOK_LEASE_MS: number = 60_000;

  /** GET /alerts/stream: how often an open stream gets a comment line (keeps proxies from closing it). */
  @Transform(toInt)
  @IsInt()
  @Min(100)
  @Max(3_600_000)
  SSE_HEARTBEAT_MS: number = 15_000;

  /** GET /alerts/stream: streams open at once on this API process; 503 past it. */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(100_000)
  SSE_MAX_CLIENTS: number = 1000;

  /** GET /alerts/stream: bytes one stream may have waiting to be sent; a client past it is disconnected. */
  @Transform(toInt)
  @IsInt()
  @Min(4096)
  @Max(1_073_741_824)
  SSE_CLIENT_BUFFER_BYTES: number = 1_048_576;

  /** How much of each worker's tick history its price stream keeps (GET /monitors/:id/prices). */
  @Transform(toInt)
  @IsInt()
  @Min(PRICE_HISTORY_LIMITS.min)
  @Max(PRICE_HISTORY_LIMITS.max)
  PRICE_HISTORY_MS: number = DEFAULT_PRICE_HISTORY_MS;

  /** on: the API archives every tick event in price_ticks (and its candles); off: the ticks stream is left unread. */
  @IsIn(ON_OFF, { message: 'must be on or off' })
  TICK_ARCHIVE: (typeof ON_OFF)[number] = 'on';

  /** Days of archived ticks kept: older day partitions of price_ticks are dropped. */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(3650)
  TICK_RETENTION_DAYS: number = 30;

  @IsIn(LOG_LEVELS)
  LOG_LEVEL: (typeof LOG_LEVELS)[number] = 'info';
}

/** Resource limits of a worker, the same on every runtime that can enforce them. */
export interface WorkerLimits {
  memoryBytes: number;
  nanoCpus: number;
  pids: number;
  /** How often the runtime itself may restart a dying worker before giving up. */
  maxRestarts: number;
}

export interface AppConfig {
  port: number;
  /** HOST: the address the API listens on (127.0.0.1 unless set). */
  host: string;
  /** ALLOW_NO_AUTH=true: a non-loopback HOST without API_KEY is wanted. */
  allowNoAuth: boolean;
  databaseUrl: string;
  /** DATABASE_READ_URL and READ_MAX_LAG_MS: where the reads that may lag go, and how far behind they may be. */
  readReplica: { url: string; maxLagMs: number } | undefined;
  redisUrl: string;
  workerRedisUrl: string;
  /** Redis as the API reaches it (REDIS_MODE and its variables, REDIS_URL). */
  redis: RedisSettings;
  /** The same for workers and the relay: WORKER_REDIS_URL in place of REDIS_URL when it is set. */
  workerRedis: RedisSettings;
  upholdApiUrl: string;
  upholdRateLimitPerMin: number;
  /** UPHOLD_RELAY=on: the API keeps one relay running and points workers and its pair checks at it. */
  upholdRelay: boolean;
  relayPort: number;
  monitorCreateLimitPerMin: number;
  workerRuntime: WorkerRuntimeKind;
  workerImage: string;
  workerNetwork: string | undefined;
  /** WORKER_RUNTIME=process: the worker program; undefined for the build's own (dist/worker/main.js). */
  workerScript: string | undefined;
  /** The API's PATH, handed on to process workers (their only variable that is not their own). */
  hostPath: string | undefined;
  apiKey: string | undefined;
  /** API_READ_KEY: lets GET calls, the stream and /metrics through; nothing else. */
  apiReadKey: string | undefined;
  logLevel: (typeof LOG_LEVELS)[number];
  instance: string;
  reconcileIntervalMs: number;
  crashLoop: { maxDeaths: number; windowMs: number };
  workerLimits: WorkerLimits;
  /** PRICE_HISTORY_MS: the tick history each worker keeps, handed to workers and served by the prices endpoint. */
  priceHistoryMs: number;
  webhooks: WebhookSettings;
  /** The channel types that are not HTTP webhooks. */
  channels: { smtpUrl: string | undefined; smtpFrom: string; telegramApiUrl: string };
  stream: StreamSettings;
  /** SECRETS_KEY and SECRETS_KEY_PREVIOUS, 32 bytes each; the API refuses to start without `key`. */
  secrets: { key: Buffer | undefined; previousKey: Buffer | undefined };
  archive: ArchiveSettings;
}

/** The tick archive (docs/STORAGE.md). */
export interface ArchiveSettings {
  /** TICK_ARCHIVE=on: the ticks stream is read into price_ticks. */
  enabled: boolean;
  /** TICK_RETENTION_DAYS: whole UTC days of ticks kept before their partition is dropped. */
  retentionDays: number;
}

/** GET /alerts/stream's limits, per API process. */
export interface StreamSettings {
  heartbeatMs: number;
  maxClients: number;
  /** Bytes a client may have waiting (written but not sent, or held while its replay runs). */
  clientBufferBytes: number;
}

export interface WebhookSettings {
  /** host:port entries let through the internal-address checks. */
  allowedHosts: string[];
  /** Waits before the 2nd, 3rd… attempt, in milliseconds; a delivery fails after the last. */
  retryScheduleMs: number[];
  retentionMs: number;
  /** A taken delivery is due again after this if its dispatcher died (WEBHOOK_LEASE_MS). */
  leaseMs: number;
}

/** Injection token for the validated configuration. */
export const APP_CONFIG = Symbol('APP_CONFIG');

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** Variables whose values are never printed, not even when they are wrong. */
const SECRET_VARIABLES = new Set(['API_KEY', 'API_READ_KEY', 'SECRETS_KEY', 'SECRETS_KEY_PREVIOUS']);

/** Whether HOST names this machine's loopback only (127.0.0.0/8, ::1, localhost). */
export function isLoopbackHost(host: string): boolean {
  if (host.toLowerCase() === 'localhost') return true;
  if (!ipaddr.isValid(host)) return false;
  const address = ipaddr.process(host);
  return address.range() === 'loopback';
}

/** A bad value as start-up may print it: secrets masked, credentials cut out of URLs. */
function printable(name: string, value: unknown): unknown {
  if (SECRET_VARIABLES.has(name)) return '***';
  return typeof value === 'string' ? value.replace(/\/\/[^/@\s]*@/, '//***@') : value;
}

/**
 * Reads and validates the environment. Throws a ConfigError naming every bad variable, so a bad
 * value stops start-up with a message instead of failing later.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  const known = Object.keys(new EnvironmentVariables());
  const raw = Object.fromEntries(
    [
      'WORKER_REDIS_URL',
      'WORKER_NETWORK',
      'WORKER_SCRIPT',
      'API_KEY',
      'API_READ_KEY',
      'REDIS_SENTINELS',
      'REDIS_SENTINEL_NAME',
      'REDIS_CLUSTER_NODES',
      'REDIS_WAIT_REPLICAS',
      'SECRETS_KEY',
      'SECRETS_KEY_PREVIOUS',
      ...known,
    ]
      .filter((name) => env[name] !== undefined)
      .map((name) => [name, env[name]]),
  );
  const vars = plainToInstance(EnvironmentVariables, raw);
  const errors = validateSync(vars, { skipMissingProperties: false });
  const problems = errors.map((e) => {
    const constraints = e.constraints ?? {};
    // Text that is no number breaks its bounds too; "PORT must not be greater than 65535" would only confuse.
    const messages = 'isInt' in constraints ? [constraints.isInt] : Object.values(constraints);
    return `${e.property}=${JSON.stringify(printable(e.property, e.value))} ${messages.join(', ')}`;
  });
  const redisEnv = { ...raw, REDIS_URL: vars.REDIS_URL } as Record<string, string | undefined>;
  // "NAME must …" as the other problems read: NAME=value must …, or NAME (not set) must … for a missing one.
  const named = (problem: string) => {
    const name = problem.split(' ', 1)[0];
    const value = redisEnv[name];
    const shown = value === undefined ? ' (not set)' : `=${JSON.stringify(printable(name, value))}`;
    return `${name}${shown}${problem.slice(name.length)}`;
  };
  const redis = parseRedisEnv(redisEnv);
  if (!redis.ok) problems.push(...redis.problems.map(named));
  const workerRedis = vars.WORKER_REDIS_URL
    ? parseRedisEnv(redisEnv, { urlVariable: 'WORKER_REDIS_URL' })
    : redis;
  if (!workerRedis.ok && workerRedis !== redis) {
    problems.push(...workerRedis.problems.filter((p) => p.startsWith('WORKER_REDIS_URL')).map(named));
  }
  if (problems.length > 0 || !redis.ok || !workerRedis.ok) {
    throw new ConfigError(`invalid configuration: ${problems.join('; ')}`);
  }
  if (vars.API_READ_KEY !== undefined && vars.API_KEY === undefined)
    throw new ConfigError(
      'invalid configuration: API_READ_KEY is set without API_KEY (with no API_KEY every call is open, so a read-only key would limit nothing): set API_KEY too',
    );
  if (vars.API_READ_KEY !== undefined && vars.API_READ_KEY === vars.API_KEY)
    throw new ConfigError('invalid configuration: API_READ_KEY must differ from API_KEY');
  if (!isLoopbackHost(vars.HOST) && vars.API_KEY === undefined && vars.ALLOW_NO_AUTH !== 'true')
    throw new ConfigError(
      `refusing to listen on HOST=${vars.HOST} without API_KEY: anyone who reaches the port could start containers ` +
        'and register channels. Set API_KEY (16+ characters, e.g. `openssl rand -hex 24`), listen on 127.0.0.1, ' +
        'or set ALLOW_NO_AUTH=true to run open on purpose',
    );
  const instance = vars.PAIRWATCH_INSTANCE ?? defaultInstance(vars.DATABASE_URL);
  return {
    port: vars.PORT,
    host: vars.HOST,
    allowNoAuth: vars.ALLOW_NO_AUTH === 'true',
    databaseUrl: vars.DATABASE_URL,
    readReplica:
      vars.DATABASE_READ_URL === undefined
        ? undefined
        : { url: vars.DATABASE_READ_URL, maxLagMs: vars.READ_MAX_LAG_MS },
    redisUrl: vars.REDIS_URL,
    workerRedisUrl: vars.WORKER_REDIS_URL ?? vars.REDIS_URL,
    redis: redis.settings,
    workerRedis: workerRedis.settings,
    upholdApiUrl: vars.UPHOLD_API_URL.replace(/\/+$/, ''),
    upholdRateLimitPerMin: vars.UPHOLD_RATE_LIMIT_PER_MIN,
    upholdRelay: vars.UPHOLD_RELAY === 'on',
    relayPort: vars.RELAY_PORT ?? defaultRelayPort(instance),
    monitorCreateLimitPerMin: vars.MONITOR_CREATE_LIMIT_PER_MIN,
    workerRuntime: vars.WORKER_RUNTIME,
    workerImage: vars.WORKER_IMAGE,
    workerNetwork: vars.WORKER_NETWORK,
    workerScript: vars.WORKER_SCRIPT,
    hostPath: env.PATH,
    apiKey: vars.API_KEY,
    apiReadKey: vars.API_READ_KEY,
    logLevel: vars.LOG_LEVEL,
    instance,
    reconcileIntervalMs: vars.RECONCILE_INTERVAL_MS,
    crashLoop: { maxDeaths: vars.CRASH_LOOP_MAX_DEATHS, windowMs: vars.CRASH_LOOP_WINDOW_MS },
    workerLimits: {
      memoryBytes: vars.WORKER_MEMORY_MB * 1024 * 1024,
      nanoCpus: vars.WORKER_MILLICPUS * 1_000_000,
      pids: vars.WORKER_PIDS,
      // The runtime's own restarts stop where the crash-loop rule would fail the monitor anyway.
      maxRestarts: vars.CRASH_LOOP_MAX_DEATHS,
    },
    priceHistoryMs: vars.PRICE_HISTORY_MS,
    webhooks: {
      allowedHosts: [
        ...(parseAllowedHosts(vars.CHANNEL_ALLOWED_HOSTS) ?? []),
        ...(parseAllowedHosts(vars.WEBHOOK_ALLOWED_HOSTS) ?? []),
      ],
      retryScheduleMs: parseRetrySchedule(vars.WEBHOOK_RETRY_SCHEDULE) ?? [],
      retentionMs: parseDuration(vars.WEBHOOK_RETENTION) ?? 0,
      leaseMs: vars.WEBHOOK_LEASE_MS,
    },
    channels: {
      smtpUrl: vars.SMTP_URL,
      smtpFrom: vars.SMTP_FROM,
      telegramApiUrl: vars.TELEGRAM_API_URL.replace(/\/$/, ''),
    },
    secrets: {
      key: vars.SECRETS_KEY === undefined ? undefined : parseSecretsKey(vars.SECRETS_KEY),
      previousKey:
        vars.SECRETS_KEY_PREVIOUS === undefined ? undefined : parseSecretsKey(vars.SECRETS_KEY_PREVIOUS),
    },
    stream: {
      heartbeatMs: vars.SSE_HEARTBEAT_MS,
      maxClients: vars.SSE_MAX_CLIENTS,
      clientBufferBytes: vars.SSE_CLIENT_BUFFER_BYTES,
    },
    archive: { enabled: vars.TICK_ARCHIVE === 'on', retentionDays: vars.TICK_RETENTION_DAYS },
  };
}

/**
 * What `npm run down` reads: the configuration, and the one installation whose workers it stops — this one's
 * (PAIRWATCH_INSTANCE, or the one made from DATABASE_URL, as the API has it), or every installation's
 * (undefined) with `--all`.
 */
export function loadDownConfig(
  env: NodeJS.ProcessEnv = process.env,
  options: { all: boolean } = { all: false },
): {
  config: AppConfig;
  onlyInstance: string | undefined;
} {
  const config = loadConfig(env);
  return { config, onlyInstance: options.all ? undefined : config.instance };
}
