import { bucketStart, candleCount } from './candle-intervals';

describe('candle buckets', () => {
  const at = Date.parse('2026-12-06T10:37:12.345Z');

  it('start at the epoch, UTC', () => {
    expect(new Date(bucketStart(at, 60)).toISOString()).toBe('2026-12-06T10:37:00.000Z');
    expect(new Date(bucketStart(at, 300)).toISOString()).toBe('2026-12-06T10:35:00.000Z');
    expect(new Date(bucketStart(at, 86_400)).toISOString()).toBe('2026-12-06T00:00:00.000Z');
  });

  it('count the buckets a range touches, from the one holding since', () => {
    const day = Date.parse('2026-12-06T00:00:00.000Z');
    expect(candleCount(day, day + 86_400_000, 60)).toBe(1440);
    expect(candleCount(day + 30_000, day + 60_000, 60)).toBe(1);
    expect(candleCount(day + 30_000, day + 60_001, 60)).toBe(2);
    expect(candleCount(day, day, 60)).toBe(0);
  });
});
