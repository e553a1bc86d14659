import { ApiExtraModels, ApiPropertyOptional } from '@nestjs/swagger';
import { Allow, IsInt, Max, Min } from 'class-validator';
import { MONITOR_LIMITS } from '@pairwatch/contracts';
import { IsOptionalNotNull } from '../../common/validators';
import { RULE_DTOS, rulesProperty } from './rule.dto';

const { intervalMs } = MONITOR_LIMITS;

/** PATCH /monitors/:id: the interval and the rules; the pair cannot change (an unknown field, refused). */
@ApiExtraModels(...RULE_DTOS)
export class UpdateMonitorDto {
  /**
   * How often the worker reads the ticker, in milliseconds.
   * @example 5000
   */
  @IsOptionalNotNull()
  @IsInt({ message: 'intervalMs must be a whole number of milliseconds' })
  @Min(intervalMs.min, { message: `intervalMs must be at least ${intervalMs.min}` })
  @Max(intervalMs.max, { message: `intervalMs must be at most ${intervalMs.max}` })
  intervalMs?: number;

  /**
   * Every rule of the monitor after the edit (1 to 10), checked as at create. A rule sent with its id keeps it
   * (and its fires); a rule without one gets the next free `rN`, past every id the monitor had.
   */
  @Allow()
  @ApiPropertyOptional(rulesProperty())
  rules?: unknown;
}
