import { HttpStatus, Injectable } from '@nestjs/common';
import { decodeCursor, encodeCursor } from './alert-cursor';
import { AlertsRepository } from './alerts.repository';
import { AlertPageDto, AlertStatsBucketDto } from './dto/alert.dto';
import { QueryAlertStatsDto, STATS_BUCKETS } from './dto/query-alert-stats.dto';
import { QueryAlertsDto } from './dto/query-alerts.dto';
import { pageLimit } from '../common/dto/page-query.dto';
import { httpError } from '../common/http-errors';
import { bucketRange } from '../common/time-buckets';

/** At most this many buckets in one GET /alerts/stats answer. */
export const MAX_STATS_BUCKETS = 1000;
/** The buckets GET /alerts/stats covers when `since` is not given: 30 days, or 24 hours. */
const DEFAULT_STATS_BUCKETS = { hour: 24, day: 30 } as const;

@Injectable()
export class AlertsService {
  constructor(private readonly alerts: AlertsRepository) {}

  async history(query: QueryAlertsDto): Promise<AlertPageDto> {
    // As statistics and candles say: a range given backwards is a mistake, not a question whose answer is none.
    if (query.since && query.until && Date.parse(query.since) > Date.parse(query.until)) {
      throw httpError(HttpStatus.BAD_REQUEST, 'since must not be after until', 'since');
    }
    const limit = pageLimit(query);
    // One row more than asked tells whether another page exists.
    const rows = await this.alerts.history({
      pair: query.pair,
      monitorId: query.monitorId,
      kind: query.kind,
      ruleId: query.ruleId,
      since: query.since ? new Date(query.since) : undefined,
      until: query.until ? new Date(query.until) : undefined,
      after: query.cursor ? decodeCursor(query.cursor) : undefined,
      limit: limit + 1,
      mayLag: true,
    });
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    // The rows are already in the served shape (AlertDto): no per-row mapping.
    return {
      items: page,
      nextCursor:
        rows.length > limit && last
          ? encodeCursor({ observedAt: new Date(last.observedAt), id: last.id })
          : null,
    };
  }

  /**
   * Alert counts per UTC bucket, kind and direction: every bucket from since's to the one holding `until`,
   * oldest first, empty ones included (total 0), so a chart has one bar per bucket. Counted over [since's
   * bucket start, until). More than 1,000 buckets, or since after until: 400 naming `since`.
   */
  async stats(query: QueryAlertStatsDto, now = Date.now()): Promise<AlertStatsBucketDto[]> {
    const bucket = query.bucket ?? 'day';
    const bucketS = STATS_BUCKETS[bucket];
    const range = bucketRange(
      query,
      bucketS,
      {
        defaultBuckets: DEFAULT_STATS_BUCKETS[bucket],
        maxBuckets: MAX_STATS_BUCKETS,
        label: `${bucket} buckets`,
        longer: bucket === 'hour' ? 'bucket=day' : undefined,
      },
      now,
    );
    const rows = await this.alerts.countByBucket({
      pair: query.pair,
      since: range.first,
      until: range.until,
      bucketS,
    });
    const buckets = Array.from({ length: range.buckets }, (_, i): AlertStatsBucketDto => ({
      t: new Date(range.first.getTime() + i * bucketS * 1000).toISOString(),
      total: 0,
      byKind: {},
    }));
    for (const row of rows) {
      const index = (Number(row.startS) * 1000 - range.first.getTime()) / (bucketS * 1000);
      const target = buckets[index];
      if (!target) continue;
      target.total += row.count;
      const byDirection = (target.byKind[row.kind] ??= {});
      byDirection[row.direction] = (byDirection[row.direction] ?? 0) + row.count;
    }
    return buckets;
  }
}
