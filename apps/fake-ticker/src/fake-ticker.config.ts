import { isDecimalString, isValidPair, normalizePair } from '@pairwatch/contracts';
import { CURRENCY_PATTERN } from './currency-list';

export interface FakeTickerConfig {
  port: number;
  host: string;
  /** Upper-cased, no duplicates: the PAIRS given, then the synthetic ones. */
  pairs: string[];
  stepMs: number;
  stepPercent: string;
  /** Requests a minute per client address; null: no limit. */
  rateLimitPerMin: number | null;
}

export const DEFAULT_PAIRS = 'BTC-USD,ETH-USD,BTC-EUR,XRP-USD';
export const DEFAULT_CURRENCIES = 'USD,EUR,BTC';
export const MAX_PAIR_COUNT = 10_000;

/** The base codes of synthetic pairs: C000, C001... (a currency of that form is refused). */
const SYNTHETIC_BASE = /^C\d+$/;

/**
 * Reads the fake ticker's environment (see main.ts for the variables). Every problem is reported, each naming
 * its variable; nothing is half-applied.
 */
export function readFakeTickerConfig(
  env: NodeJS.ProcessEnv,
): { config: FakeTickerConfig; problems?: undefined } | { config?: undefined; problems: string[] } {
  const problems: string[] = [];
  const int = (name: string, raw: string, min: number, max: number): number => {
    const value = Number(raw);
    if (!/^\d+$/.test(raw) || value < min || value > max) {
      problems.push(`${name} must be a whole number from ${min} to ${max}, got ${JSON.stringify(raw)}`);
    }
    return value;
  };
  const port = int('PORT', env.PORT ?? '8099', 0, 65535);
  const stepMs = int('STEP_MS', env.STEP_MS ?? '1000', 10, 3_600_000);
  const stepPercent = env.STEP_PERCENT ?? '0.05';
  if (!isDecimalString(stepPercent) || stepPercent.startsWith('-') || Number(stepPercent) > 50) {
    problems.push(`STEP_PERCENT must be a decimal from 0 to 50, got ${JSON.stringify(stepPercent)}`);
  }
  const rateLimit = env.RATE_LIMIT_PER_MIN ?? '';
  const rateLimitPerMin = rateLimit === '' ? null : int('RATE_LIMIT_PER_MIN', rateLimit, 1, 1_000_000);

  const synthetic: string[] = [];
  const count = env.PAIR_COUNT ?? '';
  if (count !== '') {
    const pairCount = int('PAIR_COUNT', count, 1, MAX_PAIR_COUNT);
    const currencies = [...new Set(splitList(env.CURRENCIES ?? DEFAULT_CURRENCIES))];
    const bad = currencies.filter((c) => !CURRENCY_PATTERN.test(c) || SYNTHETIC_BASE.test(c));
    if (bad.length > 0) {
      problems.push(
        `CURRENCIES has invalid codes: ${bad.join(', ')} (expected 2 to 12 letters or digits, e.g. USD, ` +
          'and none of the synthetic bases C000, C001...)',
      );
    }
    if (currencies.length === 0) problems.push('CURRENCIES must name at least one currency');
    if (problems.length === 0) synthetic.push(...syntheticPairs(pairCount, currencies));
  } else if (env.CURRENCIES !== undefined) {
    problems.push('CURRENCIES is used only with PAIR_COUNT (set PAIR_COUNT too, or list the pairs in PAIRS)');
  }

  // PAIRS defaults to the demo pairs only when no synthetic pairs are asked for.
  const given = splitList(env.PAIRS ?? (count === '' ? DEFAULT_PAIRS : ''));
  const badPairs = given.filter((p) => !isValidPair(p));
  if (badPairs.length > 0) {
    problems.push(`PAIRS has invalid pairs: ${badPairs.join(', ')} (expected e.g. BTC-USD)`);
  }
  if (given.length === 0 && count === '') problems.push('PAIRS must name at least one pair');
  if (problems.length > 0) return { problems };
  return {
    config: {
      port,
      host: env.HOST ?? '127.0.0.1',
      pairs: [...new Set([...given, ...synthetic])],
      stepMs,
      stepPercent,
      rateLimitPerMin,
    },
  };
}

/**
 * `count` pairs of made-up bases against `currencies`, round robin: C000-USD, C000-EUR, C000-BTC, C001-USD...
 * (300 over USD,EUR,BTC: C000..C099 against each). Bases have at least 3 digits, more when needed.
 */
export function syntheticPairs(count: number, currencies: readonly string[]): string[] {
  if (!(Number.isInteger(count) && count >= 0))
    throw new RangeError(`count must be a whole number, got ${count}`);
  if (currencies.length === 0) throw new RangeError('currencies must name at least one currency');
  const perCurrency = Math.ceil(count / currencies.length);
  const width = Math.max(3, String(Math.max(0, perCurrency - 1)).length);
  return Array.from({ length: count }, (_, i) => {
    const base = `C${String(Math.floor(i / currencies.length)).padStart(width, '0')}`;
    return `${base}-${currencies[i % currencies.length]}`;
  });
}

function splitList(raw: string): string[] {
  return raw
    .split(',')
    .map((item) => normalizePair(item.trim()))
    .filter((item) => item !== '');
}
