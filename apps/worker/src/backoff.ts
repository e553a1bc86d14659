export interface BackoffOptions {
  /** The ceiling of the first retry's window; the window doubles with each further attempt. */
  baseMs: number;
  /** No wait is ever longer than this. */
  capMs: number;
  /** No wait is ever shorter than this (clamped to capMs). Defaults to 0 (pure full jitter). */
  minMs?: number;
}

/**
 * Exponential backoff with full jitter: a uniformly random wait in [0, min(cap, base * 2^attempt)),
 * raised to `minMs`. `attempt` counts consecutive failures, starting at 1.
 *
 * @param random returns a number in [0, 1), like Math.random (injected for tests)
 */
export function fullJitterBackoff(
  attempt: number,
  options: BackoffOptions,
  random: () => number = Math.random,
): number {
  const { baseMs, capMs } = options;
  const minMs = Math.min(options.minMs ?? 0, capMs);
  // 2^attempt overflows to Infinity long before it matters; Math.min takes care of that.
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.max(1, Math.floor(attempt)));
  const jittered = Math.floor(random() * ceiling);
  return Math.min(capMs, Math.max(minMs, jittered));
}
