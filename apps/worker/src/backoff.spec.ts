import { fullJitterBackoff } from './backoff';

describe('fullJitterBackoff', () => {
  const options = { baseMs: 1000, capMs: 60_000 };
  const almostOne = 0.999_999_9;

  it.each([
    [1, 2000],
    [2, 4000],
    [3, 8000],
    [5, 32_000],
    [6, 60_000],
    [7, 60_000],
    [50, 60_000],
    [5000, 60_000],
  ])('attempt %i waits less than %i ms, and never more than the cap', (attempt, ceiling) => {
    expect(fullJitterBackoff(attempt, options, () => 0)).toBe(0);
    const highest = fullJitterBackoff(attempt, options, () => almostOne);
    expect(highest).toBeLessThanOrEqual(ceiling);
    expect(highest).toBeGreaterThanOrEqual(ceiling - 1);
  });

  it('spreads waits across the whole window (full jitter)', () => {
    expect(fullJitterBackoff(3, options, () => 0.5)).toBe(4000);
    expect(fullJitterBackoff(3, options, () => 0.25)).toBe(2000);
  });

  it('treats attempts below 1 as the first', () => {
    expect(fullJitterBackoff(0, options, () => almostOne)).toBe(1999);
    expect(fullJitterBackoff(-3, options, () => almostOne)).toBe(1999);
  });

  it('raises short waits to minMs, never past the cap', () => {
    expect(fullJitterBackoff(1, { ...options, minMs: 1000 }, () => 0)).toBe(1000);
    expect(fullJitterBackoff(1, { ...options, minMs: 1000 }, () => 0.75)).toBe(1500);
    expect(fullJitterBackoff(1, { baseMs: 1000, capMs: 500, minMs: 1000 }, () => 0)).toBe(500);
  });

  it('stays within [minMs, cap] for any random value and attempt', () => {
    for (let attempt = 1; attempt <= 40; attempt += 1) {
      for (const r of [0, 0.1, 0.5, 0.9, almostOne]) {
        const ms = fullJitterBackoff(attempt, { baseMs: 5000, capMs: 60_000, minMs: 5000 }, () => r);
        expect(ms).toBeGreaterThanOrEqual(5000);
        expect(ms).toBeLessThanOrEqual(60_000);
        expect(Number.isInteger(ms)).toBe(true);
      }
    }
  });

  it('uses Math.random by default', () => {
    const ms = fullJitterBackoff(2, options);
    expect(ms).toBeGreaterThanOrEqual(0);
    expect(ms).toBeLessThan(4000);
  });
});
