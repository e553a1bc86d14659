import {
  DEFAULT_RETRY_SCHEDULE,
  nextRetryDelay,
  parseDuration,
  parseRetryAfter,
  parseRetrySchedule,
} from './retry-schedule';

describe('parseDuration', () => {
  it.each([
    ['500ms', 500],
    ['5s', 5000],
    ['5m', 300_000],
    ['2h', 7_200_000],
    ['30d', 2_592_000_000],
    [' 1s ', 1000],
    ['0s', 0],
  ])('%j is %d ms', (text, ms) => expect(parseDuration(text)).toBe(ms));

  it.each(['', '5', 's', '5 s', '-5s', '1.5s', '5w', '5S', '1e3s', '9999999999s'])('refuses %j', (text) =>
    expect(parseDuration(text)).toBeUndefined(),
  );
});

describe('parseRetrySchedule', () => {
  it('reads the contract default', () => {
    expect(parseRetrySchedule(DEFAULT_RETRY_SCHEDULE)).toEqual([
      5000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000,
    ]);
  });

  it.each([
    ['5s,5m,30m,2h', [5000, 300_000, 1_800_000, 7_200_000]],
    ['200ms', [200]],
    ['1s, 2s', [1000, 2000]],
  ])('%j', (text, delays) => expect(parseRetrySchedule(text)).toEqual(delays));

  it.each(['', ',', '5s,', '5s,,5m', '5s,x', Array(21).fill('1s').join(',')])('refuses %j', (text) =>
    expect(parseRetrySchedule(text)).toBeUndefined(),
  );
});

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
