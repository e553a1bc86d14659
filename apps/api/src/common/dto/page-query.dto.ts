import { Transform } from 'class-transformer';
import { IsInt, IsOptional, IsString, MaxLength } from 'class-validator';
import { queryInt } from '../transforms';

export const PAGE_LIMIT = { min: 1, max: 500, default: 50 } as const;

/** The page of a keyset-paginated list (alerts, webhook deliveries): its size and where it starts. */
export class PageQueryDto {
  /** Page size; clamped to 1..500. Default 50. */
  @IsOptional()
  @Transform(queryInt)
  @IsInt({
    message: `limit must be a whole number of at most 9 digits; a page holds ${PAGE_LIMIT.min} to ${PAGE_LIMIT.max} (a larger limit gives ${PAGE_LIMIT.max})`,
  })
  limit?: number;

  /** The `nextCursor` of the previous page. */
  @IsOptional()
  @IsString()
  @MaxLength(200)
  cursor?: string;
}

/** The page size asked for, clamped to {@link PAGE_LIMIT}. */
export function pageLimit(query: PageQueryDto): number {
  return Math.min(PAGE_LIMIT.max, Math.max(PAGE_LIMIT.min, query.limit ?? PAGE_LIMIT.default));
}
