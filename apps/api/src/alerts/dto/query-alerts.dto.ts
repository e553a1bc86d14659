import { IntersectionType } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsOptional, IsString, IsUUID, Matches } from 'class-validator';
import { PAIR_PATTERN, PAIR_RULE_MESSAGE } from '@pairwatch/contracts';
import { PageQueryDto } from '../../common/dto/page-query.dto';
import { TimeRangeQueryDto } from '../../common/dto/time-range-query.dto';
import { upperCasePair } from '../../common/transforms';

/** GET /alerts: a page of alerts observed in [since, until), newest first. */
export class QueryAlertsDto extends IntersectionType(PageQueryDto, TimeRangeQueryDto) {
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
}
