import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Repository } from 'typeorm';
import type { Workload, WorkerExit } from '../runtime/worker-runtime';
import { WorkerExitEntity } from './worker-exit.entity';

/** Workloads' deaths (the workers' and the relay's) in Postgres, shared by every API replica. */
@Injectable()
export class WorkerExitsRepository {
  constructor(
    @InjectRepository(WorkerExitEntity) private readonly repository: Repository<WorkerExitEntity>,
  ) {}

  /** Idempotent on the exit's key: true when this call recorded it (whichever replica saw it first). */
  async record(exit: WorkerExit): Promise<boolean> {
    const result = await this.repository
      .createQueryBuilder()
      .insert()
      .into(WorkerExitEntity)
      .values({
        key: exit.key,
        role: exit.workload.role,
        monitorId: exit.workload.role === 'worker' ? exit.workload.key : null,
        workerId: exit.workerId,
        exitCode: exit.exitCode,
        logTail: exit.logTail,
        exitedAt: exit.exitedAt,
      })
      .orIgnore()
      .returning('key')
      .updateEntity(false)
      .execute();
    return Array.isArray(result.raw) && result.raw.length > 0;
  }

  /** Deaths of the workload since `since`; a clean exit (code 0, asked to stop) is not a death. */
  async countDeaths(workload: Workload, since: Date): Promise<number> {
    const query = this.repository.createQueryBuilder('e').where('e.role = :role', { role: workload.role });
    if (workload.role === 'worker') query.andWhere('e.monitor_id = :monitorId', { monitorId: workload.key });
    return query
      .andWhere('e.exited_at >= :since', { since })
      .andWhere('e.exit_code IS DISTINCT FROM 0')
      .getCount();
  }
}
