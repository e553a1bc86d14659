import { DEFAULT_RETRY_SCHEDULE, parseDuration, parseRetrySchedule } from './durations';

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
