import { Check, Column, CreateDateColumn, Entity, PrimaryGeneratedColumn, UpdateDateColumn } from 'typeorm';
import type { ChannelConfig, QuietHours } from '../notify/channel-types';
import type { WebhookEvent, WebhookFormat } from '../notify/webhook-events';

/**
 * A channel: where deliveries go (table `channels`, named `webhooks` before its other types came): the webhook,
 * Slack and Discord endpoints registered through `/webhooks` are channels of those types, and `/channels` adds
 * email, Telegram, ntfy and Alertmanager on the same outbox. `format` is the channel's type (`standard` is
 * `webhook`).
 */
@Entity('channels')
@Check(
  'channels_format_ck',
  `"format" IN ('standard', 'slack', 'discord', 'email', 'telegram', 'ntfy', 'alertmanager')`,
)
@Check('channels_digest_ck', `"digest_window_ms" BETWEEN 1000 AND 3600000`)
@Check('channels_max_per_hour_ck', `"max_per_hour" >= 1`)
export class WebhookEntity {
  @PrimaryGeneratedColumn('uuid', { primaryKeyConstraintName: 'PK_channels' })
  id: string;

  /** The URL of the HTTP types (webhook, slack, discord, ntfy, alertmanager); null for email and telegram. */
  @Column({ type: 'varchar', length: 2048, nullable: true })
  url: string | null;

  @Column({ type: 'varchar', length: 100, nullable: true })
  name: string | null;

  /** The type's settings that are not secret (email `to`, telegram `chatId`); `{}` for the others. */
  @Column({ type: 'jsonb', default: () => `'{}'` })
  config: ChannelConfig;

  @Column({ type: 'text', array: true })
  events: WebhookEvent[];

  /** Empty: every pair. */
  @Column({ type: 'text', array: true })
  pairs: string[];

  /** Empty: every monitor. */
  @Column({ name: 'monitor_ids', type: 'text', array: true, default: () => `'{}'` })
  monitorIds: string[];

  /** Empty: every rule kind. */
  @Column({ type: 'text', array: true, default: () => `'{}'` })
  kinds: string[];

  /** Empty: both directions. */
  @Column({ type: 'text', array: true, default: () => `'{}'` })
  directions: string[];

  @Column({ type: 'varchar', length: 16 })
  format: WebhookFormat;

  /** Deliveries in these windows are held and go out as one digest when the window ends. */
  @Column({ name: 'quiet_hours', type: 'jsonb', nullable: true })
  quietHours: QuietHours | null;

  /** Alerts within this time of the first one go out as one digest. */
  @Column({ name: 'digest_window_ms', type: 'integer', nullable: true })
  digestWindowMs: number | null;

  /** Past this many messages in an hour, that hour's alerts go out as one digest at its end. */
  @Column({ name: 'max_per_hour', type: 'integer', nullable: true })
  maxPerHour: number | null;

  /** Until then nothing is sent: deliveries are logged `suppressed`. */
  @Column({ name: 'snoozed_until', type: 'timestamptz', nullable: true })
  snoozedUntil: Date | null;

  /**
   * The receiver asked for a pause (a 429 with Retry-After, Telegram's `retry_after`): none of the channel's
   * deliveries is sent before then.
   */
  @Column({ name: 'send_after', type: 'timestamptz', nullable: true })
  sendAfter: Date | null;

  @Column({ type: 'varchar', length: 200, nullable: true })
  description: string | null;

  /**
   * The channel's secret, sealed by the SecretBox (AES-256-GCM under SECRETS_KEY): never in clear at rest, never
   * logged. webhook, slack, discord: the `whsec_` signing secret, returned only by create and rotate; telegram:
   * the bot token; ntfy: the access token (or null); email and alertmanager: null.
   */
  @Column({ type: 'text', nullable: true })
  secret: string | null;

  /** The secret before the last rotation (sealed), which keeps signing alongside until previousSecretUntil. */
  @Column({ name: 'previous_secret', type: 'text', nullable: true })
  previousSecret: string | null;

  @Column({ name: 'previous_secret_until', type: 'timestamptz', nullable: true })
  previousSecretUntil: Date | null;

  @Column({ type: 'boolean', default: true })
  enabled: boolean;

  /** Why the dispatcher disabled the webhook (e.g. the endpoint answered 410 Gone). */
  @Column({ name: 'disabled_reason', type: 'text', nullable: true })
  disabledReason: string | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt: Date;
}
