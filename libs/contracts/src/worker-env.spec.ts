import { standaloneRedis } from './redis-settings';
import {
  DEFAULT_MAX_PENDING_ALERTS,
  parseWorkerEnv,
  toWorkerEnv,
  WORKER_EXIT,
  WorkerConfigError,
  WorkerSettings,
} from './worker-env';

const MONITOR_ID = '3f1c2b7e-8a4d-4c5e-9f60-1a2b3c4d5e6f';

const minimal = (): Record<string, string> => ({
  MONITOR_ID,
  PAIR: 'BTC-USD',
  INTERVAL_MS: '5000',
  THRESHOLD_PERCENT: '0.01',
  UPHOLD_API_URL: 'https://api.uphold.com',
  REDIS_URL: 'redis://localhost:6379',
});

function problemsOf(env: Record<string, string | undefined>): string[] {
  try {
    parseWorkerEnv(env);
  } catch (error) {
    expect(error).toBeInstanceOf(WorkerConfigError);
    return (error as WorkerConfigError).problems;
  }
  throw new Error('expected parseWorkerEnv to throw');
}

describe('parseWorkerEnv', () => {
  it('applies the defaults', () => {
    expect(parseWorkerEnv(minimal())).toEqual<WorkerSettings>({
      monitorId: MONITOR_ID,
      pair: 'BTC-USD',
      intervalMs: 5000,
      rules: [
        {
          id: 'r1',
          kind: 'move',
          thresholdPercent: '0.01',
          priceField: 'ask',
          direction: 'both',
          cooldownMs: 0,
        },
      ],
      upholdApiUrl: 'https://api.uphold.com',
      redis: standaloneRedis('redis://localhost:6379'),
      requestTimeoutMs: 5000,
      stateTtlMs: 15_000,
      maxPendingAlerts: DEFAULT_MAX_PENDING_ALERTS,
      priceHistoryMs: 3_600_000,
      logLevel: 'info',
    });
    expect(DEFAULT_MAX_PENDING_ALERTS).toBe(10_000);
  });

  it.each([
    [1000, 15_000],
    [5000, 15_000],
    [10_000, 30_000],
    [3_600_000, 10_800_000],
  ])('defaults the state TTL for a %i ms interval to %i ms', (intervalMs, stateTtlMs) => {
    expect(parseWorkerEnv({ ...minimal(), INTERVAL_MS: String(intervalMs) }).stateTtlMs).toBe(stateTtlMs);
  });

  it('reads every optional variable', () => {
    const settings = parseWorkerEnv({
      ...minimal(),
      PRICE_FIELD: 'mid',
      DIRECTION: 'down',
      COOLDOWN_MS: '60000',
      REQUEST_TIMEOUT_MS: '2500',
      STATE_TTL_MS: '90000',
      MAX_PENDING_ALERTS: '250',
      PRICE_HISTORY_MS: '60000',
      LOG_LEVEL: 'debug',
    });
    expect(settings).toMatchObject({
      rules: [
        {
          id: 'r1',
          kind: 'move',
          thresholdPercent: '0.01',
          priceField: 'mid',
          direction: 'down',
          cooldownMs: 60_000,
        },
      ],
      requestTimeoutMs: 2500,
      stateTtlMs: 90_000,
      maxPendingAlerts: 250,
      priceHistoryMs: 60_000,
      logLevel: 'debug',
    });
  });

  it.each([
    ['1', 1],
    ['100000', 100_000],
  ])('accepts MAX_PENDING_ALERTS=%s at the bounds', (value, expected) => {
    expect(parseWorkerEnv({ ...minimal(), MAX_PENDING_ALERTS: value }).maxPendingAlerts).toBe(expected);
  });

  it('drops trailing slashes from the Uphold URL', () => {
    expect(parseWorkerEnv({ ...minimal(), UPHOLD_API_URL: 'http://127.0.0.1:8099//' }).upholdApiUrl).toBe(
      'http://127.0.0.1:8099',
    );
  });

  it('ignores unrelated variables', () => {
    expect(() => parseWorkerEnv({ ...minimal(), PATH: '/usr/bin', HOME: '/root' })).not.toThrow();
  });

  it.each(['MONITOR_ID', 'PAIR', 'INTERVAL_MS', 'UPHOLD_API_URL', 'REDIS_URL'])(
    'names the missing required variable %s',
    (name) => {
      const env: Record<string, string | undefined> = minimal();
      delete env[name];
      expect(problemsOf(env)).toEqual([`${name} is required`]);
    },
  );

  it('needs RULES or THRESHOLD_PERCENT, not both', () => {
    const env: Record<string, string | undefined> = minimal();
    delete env.THRESHOLD_PERCENT;
    expect(problemsOf(env)).toEqual(['RULES or THRESHOLD_PERCENT is required']);
    const rules = JSON.stringify([
      { id: 'r1', kind: 'spread', thresholdPercent: '1', priceField: 'ask', cooldownMs: 0 },
    ]);
    expect(problemsOf({ ...minimal(), RULES: rules })).toEqual([
      'THRESHOLD_PERCENT cannot be given with RULES',
    ]);
    expect(parseWorkerEnv({ ...env, RULES: rules }).rules).toEqual(JSON.parse(rules));
  });

  it.each([
    ['not JSON', '[', 'RULES must be JSON'],
    ['no rules', '[]', 'RULES is not a valid rule list: rules: must hold at least 1 rule'],
    [
      'a rule without its id',
      '[{"kind":"spread","thresholdPercent":"1","priceField":"ask","cooldownMs":0}]',
      'RULES is not a valid rule list: 0.id',
    ],
  ])('refuses RULES that are %s', (_name, value, message) => {
    const env: Record<string, string | undefined> = { ...minimal(), RULES: value };
    delete env.THRESHOLD_PERCENT;
    expect(problemsOf(env).join('; ')).toContain(message);
  });

  it('names every missing variable at once', () => {
    const problems = problemsOf({});
    expect(problems).toEqual(
      expect.arrayContaining([
        'MONITOR_ID is required',
        'PAIR is required',
        'INTERVAL_MS is required',
        'RULES or THRESHOLD_PERCENT is required',
        'UPHOLD_API_URL is required',
        'REDIS_URL is required',
      ]),
    );
    expect(problems).toHaveLength(6);
  });

  it.each<[string, string, string]>([
    ['MONITOR_ID', 'not-a-uuid', 'MONITOR_ID Invalid uuid'],
    ['PAIR', 'btc-usd', 'PAIR must be two currency codes joined by a dash, e.g. BTC-USD'],
    ['PAIR', 'BTC_USD', 'PAIR must be two currency codes'],
    ['PAIR', 'BTC-USD;rm -rf', 'PAIR must be two currency codes'],
    ['INTERVAL_MS', '999', 'INTERVAL_MS must be at least 1000'],
    ['INTERVAL_MS', '3600001', 'INTERVAL_MS must be at most 3600000'],
    ['INTERVAL_MS', '5s', 'INTERVAL_MS must be a whole number'],
    ['INTERVAL_MS', '1500.5', 'INTERVAL_MS must be a whole number'],
    ['INTERVAL_MS', '', 'INTERVAL_MS must be a whole number'],
    ['THRESHOLD_PERCENT', '0', 'THRESHOLD_PERCENT must be greater than 0'],
    ['THRESHOLD_PERCENT', '-1', 'THRESHOLD_PERCENT must be greater than 0'],
    ['THRESHOLD_PERCENT', '1e-2', 'THRESHOLD_PERCENT must be a decimal number'],
    ['THRESHOLD_PERCENT', 'abc', 'THRESHOLD_PERCENT must be a decimal number'],
    ['PRICE_FIELD', 'last', 'PRICE_FIELD Invalid enum value'],
    ['DIRECTION', 'sideways', 'DIRECTION Invalid enum value'],
    ['COOLDOWN_MS', '-5', 'COOLDOWN_MS must be a whole number'],
    ['COOLDOWN_MS', '86400001', 'COOLDOWN_MS must be at most 86400000'],
    ['UPHOLD_API_URL', 'api.uphold.com', 'UPHOLD_API_URL must be a URL'],
    ['UPHOLD_API_URL', 'ftp://api.uphold.com', 'UPHOLD_API_URL must be an http(s) URL'],
    ['REDIS_URL', 'localhost:6379', 'REDIS_URL must be a redis:// or rediss:// URL'],
    ['REDIS_URL', 'http://localhost:6379', 'REDIS_URL must be a redis:// or rediss:// URL'],
    ['REQUEST_TIMEOUT_MS', '50', 'REQUEST_TIMEOUT_MS must be at least 100'],
    ['STATE_TTL_MS', '999', 'STATE_TTL_MS must be at least 1000'],
    ['MAX_PENDING_ALERTS', '0', 'MAX_PENDING_ALERTS must be at least 1'],
    ['MAX_PENDING_ALERTS', '100001', 'MAX_PENDING_ALERTS must be at most 100000'],
    ['MAX_PENDING_ALERTS', '1e4', 'MAX_PENDING_ALERTS must be a whole number'],
    ['MAX_PENDING_ALERTS', '', 'MAX_PENDING_ALERTS must be a whole number'],
    ['PRICE_HISTORY_MS', '999', 'PRICE_HISTORY_MS must be at least 1000'],
    ['PRICE_HISTORY_MS', '86400001', 'PRICE_HISTORY_MS must be at most 86400000'],
    ['LOG_LEVEL', 'verbose', 'LOG_LEVEL Invalid enum value'],
  ])('names the bad variable %s=%p', (name, value, message) => {
    const problems = problemsOf({ ...minimal(), [name]: value });
    // One variable can break more than one rule (e.g. "abc" is neither a decimal nor > 0): all name it.
    for (const problem of problems) expect(problem.startsWith(`${name} `)).toBe(true);
    expect(problems).toEqual(expect.arrayContaining([expect.stringContaining(message)]));
  });

  it('never echoes the value of a bad REDIS_URL (it may hold a password)', () => {
    const error = (() => {
      try {
        parseWorkerEnv({ ...minimal(), REDIS_URL: 'http://user:s3cret@redis:6379' });
      } catch (e) {
        return e as Error;
      }
      return undefined;
    })();
    expect(error?.message).toContain('REDIS_URL');
    expect(error?.message).not.toContain('s3cret');
  });

  it('puts every problem in the error message', () => {
    expect(() => parseWorkerEnv({ ...minimal(), PAIR: 'x', INTERVAL_MS: '1' })).toThrow(
      /^invalid worker configuration: .*PAIR .*; INTERVAL_MS must be at least 1000$/,
    );
  });
});

describe('toWorkerEnv', () => {
  const settings: WorkerSettings = {
    monitorId: MONITOR_ID,
    pair: 'ETH-EUR',
    intervalMs: 2000,
    rules: [
      {
        id: 'r1',
        kind: 'move',
        thresholdPercent: '0.000123',
        priceField: 'bid',
        direction: 'up',
        cooldownMs: 30_000,
      },
    ],
    upholdApiUrl: 'http://fake-uphold:8099',
    redis: standaloneRedis('redis://:pw@redis:6379/2'),
    requestTimeoutMs: 1500,
    stateTtlMs: 45_000,
    maxPendingAlerts: 500,
    priceHistoryMs: 120_000,
    logLevel: 'warn',
  };

  it('round-trips through parseWorkerEnv', () => {
    expect(parseWorkerEnv(toWorkerEnv(settings))).toEqual(settings);
  });

  it('leaves PRICE_HISTORY_MS out when it is the default, so existing workers keep their spec', () => {
    expect(toWorkerEnv({ ...settings, priceHistoryMs: 3_600_000 })).not.toHaveProperty('PRICE_HISTORY_MS');
    expect(toWorkerEnv({ ...settings, priceHistoryMs: undefined })).not.toHaveProperty('PRICE_HISTORY_MS');
    expect(toWorkerEnv(settings).PRICE_HISTORY_MS).toBe('120000');
  });

  it('leaves STATE_TTL_MS out when not given, so the worker derives it', () => {
    const env = toWorkerEnv({ ...settings, stateTtlMs: undefined });
    expect(env).not.toHaveProperty('STATE_TTL_MS');
    expect(parseWorkerEnv(env).stateTtlMs).toBe(15_000);
  });

  it('leaves MAX_PENDING_ALERTS out when not given, so the worker uses its default', () => {
    const env = toWorkerEnv({ ...settings, maxPendingAlerts: undefined });
    expect(env).not.toHaveProperty('MAX_PENDING_ALERTS');
    expect(parseWorkerEnv(env).maxPendingAlerts).toBe(DEFAULT_MAX_PENDING_ALERTS);
  });

  it('writes one move rule r1 as the variables of old, and any other rules as RULES', () => {
    expect(toWorkerEnv(settings)).toMatchObject({
      THRESHOLD_PERCENT: '0.000123',
      PRICE_FIELD: 'bid',
      DIRECTION: 'up',
      COOLDOWN_MS: '30000',
    });
    expect(toWorkerEnv(settings)).not.toHaveProperty('RULES');
    const two: WorkerSettings = {
      ...settings,
      rules: [
        ...settings.rules,
        {
          id: 'r2',
          kind: 'window',
          thresholdPercent: '3',
          windowMs: 900_000,
          direction: 'up',
          priceField: 'ask',
          cooldownMs: 0,
        },
      ],
    };
    const env = toWorkerEnv(two);
    expect(env).not.toHaveProperty('THRESHOLD_PERCENT');
    expect(parseWorkerEnv(env)).toEqual(two);
  });

  it('produces only strings', () => {
    for (const value of Object.values(toWorkerEnv(settings))) expect(typeof value).toBe('string');
  });
});

describe('WORKER_EXIT', () => {
  it('gives each outcome a distinct code, 0 for a clean stop', () => {
    expect(WORKER_EXIT.ok).toBe(0);
    expect(new Set(Object.values(WORKER_EXIT)).size).toBe(Object.keys(WORKER_EXIT).length);
  });
});
