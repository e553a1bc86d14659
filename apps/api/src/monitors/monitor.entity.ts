import {
  Check,
  Column,
  CreateDateColumn,
  Entity,
  Index,
  PrimaryGeneratedColumn,
  UpdateDateColumn,
} from 'typeorm';
import type { Direction, PriceField } from '@pairwatch/contracts';

export const MONITOR_STATUSES = ['starting', 'running', 'stopped', 'failed'] as const;
export type MonitorStatus = (typeof MONITOR_STATUSES)[number];
/** Statuses in which a monitor should have a worker; at most one such monitor per pair. */
export const ACTIVE_STATUSES: readonly MonitorStatus[] = ['starting', 'running'];

@Entity('monitors')
@Index('monitors_active_pair_uq', ['pair'], { unique: true, where: `status IN ('starting', 'running')` })
@Index('monitors_status_idx', ['status'])
@Check('monitors_status_ck', `"status" IN ('starting', 'running', 'stopped', 'failed')`)
@Check('monitors_price_field_ck', `"price_field" IN ('ask', 'bid', 'mid')`)
@Check('monitors_direction_ck', `"direction" IN ('both', 'up', 'down')`)
@Check('monitors_threshold_ck', `"threshold_percent" > 0`)
@Check('monitors_interval_ck', `"interval_ms" >= 1000`)
export class MonitorEntity {
  @PrimaryGeneratedColumn('uuid', { primaryKeyConstraintName: 'PK_monitors' })
  id: string;

  @Column({ type: 'varchar', length: 25 })
  pair: string;

  @Column({ name: 'interval_ms', type: 'integer' })
  intervalMs: number;

  /** numeric comes back from pg as a string: exact, never a float. */
  @Column({ name: 'threshold_percent', type: 'numeric' })
  thresholdPercent: string;

  @Column({ name: 'price_field', type: 'varchar', length: 3 })
  priceField: PriceField;

  @Column({ type: 'varchar', length: 4 })
  direction: Direction;

  @Column({ name: 'cooldown_ms', type: 'integer' })
  cooldownMs: number;

  @Column({ type: 'varchar', length: 16 })
  status: MonitorStatus;

  @Column({ type: 'text', nullable: true })
  reason: string | null;

  @Column({ name: 'worker_id', type: 'varchar', length: 128, nullable: true })
  workerId: string | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt: Date;

  @Column({ name: 'stopped_at', type: 'timestamptz', nullable: true })
  stoppedAt: Date | null;

  /** Set by POST /monitors/:id/restart: deaths before it no longer count towards a crash loop. */
  @Column({ name: 'restarted_at', type: 'timestamptz', nullable: true })
  restartedAt: Date | null;

  /**
   * Since when a running monitor's worker report has been missing (the open stale episode), or null. Set and
   * cleared by MonitorLifecycle (markStale, markReporting); any move to a status other than running clears it.
   */
  @Column({ name: 'stale_since', type: 'timestamptz', nullable: true })
  staleSince: Date | null;

  /** Set by POST /monitors/:id/mute: until then its alerts are stored but reach no channel (logged suppressed). */
  @Column({ name: 'muted_until', type: 'timestamptz', nullable: true })
  mutedUntil: Date | null;
}
