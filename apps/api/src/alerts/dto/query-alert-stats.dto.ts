import { PickType } from '@nestjs/swagger';
import { IsIn, IsOptional } from 'class-validator';
import { QueryAlertsDto } from './query-alerts.dto';

/** The buckets GET /alerts/stats counts in, and their length in seconds. */
export const STATS_BUCKETS = { hour: 3600, day: 86_400 } as const;
export type StatsBucket = keyof typeof STATS_BUCKETS;

/**
 * GET /alerts/stats: alerts counted per UTC bucket from the one holding `since` (default: 30 days or 24 hours
 * before `until`) to `until` (default: now).
 */
export class QueryAlertStatsDto extends PickType(QueryAlertsDto, ['pair', 'since', 'until'] as const) {
  /** The bucket's length: hour or day (default), in UTC. */
  @IsOptional()
  @IsIn(Object.keys(STATS_BUCKETS), { message: 'bucket must be one of hour, day' })
  bucket?: StatsBucket;
}
