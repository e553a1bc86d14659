import { Column, CreateDateColumn, Entity, Index, PrimaryColumn } from 'typeorm';
import type { PriceField, RuleKind } from '@pairwatch/contracts';

@Entity('alerts')
@Index('alerts_pair_observed_idx', ['pair', 'observedAt', 'id'])
@Index('alerts_monitor_observed_idx', ['monitorId', 'observedAt', 'id'])
@Index('alerts_observed_idx', ['observedAt', 'id'])
@Index('alerts_monitor_rule_idx', ['monitorId', 'ruleId'])
export class AlertEntity {
  /** Made by the worker; the primary key makes ingestion idempotent. */
  @PrimaryColumn('uuid', { primaryKeyConstraintName: 'PK_alerts' })
  id: string;

  @Column({ name: 'monitor_id', type: 'uuid' })
  monitorId: string;

  @Column({ type: 'varchar', length: 25 })
  pair: string;

  /** The rule that fired; `r1` on rows from before rules existed. */
  @Column({ name: 'rule_id', type: 'varchar', length: 32, default: 'r1' })
  ruleId: string;

  @Column({ type: 'varchar', length: 16, default: 'move' })
  kind: RuleKind;

  /** Kind-specific facts: a level, a window's min and max, a peak, a spread. */
  @Column({ type: 'jsonb', default: () => "'{}'" })
  details: Record<string, string | number>;

  @Column({ type: 'varchar', length: 4 })
  direction: 'up' | 'down';

  @Column({ name: 'price_field', type: 'varchar', length: 3 })
  priceField: PriceField;

  @Column({ name: 'reference_price', type: 'numeric' })
  referencePrice: string;

  @Column({ type: 'numeric' })
  price: string;

  @Column({ name: 'change_percent', type: 'numeric' })
  changePercent: string;

  @Column({ name: 'threshold_percent', type: 'numeric' })
  thresholdPercent: string;

  @Column({ name: 'interval_ms', type: 'integer' })
  intervalMs: number;

  @Column({ name: 'observed_at', type: 'timestamptz' })
  observedAt: Date;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;
}
