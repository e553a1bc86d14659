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

  /** Monitors that should have a worker. */
  listActive(): Promise<MonitorEntity[]> {
    return this.repository.find({ where: { status: In([...ACTIVE_STATUSES]) }, order: { createdAt: 'ASC' } });
  }

  list(status?: MonitorStatus): Promise<MonitorEntity[]> {
    return this.repository.find({ where: status ? { status } : {}, order: { createdAt: 'DESC' } });
  }

  /**
   * Records a monitor as `starting`, refusing a second active monitor for the pair and any monitor that
   * would take the active monitors' request rate past the budget. Checks and insert run under one lock.
   */
  async createWithinBudget(values: NewMonitor, budgetPerMin: number): Promise<MonitorEntity> {
    return this.withinBudget(values, budgetPerMin, (repository) =>
      repository.save(repository.create({ ...values, status: 'starting' })),
    );
  }

  /**
   * Puts a stopped or failed monitor back to `starting`, under the same pair and budget checks as a new one.
   * Deaths before now no longer count towards its crash loop.
   */
  async reactivateWithinBudget(monitor: MonitorEntity, budgetPerMin: number): Promise<MonitorEntity> {
    return this.withinBudget(monitor, budgetPerMin, async (repository) => {
      const changes = { status: 'starting' as const, reason: null, stoppedAt: null, restartedAt: new Date() };
      await repository.update({ id: monitor.id }, changes);
      return Object.assign(monitor, changes);
    });
  }

  private async withinBudget(
    candidate: Pick<MonitorEntity, 'pair' | 'intervalMs'>,
    budgetPerMin: number,
    write: (repository: Repository<MonitorEntity>) => Promise<MonitorEntity>,
  ): Promise<MonitorEntity> {
    return this.repository.manager.transaction(async (manager) => {
      await manager.query('SELECT pg_advisory_xact_lock($1)', [CREATE_LOCK_KEY]);
      const repository = manager.getRepository(MonitorEntity);
      const active = await repository.find({ where: { status: In([...ACTIVE_STATUSES]) } });
      const existing = active.find((m) => m.pair === candidate.pair);
      if (existing) throw new PairAlreadyMonitoredError(existing.id);
      const used = active.reduce((sum, m) => sum + requestsPerMinute(m.intervalMs), 0);
      const needed = requestsPerMinute(candidate.intervalMs);
      if (used + needed > budgetPerMin + 1e-9) throw new RateBudgetExceededError(used, needed, budgetPerMin);
      return write(repository);
    });
  }

  async update(
    id: string,
    changes: Partial<Pick<MonitorEntity, 'status' | 'reason' | 'workerId' | 'stoppedAt' | 'restartedAt'>>,
  ): Promise<void> {
    await this.repository.update({ id }, changes);
  }

  /** Updates only while the monitor is still active; false when a DELETE or another replica got there first. */
  async updateIfActive(
    id: string,
    changes: Partial<Pick<MonitorEntity, 'status' | 'reason' | 'workerId'>>,
  ): Promise<boolean> {
    const result = await this.repository.update({ id, status: In([...ACTIVE_STATUSES]) }, changes);
    return (result.affected ?? 0) > 0;
  }

  async delete(id: string): Promise<void> {
    await this.repository.delete({ id });
  }
}
