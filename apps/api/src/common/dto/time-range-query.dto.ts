import { IsOptional } from 'class-validator';
import { IsInstant } from '../validators';

/** A time range of a read (alert history, statistics, candles): instants, each optional. */
export class TimeRangeQueryDto {
  /** From this instant on (ISO-8601 with an offset, or a date: UTC midnight). */
  @IsOptional()
  @IsInstant()
  since?: string;

  /** Before this instant (ISO-8601 with an offset, or a date: UTC midnight). */
  @IsOptional()
  @IsInstant()
  until?: string;
}
