import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { In, Repository } from 'typeorm';
import { ACTIVE_STATUSES, MonitorEntity, MonitorStatus } from './monitor.entity';

export type NewMonitor = Pick<
  MonitorEntity,
  'pair' | 'intervalMs' | 'thresholdPercent' | 'priceField' | 'direction' | 'cooldownMs'
>;

export class PairAlreadyMonitoredError extends Error {
  constructor(readonly existingId: string) {
    super(`pair is already monitored by monitor ${existingId}`);
  }
}

export class RateBudgetExceededError extends Error {
  constructor(
    readonly usedPerMin: number,
    readonly neededPerMin: number,
    readonly budgetPerMin: number,
  ) {
    super('rate budget exceeded');
  }
}

/** Uphold allows so many requests a minute per client IP, and every worker leaves through the same one. */
export function requestsPerMinute(intervalMs: number): number {
  return 60_000 / intervalMs;
}

// Serialises monitor creation so the pair check and the budget check see every committed monitor.
const CREATE_LOCK_KEY = 0x70617772; // "pawr"

/** Monitors in Postgres. */
@Injectable()
export class MonitorsRepository {
  constructor(@InjectRepository(MonitorEntity) private readonly repository: Repository<MonitorEntity>) {}

  findById(id: string): Promise<MonitorEntity | null> {
    return this.repository.findOneBy({ id });
  }

  findActiveByPair(pair: string): Promise<MonitorEntity | null> {
    return this.repository.findOneBy({ pair, status: In([...ACTIVE_STATUSES]) });
  }

  list(status?: MonitorStatus): Promise<MonitorEntity[]> {
    return this.repository.find({ where: status ? { status } : {}, order: { createdAt: 'DESC' } });
  }

  /**
   * Records a monitor as `starting`, refusing a second active monitor for the pair and any monitor that
   * would take the active monitors' request rate past the budget. Checks and insert run under one lock.
   */
  async createWithinBudget(values: NewMonitor, budgetPerMin: number): Promise<MonitorEntity> {
    return this.repository.manager.transaction(async (manager) => {
      await manager.query('SELECT pg_advisory_xact_lock($1)', [CREATE_LOCK_KEY]);
      const repository = manager.getRepository(MonitorEntity);
      const active = await repository.find({ where: { status: In([...ACTIVE_STATUSES]) } });
      const existing = active.find((m) => m.pair === values.pair);
      if (existing) throw new PairAlreadyMonitoredError(existing.id);
      const used = active.reduce((sum, m) => sum + requestsPerMinute(m.intervalMs), 0);
      const needed = requestsPerMinute(values.intervalMs);
      if (used + needed > budgetPerMin + 1e-9) throw new RateBudgetExceededError(used, needed, budgetPerMin);
      return repository.save(repository.create({ ...values, status: 'starting' }));
    });
  }

  async update(
    id: string,
    changes: Partial<Pick<MonitorEntity, 'status' | 'reason' | 'workerId' | 'stoppedAt'>>,
  ): Promise<void> {
    await this.repository.update({ id }, changes);
  }

  async delete(id: string): Promise<void> {
    await this.repository.delete({ id });
  }
}
