import { nextRetryDelay, parseRetryAfter } from './retry-schedule';

describe('nextRetryDelay', () => {
  const schedule = [1000, 10_000];

  it.each([
    // attempts, random, retryAfter, expected
    [1, 0.5, undefined, 1000],
    [1, 0, undefined, 800],
    [1, 1, undefined, 1200],
    [2, 0.5, undefined, 10_000],
    [2, 0, undefined, 8000],
    [1, 0.5, 5000, 5000], // a longer Retry-After wins
    [1, 1, 500, 1200], // a shorter one does not
    [3, 0.5, undefined, null], // schedule spent: failed
    [3, 0.5, 60_000, null],
  ])('after %d attempt(s), random %d, Retry-After %j → %j', (attempts, random, retryAfter, expected) => {
    expect(nextRetryDelay(schedule, attempts, retryAfter, () => random)).toBe(expected);
  });

  it('stays within ±20 % for any random draw', () => {
    for (let i = 0; i < 1000; i += 1) {
      const delay = nextRetryDelay([100_000], 1, undefined) as number;
      expect(delay).toBeGreaterThanOrEqual(80_000);
      expect(delay).toBeLessThanOrEqual(120_000);
    }
  });
});

describe('parseRetryAfter', () => {
  const now = Date.UTC(2026, 0, 1, 12, 0, 0);
  it.each([
    [undefined, undefined],
    ['120', 120_000],
    [' 3 ', 3000],
    ['Thu, 01 Jan 2026 12:01:00 GMT', 60_000],
    ['Thu, 01 Jan 2026 11:00:00 GMT', 0],
    ['soon', undefined],
    ['-5', undefined],
  ])('%j → %j', (value, expected) => expect(parseRetryAfter(value, now)).toBe(expected));
});
