/**
 * The relay's one budget for everything it sends upstream: at most `limit` requests in any window of
 * `windowMs` (Uphold: 250 a minute per client IP). A sliding-window log rather than a refilling bucket,
 * since a bucket that starts full lets up to twice its size through in one window.
 */
export class UpstreamBudget {
  private readonly sent: number[] = [];

  constructor(
    readonly limit: number,
    private readonly windowMs = 60_000,
  ) {
    if (!(Number.isInteger(limit) && limit > 0))
      throw new RangeError(`limit must be a positive whole number, got ${limit}`);
  }

  /** Takes one request's place at `now`; when the window is full, says how long until a place frees. */
  take(now: number): { ok: true } | { ok: false; waitMs: number } {
    this.forget(now);
    if (this.sent.length >= this.limit) return { ok: false, waitMs: this.sent[0] + this.windowMs - now };
    this.sent.push(now);
    return { ok: true };
  }

  /** Requests sent within the window ending at `now`. */
  used(now: number): number {
    this.forget(now);
    return this.sent.length;
  }

  private forget(now: number): void {
    let expired = 0;
    while (expired < this.sent.length && this.sent[expired] <= now - this.windowMs) expired += 1;
    if (expired > 0) this.sent.splice(0, expired);
  }
}
