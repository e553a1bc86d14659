import {
  Check,
  Column,
  CreateDateColumn,
  Entity,
  Index,
  JoinColumn,
  ManyToOne,
  PrimaryGeneratedColumn,
} from 'typeorm';
import type { DeliveryStatus, WebhookEvent } from '../notify/webhook-events';
import { WebhookEntity } from './webhook.entity';

/** One attempt to send a delivery, as the log shows it. */
export interface DeliveryAttempt {
  /** ISO-8601. */
  at: string;
  /** The endpoint's HTTP status; null when no answer came (refused, timed out, blocked). */
  status: number | null;
  durationMs: number;
  error: string | null;
}

/**
 * One event for one webhook: the outbox row, written in the transaction that made the event, and the delivery
 * log. Its id is the `webhook-id` header, the same on every attempt.
 */
@Entity('webhook_deliveries')
// The dispatcher's due query: pending rows by when they are due.
@Index('webhook_deliveries_due_idx', ['nextAttemptAt'], { where: `status = 'pending'` })
// The dispatcher's claim: which channels have due rows, and each one's oldest.
@Index('webhook_deliveries_channel_due_idx', ['webhookId', 'nextAttemptAt'], { where: `status = 'pending'` })
// The delivery log's pages: one webhook's rows, newest first.
@Index('webhook_deliveries_log_idx', ['webhookId', 'createdAt', 'id'])
// Retention: finished rows by age.
@Index('webhook_deliveries_finished_idx', ['createdAt'], { where: `status <> 'pending'` })
// One delivery per event and webhook: an event queued twice is queued once.
@Index('webhook_deliveries_event_uq', ['webhookId', 'eventType', 'eventId'], { unique: true })
// Held deliveries by when their hold ends (quiet hours, digest window, the hour's limit).
@Index('webhook_deliveries_held_idx', ['nextAttemptAt'], { where: `status = 'held'` })
// Messages a channel let go, by when (maxPerHour).
@Index('webhook_deliveries_released_idx', ['webhookId', 'releasedAt'], { where: `released_at IS NOT NULL` })
@Check(
  'webhook_deliveries_status_ck',
  `"status" IN ('pending', 'delivered', 'failed', 'held', 'digested', 'suppressed')`,
)
export class WebhookDeliveryEntity {
  @PrimaryGeneratedColumn('uuid', { primaryKeyConstraintName: 'PK_webhook_deliveries' })
  id: string;

  @Column({ name: 'webhook_id', type: 'uuid' })
  webhookId: string;

  @ManyToOne(() => WebhookEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'webhook_id', foreignKeyConstraintName: 'FK_webhook_deliveries_webhook' })
  webhook?: WebhookEntity;

  @Column({ name: 'event_type', type: 'varchar', length: 32 })
  eventType: WebhookEvent;

  /** The event's own id: the alert's, or one made for a monitor event or a test. */
  @Column({ name: 'event_id', type: 'varchar', length: 100 })
  eventId: string;

  /** When the event happened: the body's `timestamp`. */
  @Column({ name: 'occurred_at', type: 'timestamptz' })
  occurredAt: Date;

  /** The event's data: the body's `data`. */
  @Column({ type: 'jsonb' })
  payload: Record<string, unknown>;

  @Column({ type: 'varchar', length: 16, default: 'pending' })
  status: DeliveryStatus;

  /** Every attempt, oldest first. */
  @Column({ type: 'jsonb', default: () => `'[]'` })
  attempts: DeliveryAttempt[];

  /**
   * When a pending delivery is due. The dispatcher that takes it moves this forward by a lease, so one that
   * dies mid-send leaves it due again when the lease runs out.
   */
  @Column({ name: 'next_attempt_at', type: 'timestamptz', nullable: true })
  nextAttemptAt: Date | null;

  @Column({ name: 'last_status', type: 'integer', nullable: true })
  lastStatus: number | null;

  @Column({ name: 'last_error', type: 'text', nullable: true })
  lastError: string | null;

  @Column({ name: 'delivered_at', type: 'timestamptz', nullable: true })
  deliveredAt: Date | null;

  /** For a delivery carried by a digest (`digested`): the digest's delivery. */
  @Column({ name: 'digest_id', type: 'uuid', nullable: true })
  digestId: string | null;

  /**
   * When the channel's noise rules let this message go (its own, or a digest); null while undecided, held,
   * carried or suppressed. maxPerHour counts these.
   */
  @Column({ name: 'released_at', type: 'timestamptz', nullable: true })
  releasedAt: Date | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;
}
