import { Transform } from 'class-transformer';
import { Allow, IsInt, IsOptional, IsString, Matches, Max, Min } from 'class-validator';
import { ApiExtraModels, ApiPropertyOptional } from '@nestjs/swagger';
import { MONITOR_LIMITS, PAIR_PATTERN, PAIR_RULE_MESSAGE } from '@pairwatch/contracts';
import { upperCasePair } from '../../common/transforms';
import { IsInstant, IsOptionalNotNull } from '../../common/validators';
import { RULE_DTOS, rulesProperty } from './rule.dto';

const { intervalMs } = MONITOR_LIMITS;

/** POST /monitors/backtest: rules over the stored ticks of a pair in [since, until) (30 days at most). */
@ApiExtraModels(...RULE_DTOS)
export class BacktestDto {
  /** @example BTC-USD */
  @Transform(upperCasePair)
  @IsString({ message: 'pair must be a string' })
  @Matches(PAIR_PATTERN, { message: PAIR_RULE_MESSAGE })
  pair: string;

  /** The interval the rules would run at (a window must be at least this long). Default 5000. */
  @IsOptionalNotNull()
  @IsInt({ message: 'intervalMs must be a whole number of milliseconds' })
  @Min(intervalMs.min, { message: `intervalMs must be at least ${intervalMs.min}` })
  @Max(intervalMs.max, { message: `intervalMs must be at most ${intervalMs.max}` })
  intervalMs?: number = intervalMs.default;

  /** 1 to 10 rules, as POST /monitors takes them. */
  @Allow()
  @ApiPropertyOptional(rulesProperty())
  rules: unknown;

  /** From this instant (ISO-8601); default 24 h before `until`. */
  @IsOptional()
  @IsInstant()
  since?: string;

  /** Up to this instant (excluded); default now. */
  @IsOptional()
  @IsInstant()
  until?: string;
}

/** What a backtest answers: exactly the alerts a live worker would have fired over those ticks. */
export class BacktestResultDto {
  /** How many stored ticks the rules went through. */
  ticks: number;
  from: string | null;
  to: string | null;
  /**
   * Each alert as the worker would publish it (ruleId, kind, details, prices), with its observedAt, in time
   * order: each rule's first 1,000 in the range (BACKTEST_ALERTS_PER_RULE); `firedByRule` counts them all.
   */
  alerts: Record<string, unknown>[];
  /**
   * How many times each rule would have fired in the range, every alert counted, listed or not.
   * @example {"r1": 3}
   */
  firedByRule: Record<string, number>;
  /** True when some rule fired more than 1,000 times: `alerts` lists only its first 1,000. */
  alertsTruncated: boolean;
}
