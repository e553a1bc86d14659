import { Check, Column, CreateDateColumn, Entity, PrimaryGeneratedColumn, UpdateDateColumn } from 'typeorm';
import type { WebhookEvent, WebhookFormat } from '../notify/webhook-events';

@Entity('webhooks')
@Check('webhooks_format_ck', `"format" IN ('standard', 'slack', 'discord')`)
export class WebhookEntity {
  @PrimaryGeneratedColumn('uuid', { primaryKeyConstraintName: 'PK_webhooks' })
  id: string;

  @Column({ type: 'varchar', length: 2048 })
  url: string;

  @Column({ type: 'text', array: true })
  events: WebhookEvent[];

  /** Empty: every pair. */
  @Column({ type: 'text', array: true })
  pairs: string[];

  @Column({ type: 'varchar', length: 16 })
  format: WebhookFormat;

  @Column({ type: 'varchar', length: 200, nullable: true })
  description: string | null;

  /**
   * `whsec_` + base64, sealed by the SecretBox (AES-256-GCM under SECRETS_KEY): never in clear at rest, never
   * logged, returned only by create and rotate.
   */
  @Column({ type: 'text' })
  secret: string;

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
