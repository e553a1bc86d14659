import { IsIn, IsOptional } from 'class-validator';
import { MONITOR_STATUSES, MonitorStatus } from '../monitor.entity';

export class QueryMonitorsDto {
  /** Only monitors in this status. */
  @IsOptional()
  @IsIn(MONITOR_STATUSES, { message: `status must be one of ${MONITOR_STATUSES.join(', ')}` })
  status?: MonitorStatus;
}
