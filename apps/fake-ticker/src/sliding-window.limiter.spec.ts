import { SlidingWindowLimiter } from './sliding-window.limiter';

describe('SlidingWindowLimiter', () => {
  it('admits `limit` requests in a window, then says when the oldest leaves it', () => {
    const limiter = new SlidingWindowLimiter(60_000);
    expect(limiter.take('a', 0, 3)).toEqual({ admitted: true });
    expect(limiter.take('a', 10_000, 3)).toEqual({ admitted: true });
    expect(limiter.take('a', 20_000, 3)).toEqual({ admitted: true });
    expect(limiter.take('a', 30_500, 3)).toEqual({ admitted: false, retryAfterMs: 29_500 });
    expect(limiter.take('a', 59_999, 3)).toEqual({ admitted: false, retryAfterMs: 1 });
    // the request at 0 leaves the window at 60 000
    expect(limiter.take('a', 60_000, 3)).toEqual({ admitted: true });
    expect(limiter.take('a', 60_001, 3)).toEqual({ admitted: false, retryAfterMs: 9_999 });
  });

  it('does not count refused requests', () => {
    const limiter = new SlidingWindowLimiter(1000);
    limiter.take('a', 0, 1);
    for (let at = 1; at < 1000; at += 100) expect(limiter.take('a', at, 1).admitted).toBe(false);
    expect(limiter.take('a', 1000, 1)).toEqual({ admitted: true });
    expect(limiter.inWindow('a', 1000)).toBe(1);
  });

  it('counts each client apart', () => {
    const limiter = new SlidingWindowLimiter(1000);
    expect(limiter.take('a', 0, 1).admitted).toBe(true);
    expect(limiter.take('b', 0, 1).admitted).toBe(true);
    expect(limiter.take('a', 1, 1).admitted).toBe(false);
    expect(limiter.inWindow('b', 1)).toBe(1);
  });

  it('waits for enough requests to leave when the limit was lowered', () => {
    const limiter = new SlidingWindowLimiter(1000);
    for (const at of [0, 100, 200, 300]) limiter.take('a', at, 10);
    // 4 in the window, limit now 2: free once the requests at 0, 100 and 200 have left
    expect(limiter.take('a', 400, 2)).toEqual({ admitted: false, retryAfterMs: 800 });
  });

  it('forgets everything on clear()', () => {
    const limiter = new SlidingWindowLimiter(1000);
    limiter.take('a', 0, 1);
    limiter.clear();
    expect(limiter.take('a', 1, 1).admitted).toBe(true);
  });
});
