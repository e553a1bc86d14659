import { SlidingWindow, WindowDecision } from '@pairwatch/contracts';

/** Uphold's limit, per client: one sliding window (libs/contracts) for each client address. */
export class SlidingWindowLimiter {
  private readonly windows = new Map<string, SlidingWindow>();

  constructor(private readonly windowMs = 60_000) {}

  /** Admits (and records) a request of `client` at `now`, or says how long until the oldest leaves the window. */
  take(client: string, now: number, limit: number): WindowDecision {
    let window = this.windows.get(client);
    if (!window) {
      window = new SlidingWindow(this.windowMs);
      this.windows.set(client, window);
    }
    return window.take(now, limit);
  }

  /** Requests of `client` in the window ending at `now`. */
  inWindow(client: string, now: number): number {
    return this.windows.get(client)?.count(now) ?? 0;
  }

  clear(): void {
    this.windows.clear();
  }
}
