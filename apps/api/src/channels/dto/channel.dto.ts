import type { QuietHours } from '../../notify/channel-types';
import { type ChannelType, typeOfFormat } from '../../notify/webhook-events';
import type { WebhookEntity } from '../webhook.entity';

export class ChannelFilterView {
  pairs: string[];
  monitorIds: string[];
  kinds: string[];
  directions: string[];
}

/** A channel as the API shows it: never a secret (the answer of create and rotate adds it). */
export class ChannelDto {
  id: string;
  type: ChannelType;
  name: string | null;
  /** The type's config without its secret: url, to, chatId; `hasToken` for ntfy and telegram. */
  config: Record<string, unknown>;
  events: string[];
  filter: ChannelFilterView;
  quietHours: QuietHours | null;
  digest: { windowMs: number } | null;
  maxPerHour: number | null;
  enabled: boolean;
  disabledReason: string | null;
  snoozedUntil: string | null;
  /** Webhook, Slack, Discord: until when the secret before the last rotation also signs; null when none does. */
  previousSecretValidUntil: string | null;
  createdAt: string;
  updatedAt: string;

  static from(entity: WebhookEntity, now = new Date()): ChannelDto {
    const until = entity.previousSecretUntil;
    const type = typeOfFormat(entity.format);
    const config: Record<string, unknown> = { ...entity.config };
    if (entity.url !== null) config.url = entity.url;
    if (type === 'ntfy' || type === 'telegram') config.hasToken = entity.secret !== null;
    return {
      id: entity.id,
      type,
      name: entity.name ?? entity.description,
      config,
      events: entity.events,
      filter: {
        pairs: entity.pairs,
        monitorIds: entity.monitorIds,
        kinds: entity.kinds,
        directions: entity.directions,
      },
      quietHours: entity.quietHours,
      digest: entity.digestWindowMs === null ? null : { windowMs: entity.digestWindowMs },
      maxPerHour: entity.maxPerHour,
      enabled: entity.enabled,
      disabledReason: entity.disabledReason,
      snoozedUntil: entity.snoozedUntil?.toISOString() ?? null,
      previousSecretValidUntil:
        until !== null && until.getTime() > now.getTime() ? until.toISOString() : null,
      createdAt: entity.createdAt.toISOString(),
      updatedAt: entity.updatedAt.toISOString(),
    };
  }
}

/** Create and rotate (webhook, slack, discord) answer with the signing secret; nothing else ever shows it. */
export class ChannelWithSecretDto extends ChannelDto {
  /** `whsec_` + base64: verify deliveries with it (Standard Webhooks). Shown only now. */
  secret?: string;
}
