import { UpstreamBudget } from './upstream-budget';

describe('UpstreamBudget', () => {
  it('lets `limit` requests through in a window, then says when the oldest leaves it', () => {
    const budget = new UpstreamBudget(3, 60_000);
    expect([0, 10, 20].map((t) => budget.take(t).ok)).toEqual([true, true, true]);
    expect(budget.take(30)).toEqual({ ok: false, waitMs: 59_970 });
    expect(budget.take(59_999)).toEqual({ ok: false, waitMs: 1 });
    expect(budget.take(60_000)).toEqual({ ok: true });
    expect(budget.used(60_000)).toBe(3);
  });

  it('never lets more than `limit` through in any window, whatever the pattern of asking', () => {
    const limit = 25;
    const budget = new UpstreamBudget(limit, 60_000);
    const sent: number[] = [];
    // Asks every 100 ms for five minutes, in bursts: far more than the limit.
    for (let t = 0; t < 300_000; t += 100) {
      for (let burst = 0; burst < (t % 7_000 === 0 ? 10 : 1); burst++) if (budget.take(t).ok) sent.push(t);
    }
    for (const start of sent) {
      expect(sent.filter((t) => t >= start && t < start + 60_000).length).toBeLessThanOrEqual(limit);
    }
    expect(sent.length).toBeGreaterThanOrEqual(limit * 5);
  });

  it('refuses a limit that is not a positive whole number', () => {
    expect(() => new UpstreamBudget(0)).toThrow(/limit must be a positive whole number/);
    expect(() => new UpstreamBudget(2.5)).toThrow(/limit must be a positive whole number/);
  });
});
