/** What the limiter answers a request: admitted, or refused with the time until a place frees up. */
export type LimiterDecision = { admitted: true } | { admitted: false; retryAfterMs: number };

/**
 * A sliding-window request limit per client, like Uphold's (N requests in any window of `windowMs`): the
 * admitted requests of each client are kept (at most `limit` of them), a request is admitted while fewer
 * than `limit` fall in the window ending now. Refused requests do not count, so once the oldest admitted
 * request has left the window the next one is admitted. Time comes from the caller.
 */
export class SlidingWindowLimiter {
  private readonly windows = new Map<string, number[]>();

  constructor(private readonly windowMs = 60_000) {}

  /** Admits (and records) a request of `client` at `now`, or says how long until the oldest leaves the window. */
  take(client: string, now: number, limit: number): LimiterDecision {
    const window = this.windows.get(client) ?? [];
    while (window.length > 0 && window[0] <= now - this.windowMs) window.shift();
    if (window.length >= limit) {
      // A lowered limit may leave more than `limit` in the window: the place frees when the one that
      // brings it down to limit - 1 leaves.
      const freedBy = window[window.length - limit];
      this.windows.set(client, window);
      return { admitted: false, retryAfterMs: freedBy + this.windowMs - now };
    }
    window.push(now);
    this.windows.set(client, window);
    return { admitted: true };
  }

  /** Requests of `client` in the window ending at `now`. */
  inWindow(client: string, now: number): number {
    return (this.windows.get(client) ?? []).filter((at) => at > now - this.windowMs).length;
  }

  clear(): void {
    this.windows.clear();
  }
}
