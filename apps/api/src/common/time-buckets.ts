import { HttpStatus } from '@nestjs/common';
import { httpError } from './http-errors';

/** UTC time buckets of a whole number of seconds, starting at the epoch: the candles' and the alert statistics'. */

/** The start of the bucket of `intervalS` seconds that holds `ms`. */
export function bucketStart(ms: number, intervalS: number): number {
  const size = intervalS * 1000;
  return Math.floor(ms / size) * size;
}

/** How many buckets of `intervalS` the range [since, until) touches: from since's bucket to until's. */
export function bucketCount(sinceMs: number, untilMs: number, intervalS: number): number {
  if (untilMs <= sinceMs) return 0;
  const size = intervalS * 1000;
  return Math.ceil((untilMs - bucketStart(sinceMs, intervalS)) / size);
}

/** The buckets a range query serves: those starting in [first, until). */
export interface BucketRange {
  /** since's bucket start: the first bucket served. */
  first: Date;
  until: Date;
  buckets: number;
}

export interface BucketRangeQuery {
  since?: string;
  until?: string;
}

/**
 * A range query's buckets, as the candles and the statistics read `since`/`until` (validated instants, or
 * absent): `until` defaults to now, `since` to `defaultBuckets` buckets before until's. Refused with a 400
 * naming `since` when since is after until, or when the range touches more than `maxBuckets` buckets
 * (`label` names them in the message, e.g. "1h candles"; `longer` the parameter that takes longer buckets, e.g.
 * "interval=1h or 1d", where there is one).
 */
export function bucketRange(
  query: BucketRangeQuery,
  intervalS: number,
  options: { defaultBuckets: number; maxBuckets: number; label: string; longer?: string },
  now = Date.now(),
): BucketRange {
  const untilMs = query.until !== undefined ? Date.parse(query.until) : now;
  const sinceMs =
    query.since !== undefined
      ? Date.parse(query.since)
      : bucketStart(untilMs, intervalS) - (options.defaultBuckets - 1) * intervalS * 1000;
  if (sinceMs > untilMs) throw httpError(HttpStatus.BAD_REQUEST, 'since must not be after until', 'since');
  const buckets = bucketCount(sinceMs, untilMs, intervalS);
  if (buckets > options.maxBuckets) {
    throw httpError(
      HttpStatus.BAD_REQUEST,
      `since: the range gives ${buckets} ${options.label}, more than ${options.maxBuckets}; narrow it` +
        (options.longer ? ` or take longer buckets (${options.longer})` : ''),
      'since',
    );
  }
  return { first: new Date(bucketStart(sinceMs, intervalS)), until: new Date(untilMs), buckets };
}
