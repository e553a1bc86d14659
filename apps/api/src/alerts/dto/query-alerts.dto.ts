import { IntersectionType } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsIn, IsOptional, IsString, IsUUID, Matches } from 'class-validator';
import { PAIR_PATTERN, PAIR_RULE_MESSAGE, RULE_KINDS, RULE_LIMITS, RuleKind } from '@pairwatch/contracts';
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

  /** Only alerts of rules of this kind. */
  @IsOptional()
  @IsIn(RULE_KINDS, { message: `kind must be one of ${RULE_KINDS.join(', ')}` })
  kind?: RuleKind;

  /** Only alerts of the rule with this id (e.g. r1; alerts from before rules existed are r1). */
  @IsOptional()
  @IsString({ message: 'ruleId must be a string' })
  @Matches(RULE_LIMITS.id, { message: 'ruleId must be a rule id: 1 to 32 letters, digits, "_" or "-"' })
  ruleId?: string;
}
