import { PAIR_PATTERN } from './pair';

/** One watched pair and how often its worker reads it. */
export interface UpstreamDemand {
  pair: string;
  intervalMs: number;
}

export interface UpstreamPlanOptions {
  /** UPHOLD_RELAY: true, pairs are served from currency lists through the relay; false, each polls its own. */
  relay: boolean;
  /** Pairs no currency list holds (the relay found them only at the pair endpoint). */
  pairEndpointOnly?: Iterable<string>;
}

/** One upstream request the plan makes again and again: a currency list, or one pair's endpoint. */
export interface PlannedRequest {
  kind: 'list' | 'pair';
  /** The currency (for a list) or the pair (for a pair endpoint), as it goes into the path. */
  target: string;
  /** How often it is made: the shortest interval among the pairs it serves. */
  intervalMs: number;
  /** The watched pairs it serves, sorted. */
  pairs: string[];
  requestsPerMin: number;
}

export interface UpstreamPlan {
  /** Lists first (largest first), then pair endpoints; deterministic for the same demand. */
  requests: PlannedRequest[];
  /** What the plan costs upstream: the sum over its requests. */
  requestsPerMin: number;
}

/** How many requests a minute one request repeated every `intervalMs` makes. */
export function requestsPerMinute(intervalMs: number): number {
  return 60_000 / intervalMs;
}

/** How a cached upstream answer is used for an asker that reads every `intervalMs` ({@link cacheFreshness}). */
export interface CacheFreshness {
  /** Served as it is while younger than this: the interval less the headroom. */
  servedForMs: number;
  /**
   * Asked of Uphold again once this old: the interval itself. An asker that finds the answer between
   * `servedForMs` and this waits until it is this old and takes the refresh made then.
   */
  refreshAtMs: number;
  /** `refreshAtMs − servedForMs`: the longest such an asker waits. */
  headroomMs: number;
}

/** The headroom is this part of the interval… */
export const FRESHNESS_HEADROOM_FRACTION = 0.1;
/** …and never more than this, so that a worker held for a refresh stays well inside its request timeout. */
export const FRESHNESS_MAX_HEADROOM_MS = 1000;

/**
 * The relay's freshness rule for an asker with interval `intervalMs`. A price it serves is at most
 * `servedForMs` old when it leaves the relay, so with the request's own latency what a worker evaluates stays
 * within its interval; and no upstream request is made again sooner than `refreshAtMs` = the interval after
 * the previous one, which is the rate {@link planUpstream} charges ({@link requestsPerMinute}). Serving only
 * while younger than a fraction of the interval and asking Uphold again at once past it would shorten the
 * price's age too, but by refreshing a list up to that fraction more often than the plan says.
 */
export function cacheFreshness(intervalMs: number): CacheFreshness {
  if (!(Number.isFinite(intervalMs) && intervalMs > 0)) {
    throw new RangeError(`intervalMs must be a positive number, got ${intervalMs}`);
  }
  const headroomMs = Math.min(
    Math.round(intervalMs * FRESHNESS_HEADROOM_FRACTION),
    FRESHNESS_MAX_HEADROOM_MS,
  );
  return { servedForMs: intervalMs - headroomMs, refreshAtMs: intervalMs, headroomMs };
}

/** Whether `plan` fits in `limitPerMin` (with room for the rounding of intervals that do not divide a minute). */
export function planFits(plan: UpstreamPlan, limitPerMin: number): boolean {
  return plan.requestsPerMin <= limitPerMin + 1e-9;
}

/** The two currency codes of a valid pair. */
export function pairCurrencies(pair: string): [base: string, quote: string] {
  const [base, quote] = pair.split('-');
  return [base, quote];
}

/**
 * The upstream requests that serve `demand`. With the relay off, one pair endpoint per pair at its own
 * interval (Uphold's rate limit counts every worker). With the relay on, currency lists chosen by a greedy
 * cover — a pair is served by the list of either of its two currencies; the currency serving the most pairs
 * still uncovered is taken first (ties: the one that is the quote side of more of them, then by name) —
 * and pair endpoints only for pairs no list holds. A pair asked for twice counts once, at its shorter
 * interval. Pure: the relay and the API's admission check compute the same plan.
 */
export function planUpstream(demand: readonly UpstreamDemand[], options: UpstreamPlanOptions): UpstreamPlan {
  const intervals = new Map<string, number>();
  for (const { pair, intervalMs } of demand) {
    if (!PAIR_PATTERN.test(pair)) throw new RangeError(`not a pair: ${JSON.stringify(pair)}`);
    if (!(Number.isInteger(intervalMs) && intervalMs > 0)) {
      throw new RangeError(`intervalMs of ${pair} must be a positive whole number, got ${intervalMs}`);
    }
    intervals.set(pair, Math.min(intervalMs, intervals.get(pair) ?? Infinity));
  }

  const pairOnly = new Set(options.relay ? (options.pairEndpointOnly ?? []) : intervals.keys());
  const requests: PlannedRequest[] = [];
  const uncovered = new Set([...intervals.keys()].filter((pair) => !pairOnly.has(pair)));
  while (uncovered.size > 0) {
    const currency = mostCovering(uncovered);
    const served = [...uncovered].filter((pair) => pairCurrencies(pair).includes(currency));
    for (const pair of served) uncovered.delete(pair);
    requests.push(request('list', currency, served, intervals));
  }
  requests.sort((a, b) => b.pairs.length - a.pairs.length || compare(a.target, b.target));

  const single = [...intervals.keys()].filter((pair) => pairOnly.has(pair)).sort(compare);
  for (const pair of single) requests.push(request('pair', pair, [pair], intervals));

  return { requests, requestsPerMin: requests.reduce((sum, r) => sum + r.requestsPerMin, 0) };
}

/** The currency whose list serves the most of `pairs`. */
function mostCovering(pairs: Set<string>): string {
  const score = new Map<string, { pairs: number; asQuote: number }>();
  for (const pair of pairs) {
    const [base, quote] = pairCurrencies(pair);
    for (const currency of base === quote ? [base] : [base, quote]) {
      const entry = score.get(currency) ?? { pairs: 0, asQuote: 0 };
      entry.pairs += 1;
      if (currency === quote) entry.asQuote += 1;
      score.set(currency, entry);
    }
  }
  let best: string | undefined;
  for (const [currency, s] of score) {
    const b = best === undefined ? undefined : score.get(best)!;
    if (
      b === undefined ||
      s.pairs > b.pairs ||
      (s.pairs === b.pairs &&
        (s.asQuote > b.asQuote || (s.asQuote === b.asQuote && compare(currency, best!) < 0)))
    ) {
      best = currency;
    }
  }
  return best!;
}

function request(
  kind: PlannedRequest['kind'],
  target: string,
  pairs: string[],
  intervals: Map<string, number>,
): PlannedRequest {
  const intervalMs = Math.min(...pairs.map((pair) => intervals.get(pair)!));
  return {
    kind,
    target,
    intervalMs,
    pairs: [...pairs].sort(compare),
    requestsPerMin: requestsPerMinute(intervalMs),
  };
}

const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
