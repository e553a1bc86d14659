import { Transform } from 'class-transformer';
import { IsOptional, IsString, IsUUID, Matches } from 'class-validator';
import { PAIR_PATTERN, PAIR_RULE_MESSAGE } from '@pairwatch/contracts';
import { PageQueryDto } from '../../common/dto/page-query.dto';
import { upperCasePair } from '../../common/transforms';
import { IsInstant } from '../../common/validators';

export class QueryAlertsDto extends PageQueryDto {
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
}
