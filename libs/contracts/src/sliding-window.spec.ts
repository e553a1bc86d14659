import { SlidingWindow } from './sliding-window';

describe('SlidingWindow', () => {
  it('admits `limit` requests in a window, then says when the oldest leaves it', () => {
    const window = new SlidingWindow(60_000);
    expect([0, 10_000, 20_000].map((t) => window.take(t, 3).admitted)).toEqual([true, true, true]);
    expect(window.take(30_500, 3)).toEqual({ admitted: false, retryAfterMs: 29_500 });
    expect(window.take(59_999, 3)).toEqual({ admitted: false, retryAfterMs: 1 });
    // the request at 0 leaves the window at 60 000
    expect(window.take(60_000, 3)).toEqual({ admitted: true });
    expect(window.take(60_001, 3)).toEqual({ admitted: false, retryAfterMs: 9_999 });
    expect(window.count(60_001)).toBe(3);
  });

  it('does not count refused requests', () => {
    const window = new SlidingWindow(1000);
    window.take(0, 1);
    for (let at = 1; at < 1000; at += 100) expect(window.take(at, 1).admitted).toBe(false);
    expect(window.take(1000, 1)).toEqual({ admitted: true });
    expect(window.count(1000)).toBe(1);
  });

  it('never admits more than the limit in any window, whatever the pattern of asking', () => {
    const limit = 25;
    const window = new SlidingWindow(60_000);
    const admitted: number[] = [];
    // Asks every 100 ms for five minutes, with bursts of ten every 7 s: far more than the limit.
    for (let t = 0; t < 300_000; t += 100) {
      for (let burst = 0; burst < (t % 7_000 === 0 ? 10 : 1); burst++)
        if (window.take(t, limit).admitted) admitted.push(t);
    }
    for (const start of admitted) {
      expect(admitted.filter((t) => t >= start && t < start + 60_000).length).toBeLessThanOrEqual(limit);
    }
    expect(admitted.length).toBeGreaterThanOrEqual(limit * 5);
  });

  it('waits for enough requests to leave when the limit was lowered', () => {
    const window = new SlidingWindow(1000);
    for (const at of [0, 100, 200, 300]) window.take(at, 10);
    // 4 in the window, limit now 2: free once the requests at 0, 100 and 200 have left
    expect(window.take(400, 2)).toEqual({ admitted: false, retryAfterMs: 800 });
  });

  it('refuses a limit that is not a positive whole number', () => {
    expect(() => new SlidingWindow().take(0, 0)).toThrow(/limit must be a positive whole number/);
    expect(() => new SlidingWindow().take(0, 2.5)).toThrow(/limit must be a positive whole number/);
  });
});
