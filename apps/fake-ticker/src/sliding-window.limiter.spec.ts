import { SlidingWindowLimiter } from './sliding-window.limiter';

describe('SlidingWindowLimiter (a window per client; the window itself: libs/contracts sliding-window.spec)', () => {
  it('counts each client apart', () => {
    const limiter = new SlidingWindowLimiter(1000);
    expect(limiter.take('a', 0, 1).admitted).toBe(true);
    expect(limiter.take('b', 0, 1).admitted).toBe(true);
    expect(limiter.take('a', 1, 1).admitted).toBe(false);
    expect(limiter.inWindow('b', 1)).toBe(1);
  });

  it('forgets everything on clear()', () => {
    const limiter = new SlidingWindowLimiter(1000);
    limiter.take('a', 0, 1);
    limiter.clear();
    expect(limiter.take('a', 1, 1).admitted).toBe(true);
  });
});
