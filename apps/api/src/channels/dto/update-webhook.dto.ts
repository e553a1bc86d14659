import { IsBoolean } from 'class-validator';
import { IsOptionalNotNull } from '../../common/validators';
import type { WebhookEvent } from '../../notify/webhook-events';
import { WebhookRules } from './create-webhook.dto';

/** Only the fields given change; `enabled: true` also clears the reason the webhook was disabled. */
export class UpdateWebhookDto {
  /** Where deliveries are POSTed (the same rules as at creation). */
  @IsOptionalNotNull()
  @WebhookRules.url()
  url?: string;

  /** The events to deliver, at least one. */
  @WebhookRules.events()
  events?: WebhookEvent[];

  /** Only these pairs; empty: every pair. */
  @WebhookRules.pairs()
  pairs?: string[];

  /** A note for people, at most 200 characters. */
  @WebhookRules.description()
  description?: string;

  /** false: deliver nothing (pending deliveries fail); true: deliver again. */
  @IsOptionalNotNull()
  @IsBoolean({ message: 'enabled must be true or false' })
  enabled?: boolean;
}
