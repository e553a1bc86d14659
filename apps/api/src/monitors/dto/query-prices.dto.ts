import { IsOptional } from 'class-validator';
import { IsInstant } from '../../common/validators';

export class QueryPricesDto {
  /** Only ticks at or after this instant (ISO-8601 with an offset, or a date: UTC midnight); at most the last hour. */
  @IsOptional()
  @IsInstant({ message: 'since must be an ISO-8601 date-time with an offset, e.g. 2025-01-02T03:04:05Z' })
  since?: string;
}
