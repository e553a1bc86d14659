import { IsOptional } from 'class-validator';
import { IsInstant } from '../validators';

/** A time range of a read (alert history, statistics, candles): instants, each optional. */
export class TimeRangeQueryDto {
  /** From this instant on (ISO-8601 with an offset, or a date: UTC midnight). */
  @IsOptional()
  @IsInstant({ message: 'since must be an ISO-8601 date-time with an offset, e.g. 2025-01-02T03:04:05Z' })
  since?: string;

  /** Before this instant (ISO-8601 with an offset, or a date: UTC midnight). */
  @IsOptional()
  @IsInstant({ message: 'until must be an ISO-8601 date-time with an offset, e.g. 2025-01-02T03:04:05Z' })
  until?: string;
}
