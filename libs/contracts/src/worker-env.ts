import { z } from 'zod';
import { DECIMAL_PATTERN } from './decimal';
import { DIRECTIONS, MONITOR_LIMITS, PRICE_FIELDS } from './monitor-config';
import { isLegacyMoveRule, legacyMoveRule, Rule, storedRulesSchema } from './rules';
import { describeIssues } from './schema-issues';
import { PAIR_PATTERN } from './pair';
import { parseRedisEnv, RedisSettings, toRedisEnv } from './redis-settings';
import { DEFAULT_PRICE_HISTORY_MS, PRICE_HISTORY_LIMITS } from './worker-prices';

/** What a worker needs to watch one pair; built by the API from a validated monitor. */
export interface MonitorConfig {
  monitorId: string;
  pair: string;
  intervalMs: number;
  /** 1 to 10 rules, ids assigned (rules.ts). */
  rules: Rule[];
}

/** Everything a worker process reads from its environment. */
export interface WorkerSettings extends MonitorConfig {
  upholdApiUrl: string;
  /** REDIS_MODE, REDIS_URL and the mode's variables (redis-settings.ts). */
  redis: RedisSettings;
  /** Per-request timeout towards the ticker. */
  requestTimeoutMs: number;
  /** TTL of the worker's state key; a worker silent for longer shows as stale. */
  stateTtlMs: number;
  /**
   * How many alerts the worker keeps in memory while Redis is unreachable; past it the oldest is dropped,
   * with a counted warning.
   */
  maxPendingAlerts: number;
  /** How much tick history the worker's price stream keeps (its cap is this over the interval). */
  priceHistoryMs: number;
  logLevel: string;
}

/** Default of MAX_PENDING_ALERTS: 10 000 events are a few megabytes, well within a worker's memory. */
export const DEFAULT_MAX_PENDING_ALERTS = 10_000;
/** Upper bound of MAX_PENDING_ALERTS, so that the queue stays far below a worker's 128 MB. */
export const MAX_MAX_PENDING_ALERTS = 100_000;

/** The TTL of a worker's state key when STATE_TTL_MS is not given: three missed ticks, and at least 15 s. */
export const defaultStateTtlMs = (intervalMs: number): number => Math.max(15_000, intervalMs * 3);

/** An environment variable holding a whole number from `min` to `max`. */
export const intFromEnv = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));

const workerEnvSchema = z.object({
  MONITOR_ID: z.string().uuid(),
  PAIR: z.string().regex(PAIR_PATTERN, 'must be two currency codes joined by a dash, e.g. BTC-USD'),
  INTERVAL_MS: intFromEnv(MONITOR_LIMITS.intervalMs.min, MONITOR_LIMITS.intervalMs.max),
  /** The rules as JSON (rules.ts, storedRulesSchema); without it, the variables below make one `move` rule. */
  RULES: z
    .string()
    .transform((text, ctx): Rule[] => {
      let raw: unknown;
      try {
        raw = JSON.parse(text);
      } catch {
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'must be JSON' });
        return z.NEVER;
      }
      const result = storedRulesSchema.safeParse(raw);
      if (result.success) return result.data;
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        message: `is not a valid rule list: ${describeIssues(result.error, 'rules')}`,
      });
      return z.NEVER;
    })
    .optional(),
  THRESHOLD_PERCENT: z
    .string()
    .regex(DECIMAL_PATTERN, 'must be a decimal number')
    .refine((v) => Number(v) > 0, 'must be greater than 0')
    .optional(),
  PRICE_FIELD: z.enum(PRICE_FIELDS).optional(),
  DIRECTION: z.enum(DIRECTIONS).optional(),
  COOLDOWN_MS: intFromEnv(MONITOR_LIMITS.cooldownMs.min, MONITOR_LIMITS.cooldownMs.max).optional(),
  UPHOLD_API_URL: z
    .string()
    .url('must be a URL')
    .refine((v) => /^https?:\/\//.test(v), 'must be an http(s) URL'),
  REQUEST_TIMEOUT_MS: intFromEnv(100, 60_000).default('5000'),
  STATE_TTL_MS: intFromEnv(1000, 86_400_000).optional(),
  MAX_PENDING_ALERTS: intFromEnv(1, MAX_MAX_PENDING_ALERTS).optional(),
  PRICE_HISTORY_MS: intFromEnv(PRICE_HISTORY_LIMITS.min, PRICE_HISTORY_LIMITS.max).optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info'),
});

/** The one-move-rule variables of workers started before rules existed (and of monitors that have just that). */
const LEGACY_RULE_VARIABLES = ['THRESHOLD_PERCENT', 'PRICE_FIELD', 'DIRECTION', 'COOLDOWN_MS'] as const;

export class WorkerConfigError extends Error {
  override readonly name = 'WorkerConfigError';
  constructor(
    readonly problems: string[],
    program: 'worker' | 'relay' = 'worker',
  ) {
    super(`invalid ${program} configuration: ${problems.join('; ')}`);
  }
}

/**
 * Checks an environment against a schema of its variables; throws WorkerConfigError naming every bad or
 * missing variable (never its value: REDIS_URL may carry a password).
 */
export function parseEnvWith<S extends z.ZodTypeAny>(
  schema: S,
  env: Record<string, string | undefined>,
  program: 'worker' | 'relay',
): z.infer<S> {
  const result = schema.safeParse(env);
  if (result.success) return result.data as z.infer<S>;
  throw new WorkerConfigError(
    result.error.issues.map((issue) => {
      const name = String(issue.path[0]);
      return env[name] === undefined ? `${name} is required` : `${name} ${issue.message}`;
    }),
    program,
  );
}

/** Reads and checks the worker's environment; throws WorkerConfigError naming every bad or missing variable. */
export function parseWorkerEnv(env: Record<string, string | undefined>): WorkerSettings {
  const redis = parseRedisEnv(env);
  const problems: string[] = [];
  if (env.RULES !== undefined) {
    for (const name of LEGACY_RULE_VARIABLES) {
      if (env[name] !== undefined) problems.push(`${name} cannot be given with RULES`);
    }
  } else if (env.THRESHOLD_PERCENT === undefined) {
    problems.push('RULES or THRESHOLD_PERCENT is required');
  }
  let e: z.infer<typeof workerEnvSchema>;
  try {
    e = parseEnvWith(workerEnvSchema, env, 'worker');
  } catch (error) {
    const extra = [...problems, ...(redis.ok ? [] : redis.problems)];
    if (error instanceof WorkerConfigError && extra.length > 0) {
      throw new WorkerConfigError([...error.problems, ...extra]);
    }
    throw error;
  }
  if (problems.length > 0 || !redis.ok)
    throw new WorkerConfigError([...problems, ...(redis.ok ? [] : redis.problems)]);
  const rules: Rule[] = e.RULES ?? [
    legacyMoveRule({
      thresholdPercent: e.THRESHOLD_PERCENT,
      priceField: e.PRICE_FIELD,
      direction: e.DIRECTION,
      cooldownMs: e.COOLDOWN_MS,
    }),
  ];
  return {
    monitorId: e.MONITOR_ID,
    pair: e.PAIR,
    intervalMs: e.INTERVAL_MS,
    rules,
    upholdApiUrl: e.UPHOLD_API_URL.replace(/\/+$/, ''),
    redis: redis.settings,
    requestTimeoutMs: e.REQUEST_TIMEOUT_MS,
    stateTtlMs: e.STATE_TTL_MS ?? defaultStateTtlMs(e.INTERVAL_MS),
    maxPendingAlerts: e.MAX_PENDING_ALERTS ?? DEFAULT_MAX_PENDING_ALERTS,
    priceHistoryMs: e.PRICE_HISTORY_MS ?? DEFAULT_PRICE_HISTORY_MS,
    logLevel: e.LOG_LEVEL,
  };
}

/** The inverse of {@link parseWorkerEnv}: what the API hands a worker it starts. */
export function toWorkerEnv(
  settings: Omit<WorkerSettings, 'stateTtlMs' | 'maxPendingAlerts' | 'priceHistoryMs'> & {
    stateTtlMs?: number;
    maxPendingAlerts?: number;
    priceHistoryMs?: number;
  },
): Record<string, string> {
  const env: Record<string, string> = {
    MONITOR_ID: settings.monitorId,
    PAIR: settings.pair,
    INTERVAL_MS: String(settings.intervalMs),
    UPHOLD_API_URL: settings.upholdApiUrl,
    ...toRedisEnv(settings.redis),
    REQUEST_TIMEOUT_MS: String(settings.requestTimeoutMs),
    LOG_LEVEL: settings.logLevel,
  };
  const { rules } = settings;
  if (isLegacyMoveRule(rules)) {
    // One move rule as before rules existed: the same variables, so that running workers keep their spec hash.
    const [rule] = rules;
    env.THRESHOLD_PERCENT = rule.thresholdPercent;
    env.PRICE_FIELD = rule.priceField;
    env.DIRECTION = rule.direction;
    env.COOLDOWN_MS = String(rule.cooldownMs);
  } else {
    env.RULES = JSON.stringify(rules);
  }
  if (settings.stateTtlMs !== undefined) env.STATE_TTL_MS = String(settings.stateTtlMs);
  if (settings.maxPendingAlerts !== undefined) env.MAX_PENDING_ALERTS = String(settings.maxPendingAlerts);
  // Only when it is not the default, so that workers started before the variable existed keep their spec hash.
  if (settings.priceHistoryMs !== undefined && settings.priceHistoryMs !== DEFAULT_PRICE_HISTORY_MS) {
    env.PRICE_HISTORY_MS = String(settings.priceHistoryMs);
  }
  return env;
}

/** Worker exit codes the API can tell apart. */
export const WORKER_EXIT = {
  ok: 0,
  badConfig: 2,
  unknownPair: 3,
  /** Every rule fired its maxFires or expired: the monitor stops itself (stopReason "rules done"). */
  rulesDone: 4,
  fatal: 1,
} as const;
