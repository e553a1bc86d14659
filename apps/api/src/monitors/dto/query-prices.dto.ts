import { IsOptional } from 'class-validator';
import { IsInstant } from '../../common/validators';

export class QueryPricesDto {
  /** Only ticks at or after this instant (ISO-8601 with an offset, or a date: UTC midnight); at most the last hour. */
  @IsOptional()
  @IsInstant()
  since?: string;
}
