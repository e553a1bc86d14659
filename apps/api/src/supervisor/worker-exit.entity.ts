import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

/**
 * One death of a worker, as the runtime reported it. The key is the same whichever API replica or path
 * saw the death, so the crash-loop count never counts one death twice.
 */
@Entity('worker_exits')
@Index('worker_exits_monitor_exited_idx', ['monitorId', 'exitedAt'])
export class WorkerExitEntity {
  @PrimaryColumn({ type: 'varchar', length: 300, primaryKeyConstraintName: 'PK_worker_exits' })
  key: string;

  @Column({ name: 'monitor_id', type: 'uuid' })
  monitorId: string;

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
