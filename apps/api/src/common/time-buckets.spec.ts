import { HttpException } from '@nestjs/common';
import { bucketCount, bucketRange, bucketStart } from './time-buckets';

describe('time buckets', () => {
  const at = Date.parse('2026-12-06T10:37:12.345Z');
  const day = Date.parse('2026-12-06T00:00:00.000Z');

  it('start at the epoch, UTC', () => {
    expect(new Date(bucketStart(at, 60)).toISOString()).toBe('2026-12-06T10:37:00.000Z');
    expect(new Date(bucketStart(at, 300)).toISOString()).toBe('2026-12-06T10:35:00.000Z');
    expect(new Date(bucketStart(at, 86_400)).toISOString()).toBe('2026-12-06T00:00:00.000Z');
  });

  it('count the buckets a range touches, from the one holding since', () => {
    expect(bucketCount(day, day + 86_400_000, 60)).toBe(1440);
    expect(bucketCount(day + 30_000, day + 60_000, 60)).toBe(1);
    expect(bucketCount(day + 30_000, day + 60_001, 60)).toBe(2);
    expect(bucketCount(day, day, 60)).toBe(0);
  });

  describe('a range query', () => {
    const options = { defaultBuckets: 30, maxBuckets: 1000, label: 'day buckets' };

    it('defaults to now and to the default count of buckets before it', () => {
      const range = bucketRange({}, 86_400, options, at);
      expect(range.until.toISOString()).toBe('2026-12-06T10:37:12.345Z');
      expect(range.first.toISOString()).toBe('2026-11-07T00:00:00.000Z');
      expect(range.buckets).toBe(30);
    });

    it("starts at since's bucket", () => {
      const range = bucketRange(
        { since: '2026-12-05T13:00:00Z', until: '2026-12-06T00:00:00Z' },
        3600,
        options,
      );
      expect(range.first.toISOString()).toBe('2026-12-05T13:00:00.000Z');
      expect(range.buckets).toBe(11);
    });

    const refusal = (fn: () => unknown) => {
      try {
        fn();
      } catch (error) {
        return (error as HttpException).getResponse();
      }
      throw new Error('not refused');
    };

    it('refuses since after until, naming since', () => {
      expect(refusal(() => bucketRange({ since: '2026-12-06', until: '2026-12-05' }, 60, options))).toEqual(
        expect.objectContaining({
          statusCode: 400,
          errors: [{ field: 'since', messages: expect.any(Array) }],
        }),
      );
    });

    it('refuses more buckets than the most, naming since and the count', () => {
      const body = refusal(() =>
        bucketRange({ since: '2026-01-01', until: '2026-12-06' }, 3600, options),
      ) as {
        errors: { field: string; messages: string[] }[];
      };
      expect(body.errors[0].field).toBe('since');
      expect(body.errors[0].messages[0]).toMatch(/8136 day buckets, more than 1000/);
    });

    it('names the parameter that takes longer buckets when there is one, and none past the longest', () => {
      const message = (longer?: string) =>
        (
          refusal(() =>
            bucketRange({ since: '2026-01-01', until: '2026-12-06' }, 3600, { ...options, longer }),
          ) as { message: string[] }
        ).message[0];
      expect(message('bucket=day')).toMatch(/; narrow it or take longer buckets \(bucket=day\)$/);
      expect(message()).toMatch(/; narrow it$/);
    });
  });
});
