import { Transform } from 'class-transformer';
import { IsIn, IsInt, IsOptional, IsString, MaxLength } from 'class-validator';
import { queryInt } from '../../common/transforms';
import { DELIVERY_STATUSES, DeliveryStatus } from '../webhook-events';

export const DELIVERIES_LIMIT = { min: 1, max: 500, default: 50 } as const;

export class QueryDeliveriesDto {
  /** Only deliveries in this status. */
  @IsOptional()
  @IsIn(DELIVERY_STATUSES, { message: `status must be one of ${DELIVERY_STATUSES.join(', ')}` })
  status?: DeliveryStatus;

  /** Page size; clamped to 1..500. Default 50. */
  @IsOptional()
  @Transform(queryInt)
  @IsInt({ message: 'limit must be a whole number' })
  limit?: number;

  /** The `nextCursor` of the previous page. */
  @IsOptional()
  @IsString()
  @MaxLength(200)
  cursor?: string;
}
