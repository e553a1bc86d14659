/** What a sliding window answers one request: admitted, or refused with the time until a place frees up. */
export type WindowDecision = { admitted: true } | { admitted: false; retryAfterMs: number };

/**
 * At most `limit` requests in any window of `windowMs` (Uphold: 250 a minute per client IP). A log of the
 * admitted requests rather than a refilling bucket, since a bucket that starts full lets up to twice its
 * size through in one window. Refused requests do not count. Time comes from the caller. Used by the relay
 * for its one upstream budget and by the fake ticker to play Uphold's limit.
 */
export class SlidingWindow {
  private readonly admitted: number[] = [];

  constructor(private readonly windowMs = 60_000) {}

  /** Admits (and records) a request at `now`, or says how long until enough have left the window. */
  take(now: number, limit: number): WindowDecision {
    if (!(Number.isInteger(limit) && limit > 0))
      throw new RangeError(`limit must be a positive whole number, got ${limit}`);
    this.forget(now);
    if (this.admitted.length >= limit) {
      // A lowered limit may leave more than `limit` in the window: a place frees when the request that
      // brings it down to limit - 1 leaves.
      const freedBy = this.admitted[this.admitted.length - limit];
      return { admitted: false, retryAfterMs: freedBy + this.windowMs - now };
    }
    this.admitted.push(now);
    return { admitted: true };
  }

  /** Requests admitted within the window ending at `now`. */
  count(now: number): number {
    this.forget(now);
    return this.admitted.length;
  }

  private forget(now: number): void {
    let expired = 0;
    while (expired < this.admitted.length && this.admitted[expired] <= now - this.windowMs) expired += 1;
    if (expired > 0) this.admitted.splice(0, expired);
  }
}
