/** ±20 %. */
export const JITTER = 0.2;

/**
 * When the next attempt is due after `attempts` failed ones, or null when the schedule is spent (the
 * delivery fails). The scheduled wait gets ±20 % jitter; a longer Retry-After wins.
 */
export function nextRetryDelay(
  schedule: readonly number[],
  attempts: number,
  retryAfterMs: number | undefined,
  random: () => number = Math.random,
): number | null {
  const base = schedule[attempts - 1];
  if (base === undefined) return null;
  const jittered = Math.round(base * (1 - JITTER + 2 * JITTER * random()));
  return retryAfterMs !== undefined && retryAfterMs > jittered ? retryAfterMs : jittered;
}

/** A Retry-After header (seconds, or an HTTP date) in milliseconds from `now`; undefined when absent or bad. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (/^\d{1,9}$/.test(text)) return Number(text) * 1000;
  // An HTTP date has a weekday and month name; Date.parse alone would read "-5" as a year.
  const at = /^[A-Za-z]{3}, /.test(text) ? Date.parse(text) : NaN;
  return Number.isFinite(at) ? Math.max(0, at - now) : undefined;
}
