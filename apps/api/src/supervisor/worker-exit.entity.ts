import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import type { WorkloadRole } from '../runtime/worker-runtime';

/**
 * One death of a workload (a worker, or the relay), as the runtime reported it. The key is the same whichever
 * API replica or path saw the death, so the crash-loop count never counts one death twice.
 */
@Entity('worker_exits')
@Index('worker_exits_monitor_exited_idx', ['monitorId', 'exitedAt'])
@Index('worker_exits_role_exited_idx', ['role', 'exitedAt'])
export class WorkerExitEntity {
  @PrimaryColumn({ type: 'varchar', length: 300, primaryKeyConstraintName: 'PK_worker_exits' })
  key: string;

  @Column({ type: 'varchar', length: 16, default: 'worker' })
  role: WorkloadRole;

  /** The worker's monitor; null for the relay. */
  @Column({ name: 'monitor_id', type: 'uuid', nullable: true })
  monitorId: string | null;

  @Column({ name: 'worker_id', type: 'varchar', length: 128 })
  workerId: string;

  @Column({ name: 'exit_code', type: 'integer', nullable: true })
  exitCode: number | null;

  @Column({ name: 'log_tail', type: 'text' })
  logTail: string;

  @Column({ name: 'exited_at', type: 'timestamptz' })
  exitedAt: Date;

  @Column({ name: 'recorded_at', type: 'timestamptz', default: () => 'now()' })
  recordedAt: Date;
}
