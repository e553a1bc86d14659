import { Transform } from 'class-transformer';
import { IsInt, IsOptional, IsString, IsUUID, Matches, MaxLength } from 'class-validator';
import { PAIR_PATTERN, PAIR_RULE_MESSAGE } from '@pairwatch/contracts';
import { queryInt, upperCasePair } from '../../common/transforms';
import { IsInstant } from '../../common/validators';

export const ALERTS_LIMIT = { min: 1, max: 500, default: 50 } as const;

export class QueryAlertsDto {
  /** Only alerts of this pair (case-insensitive), e.g. BTC-USD. */
  @IsOptional()
  @Transform(upperCasePair)
  @IsString()
  @Matches(PAIR_PATTERN, { message: PAIR_RULE_MESSAGE })
  pair?: string;

  /** Only alerts of this monitor. */
  @IsOptional()
  @IsUUID('all', { message: 'monitorId must be a UUID' })
  monitorId?: string;

  /** Only alerts observed at or after this instant (ISO-8601 with an offset, or a date: UTC midnight). */
  @IsOptional()
  @IsInstant({ message: 'since must be an ISO-8601 date-time with an offset, e.g. 2025-01-02T03:04:05Z' })
  since?: string;

  /** Only alerts observed before this instant (ISO-8601 with an offset, or a date: UTC midnight). */
  @IsOptional()
  @IsInstant({ message: 'until must be an ISO-8601 date-time with an offset, e.g. 2025-01-02T03:04:05Z' })
  until?: string;

  /** Page size; clamped to 1..500. Default 50. */
  @IsOptional()
  @Transform(queryInt)
  @IsInt({ message: 'limit must be a whole number' })
  limit?: number;

  /** The `nextCursor` of the previous page. */
  @IsOptional()
  @IsString()
  @MaxLength(200)
  cursor?: string;
}
