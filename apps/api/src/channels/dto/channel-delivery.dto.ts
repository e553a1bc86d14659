import type { WebhookDeliveryEntity } from '../webhook-delivery.entity';
import { DeliveryDto } from './webhook.dto';

/** An alert a digest carries, as the log lists it. */
export class CarriedAlertDto {
  id: string;
  pair?: string;
  kind?: string;
  direction?: string;
  price?: string;
}

/** A delivery in a channel's log: a digest lists the alerts it carries; a carried alert names its digest. */
export class ChannelDeliveryDto extends DeliveryDto {
  channelId: string;
  /** For a `digested` delivery: the digest that carried it. */
  digestId: string | null;
  /** For a digest: the ids of the alerts it carries. */
  alertIds?: string[];
  alerts?: CarriedAlertDto[];

  static fromChannel(entity: WebhookDeliveryEntity): ChannelDeliveryDto {
    const base = DeliveryDto.from(entity);
    const view: ChannelDeliveryDto = { ...base, channelId: entity.webhookId, digestId: entity.digestId };
    if (entity.eventType === 'digest') {
      const alerts = Array.isArray(entity.payload.alerts)
        ? (entity.payload.alerts as Record<string, unknown>[])
        : [];
      const text = (v: unknown) => (typeof v === 'string' ? v : undefined);
      view.alerts = alerts.map((a) => ({
        id: String(a.id),
        pair: text(a.pair),
        kind: text(a.kind) ?? 'move',
        direction: text(a.direction),
        price: text(a.price),
      }));
      view.alertIds = view.alerts.map((a) => a.id);
    }
    return view;
  }
}

export class ChannelDeliveryPageDto {
  items: ChannelDeliveryDto[];
  nextCursor: string | null;
}
