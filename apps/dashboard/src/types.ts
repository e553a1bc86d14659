/**
 * The API's answers as the dashboard reads them: the response DTOs of apps/api themselves (type-only imports,
 * erased from the bundle), so a change of the wire shape breaks the dashboard's build rather than the page.
 */
import type { AlertDto, AlertPageDto } from '../../api/src/alerts/dto/alert.dto';
import type { MonitorDto, WorkerStateDto } from '../../api/src/monitors/dto/monitor.dto';
import type { PriceTickDto } from '../../api/src/monitors/dto/price-tick.dto';
import type { DeliveryDto, WebhookDto, WebhookWithSecretDto } from '../../api/src/channels/dto/webhook.dto';

export type Alert = AlertDto;
export type AlertPage = AlertPageDto;
export type Monitor = Omit<MonitorDto, 'worker'> & { worker: WorkerState | null };
export type MonitorStatus = MonitorDto['status'];
export type WorkerState = WorkerStateDto;
/** One tick of `GET /monitors/:id/prices`, newest last. */
export type PriceTick = PriceTickDto;
/** `secret` only in the answers of create and rotate. */
export type Webhook = WebhookDto & Partial<Pick<WebhookWithSecretDto, 'secret'>>;
export type Delivery = DeliveryDto;

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}
