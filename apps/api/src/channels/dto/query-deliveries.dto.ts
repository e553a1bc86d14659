import { IsIn, IsOptional } from 'class-validator';
import { PageQueryDto } from '../../common/dto/page-query.dto';
import { DELIVERY_STATUSES, DeliveryStatus } from '../../notify/webhook-events';

export class QueryDeliveriesDto extends PageQueryDto {
  /** Only deliveries in this status. */
  @IsOptional()
  @IsIn(DELIVERY_STATUSES, { message: `status must be one of ${DELIVERY_STATUSES.join(', ')}` })
  status?: DeliveryStatus;
}
