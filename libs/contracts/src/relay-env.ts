import { z } from 'zod';
import { parseRedisEnv, RedisSettings, toRedisEnv } from './redis-settings';
import { intFromEnv, parseEnvWith, WorkerConfigError } from './worker-env';

/**
 * The relay: the installation's one door to Uphold. Workers (and the API's pair checks) ask it instead of
 * Uphold, in Uphold's own ticker format; it serves pairs from currency lists, coalesces, caches and keeps
 * every upstream request under one budget.
 */
export const RELAY_DEFAULT_PORT = 8095;

/** The header a worker sends with each ticker request: its interval, so the relay knows how old a price may be. */
export const RELAY_INTERVAL_HEADER = 'x-pairwatch-interval-ms';
/** The header the relay answers with: which upstream request served the pair (`list:USD` or `pair:BTC-USD`). */
export const RELAY_SOURCE_HEADER = 'x-pairwatch-source';

/** Everything the relay process reads from its environment. */
export interface RelaySettings {
  host: string;
  port: number;
  /** Uphold itself (or a stand-in). */
  upholdApiUrl: string;
  /** Upstream requests allowed in any 60 s window (Uphold allows 250 per client IP). */
  rateLimitPerMin: number;
  requestTimeoutMs: number;
  logLevel: string;
  /**
   * Redis as the workers reach it (REDIS_MODE, REDIS_URL…), handed to the relay like to every program the API
   * starts and checked at its start; the relay does not connect to Redis today. Absent when REDIS_URL is unset.
   */
  redis?: RedisSettings;
}

const relayEnvSchema = z.object({
  RELAY_HOST: z
    .string()
    .regex(/^[0-9a-fA-F.:]{2,45}$|^localhost$/, 'must be an IP address to listen on (or localhost)')
    .default('127.0.0.1'),
  RELAY_PORT: intFromEnv(1, 65535).default(String(RELAY_DEFAULT_PORT)),
  UPHOLD_API_URL: z
    .string()
    .url('must be a URL')
    .refine((v) => /^https?:\/\//.test(v), 'must be an http(s) URL'),
  UPHOLD_RATE_LIMIT_PER_MIN: intFromEnv(1, 100_000).default('250'),
  REQUEST_TIMEOUT_MS: intFromEnv(100, 60_000).default('5000'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info'),
});

/** Reads and checks the relay's environment; throws WorkerConfigError naming every bad or missing variable. */
export function parseRelayEnv(env: Record<string, string | undefined>): RelaySettings {
  const redis = env.REDIS_URL === undefined && env.REDIS_MODE === undefined ? undefined : parseRedisEnv(env);
  let e: ReturnType<typeof relayEnvSchema.parse>;
  try {
    e = parseEnvWith(relayEnvSchema, env, 'relay');
  } catch (error) {
    if (error instanceof WorkerConfigError && redis && !redis.ok) {
      throw new WorkerConfigError([...error.problems, ...redis.problems], 'relay');
    }
    throw error;
  }
  if (redis && !redis.ok) throw new WorkerConfigError(redis.problems, 'relay');
  return {
    ...(redis ? { redis: redis.settings } : {}),
    host: e.RELAY_HOST,
    port: e.RELAY_PORT,
    upholdApiUrl: e.UPHOLD_API_URL.replace(/\/+$/, ''),
    rateLimitPerMin: e.UPHOLD_RATE_LIMIT_PER_MIN,
    requestTimeoutMs: e.REQUEST_TIMEOUT_MS,
    logLevel: e.LOG_LEVEL,
  };
}

/** The inverse of {@link parseRelayEnv}: what the API hands the relay it starts. */
export function toRelayEnv(settings: RelaySettings): Record<string, string> {
  return {
    ...(settings.redis ? toRedisEnv(settings.redis) : {}),
    RELAY_HOST: settings.host,
    RELAY_PORT: String(settings.port),
    UPHOLD_API_URL: settings.upholdApiUrl,
    UPHOLD_RATE_LIMIT_PER_MIN: String(settings.rateLimitPerMin),
    REQUEST_TIMEOUT_MS: String(settings.requestTimeoutMs),
    LOG_LEVEL: settings.logLevel,
  };
}
