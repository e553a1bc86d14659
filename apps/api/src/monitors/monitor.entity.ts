import {
  Check,
  Column,
  CreateDateColumn,
  Entity,
  Index,
  PrimaryGeneratedColumn,
  UpdateDateColumn,
} from 'typeorm';
import { legacyMoveRule, type Direction, type PriceField, type Rule } from '@pairwatch/contracts';

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
@Check('monitors_rules_ck', `"rules" IS NOT NULL OR "threshold_percent" IS NOT NULL`)
export class MonitorEntity {
  @PrimaryGeneratedColumn('uuid', { primaryKeyConstraintName: 'PK_monitors' })
  id: string;

  @Column({ type: 'varchar', length: 25 })
  pair: string;

  @Column({ name: 'interval_ms', type: 'integer' })
  intervalMs: number;

  /**
   * The monitor's rules (libs/contracts rules.ts, stored normalised: every field present, ids assigned). Null on
   * rows from before rules existed: they read as the one `move` rule of the four columns below (rulesOf).
   */
  @Column({ type: 'jsonb', nullable: true })
  rules: Rule[] | null;

  /** The old one-rule columns: set on rows from before rules existed only. numeric comes back as a string. */
  @Column({ name: 'threshold_percent', type: 'numeric', nullable: true })
  thresholdPercent: string | null;

  @Column({ name: 'price_field', type: 'varchar', length: 3, nullable: true })
  priceField: PriceField | null;

  @Column({ type: 'varchar', length: 4, nullable: true })
  direction: Direction | null;

  @Column({ name: 'cooldown_ms', type: 'integer', nullable: true })
  cooldownMs: number | null;

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

/** A monitor's rules: its `rules`, or on a row from before rules existed the one `move` rule of its old columns. */
export function rulesOf(
  monitor: Pick<MonitorEntity, 'rules' | 'thresholdPercent' | 'priceField' | 'direction' | 'cooldownMs'>,
): Rule[] {
  if (monitor.rules) return monitor.rules;
  return [
    legacyMoveRule({
      thresholdPercent: monitor.thresholdPercent ?? undefined,
      priceField: monitor.priceField ?? undefined,
      direction: monitor.direction ?? undefined,
      cooldownMs: monitor.cooldownMs ?? undefined,
    }),
  ];
}
