import type { DeliveryAttempt, WebhookDeliveryEntity } from '../webhook-delivery.entity';
import type { DeliveryStatus, WebhookEvent, WebhookFormat } from '../../notify/webhook-events';
import type { WebhookEntity } from '../webhook.entity';

export class WebhookDto {
  id: string;
  /** @example https://example.com/hooks/pairwatch */
  url: string;
  events: WebhookEvent[];
  /** Empty: every pair. */
  pairs: string[];
  format: WebhookFormat;
  description: string | null;
  enabled: boolean;
  /** Why it was disabled, e.g. the endpoint answered 410 Gone; null when enabled by hand or never disabled. */
  disabledReason: string | null;
  /** Until when the secret before the last rotation also signs; null when none does. */
  previousSecretValidUntil: string | null;
  createdAt: string;
  updatedAt: string;

  static from(entity: WebhookEntity, now = new Date()): WebhookDto {
    const until = entity.previousSecretUntil;
    return {
      id: entity.id,
      url: entity.url ?? '',
      events: entity.events,
      pairs: entity.pairs,
      format: entity.format,
      description: entity.description,
      enabled: entity.enabled,
      disabledReason: entity.disabledReason,
      previousSecretValidUntil:
        until !== null && until.getTime() > now.getTime() ? until.toISOString() : null,
      createdAt: entity.createdAt.toISOString(),
      updatedAt: entity.updatedAt.toISOString(),
    };
  }
}

/** Create and rotate answer with the secret; nothing else ever shows it. */
export class WebhookWithSecretDto extends WebhookDto {
  /** `whsec_` + base64: verify deliveries with it (Standard Webhooks). Shown only now. */
  secret: string;
}

export class DeliveryAttemptDto implements DeliveryAttempt {
  /** When the attempt began (ISO-8601). */
  at: string;
  /** The endpoint's HTTP status; null when no answer came. */
  status: number | null;
  durationMs: number;
  /** Why it failed (refused, timed out, blocked…); null when it did not. */
  error: string | null;
}

export class DeliveryDto {
  /** Also the `webhook-id` header, the same on every attempt. */
  id: string;
  webhookId: string;
  eventType: WebhookEvent;
  /** The alert's id for alert.created. */
  eventId: string;
  status: DeliveryStatus;
  attempts: DeliveryAttemptDto[];
  /** When pending: when it is due. */
  nextAttemptAt: string | null;
  lastStatus: number | null;
  lastError: string | null;
  deliveredAt: string | null;
  createdAt: string;

  static from(entity: WebhookDeliveryEntity): DeliveryDto {
    return {
      id: entity.id,
      webhookId: entity.webhookId,
      eventType: entity.eventType,
      eventId: entity.eventId,
      status: entity.status,
      attempts: entity.attempts,
      nextAttemptAt: entity.status === 'pending' ? (entity.nextAttemptAt?.toISOString() ?? null) : null,
      lastStatus: entity.lastStatus,
      lastError: entity.lastError,
      deliveredAt: entity.deliveredAt?.toISOString() ?? null,
      createdAt: entity.createdAt.toISOString(),
    };
  }
}

export class DeliveryPageDto {
  /** Newest first. */
  items: DeliveryDto[];
  /** Pass as `cursor` to read the next page; null on the last page. */
  nextCursor: string | null;
}

export class QueuedDeliveryDto {
  /** The delivery queued; follow it in GET /webhooks/:id/deliveries. */
  deliveryId: string;
}
