import { Transform } from 'class-transformer';
import { ApiExtraModels, ApiPropertyOptional } from '@nestjs/swagger';
import { Allow, IsIn, IsInt, IsNumber, IsPositive, IsString, Matches, Max, Min } from 'class-validator';
import {
  DIRECTIONS,
  Direction,
  MONITOR_LIMITS,
  PAIR_PATTERN,
  PAIR_RULE_MESSAGE,
  PRICE_FIELDS,
  PriceField,
} from '@pairwatch/contracts';
import { upperCasePair } from '../../common/transforms';
import { IsOptionalNotNull, MaxDecimalPlaces } from '../../common/validators';
import { RULE_DTOS, rulesProperty } from './rule.dto';

const { intervalMs, thresholdPercent, cooldownMs } = MONITOR_LIMITS;

@ApiExtraModels(...RULE_DTOS)
export class CreateMonitorDto {
  /**
   * Two currency codes joined by a dash; lower case is accepted and upper-cased.
   * @example BTC-USD
   */
  @Transform(upperCasePair)
  @IsString({
    message: ({ value }) =>
      value === undefined || value === null ? 'pair is required' : 'pair must be a string',
  })
  @Matches(PAIR_PATTERN, { message: PAIR_RULE_MESSAGE })
  pair: string;

  /**
   * How often the worker reads the ticker, in milliseconds.
   * @example 5000
   */
  @IsOptionalNotNull()
  @IsInt({ message: 'intervalMs must be a whole number of milliseconds' })
  @Min(intervalMs.min, { message: `intervalMs must be at least ${intervalMs.min}` })
  @Max(intervalMs.max, { message: `intervalMs must be at most ${intervalMs.max}` })
  intervalMs?: number = intervalMs.default;

  /**
   * 1 to 10 rules (DESIGN.md "Rules"; docs/RULES.md), each checked by the contracts' parseRulesInput: an error
   * names its path (`rules[1].level`). Without it, the four fields below make one `move` rule as before; both at
   * once is refused.
   */
  @Allow()
  @ApiPropertyOptional(rulesProperty())
  rules?: unknown;

  /**
   * Alert when the price moves by at least this many percent from the reference. Default 0.01.
   * @example 0.01
   */
  @IsOptionalNotNull()
  @IsNumber({ allowNaN: false, allowInfinity: false }, { message: 'thresholdPercent must be a number' })
  @MaxDecimalPlaces(10)
  @IsPositive({ message: 'thresholdPercent must be greater than 0' })
  @Max(thresholdPercent.max, { message: `thresholdPercent must be at most ${thresholdPercent.max}` })
  thresholdPercent?: number;

  /** Which ticker price to watch: ask (default), bid, or mid = (ask + bid) / 2. Not with `rules`. */
  @IsOptionalNotNull()
  @IsIn(PRICE_FIELDS, { message: `priceField must be one of ${PRICE_FIELDS.join(', ')}` })
  priceField?: PriceField;

  /** Which moves to report: both (default), up or down. Not with `rules`. */
  @IsOptionalNotNull()
  @IsIn(DIRECTIONS, { message: `direction must be one of ${DIRECTIONS.join(', ')}` })
  direction?: Direction;

  /**
   * Minimum time between two alerts of this monitor, in milliseconds. Default 0. Not with `rules`.
   * @example 0
   */
  @IsOptionalNotNull()
  @IsInt({ message: 'cooldownMs must be a whole number of milliseconds' })
  @Min(cooldownMs.min, { message: `cooldownMs must be at least ${cooldownMs.min}` })
  @Max(cooldownMs.max, { message: `cooldownMs must be at most ${cooldownMs.max}` })
  cooldownMs?: number;
}
