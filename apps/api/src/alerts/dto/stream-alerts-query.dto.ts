import { PickType } from '@nestjs/swagger';
import { IsOptional, IsString, MaxLength } from 'class-validator';
import { QueryAlertsDto } from './query-alerts.dto';

/** `GET /alerts/stream`: the history's filters (same rules, same messages), and where to resume. */
export class StreamAlertsQueryDto extends PickType(QueryAlertsDto, ['pair', 'monitorId'] as const) {
  /**
   * Resume after this alert: the `id:` of the last event received (the `Last-Event-ID` header, when sent,
   * wins). The alerts stored since are replayed from the history first.
   */
  @IsOptional()
  @IsString()
  @MaxLength(200)
  after?: string;
}
