import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { planFits, planUpstream, UpstreamPlan } from '@pairwatch/contracts';
import { EntityManager, In, Repository } from 'typeorm';
import { DatabaseLock, DatabaseRepository } from '../database/database.repository';
import { ACTIVE_STATUSES, MONITOR_STATUSES, MonitorEntity, MonitorStatus } from './monitor.entity';

/** A new monitor: its pair, interval and rules (the old one-rule columns stay empty on new rows). */
export type NewMonitor = Pick<MonitorEntity, 'pair' | 'intervalMs' | 'rules'>;

export class PairAlreadyMonitoredError extends Error {
  constructor(readonly existingId: string) {
    super(`pair is already monitored by monitor ${existingId}`);
  }
}

export class RateBudgetExceededError extends Error {
  constructor(
    /** What the upstream plan of the active monitors costs. */
    readonly usedPerMin: number,
    /** What it would cost with the candidate. */
    readonly plannedPerMin: number,
    readonly budgetPerMin: number,
  ) {
    super('rate budget exceeded');
  }
}

/**
 * What admission checks a monitor against: Uphold allows `limitPerMin` requests a minute per client IP, and
 * the upstream plan (libs/contracts) says what the active monitors cost — through the relay (a list serves
 * every pair of a currency) or without it (one request per pair per interval).
 */
export interface UpstreamBudget {
  limitPerMin: number;
  relay: boolean;
  /** Pairs the relay found in no currency list (its /stats); best effort, empty when unknown. */
  pairEndpointOnly: readonly string[];
}

/** A monitor as the upstream plan and admission see it: a plain row, no entity. */
export type MonitorDemand = Pick<MonitorEntity, 'id' | 'pair' | 'intervalMs'>;

/** An active monitor as GET /health reads it: its demand, and what tells whether its first report is due. */
export type ActiveMonitor = MonitorDemand & Pick<MonitorEntity, 'status' | 'updatedAt'>;

/** The upstream plans of the active monitors, and of them with the candidate: what admission compares. */
export function admissionPlans(
  active: ReadonlyArray<Pick<MonitorEntity, 'pair' | 'intervalMs'>>,
  candidate: Pick<MonitorEntity, 'pair' | 'intervalMs'>,
  budget: UpstreamBudget,
): { used: UpstreamPlan; planned: UpstreamPlan } {
  const options = { relay: budget.relay, pairEndpointOnly: budget.pairEndpointOnly };
  const demand = active.map(({ pair, intervalMs }) => ({ pair, intervalMs }));
  return {
    used: planUpstream(demand, options),
    planned: planUpstream([...demand, { pair: candidate.pair, intervalMs: candidate.intervalMs }], options),
  };
}

/** The columns a status transition sets: the status, and whichever of the others it names. */
export interface StatusChange {
  status: MonitorStatus;
  reason?: string | null;
  workerId?: string | null;
  stoppedAt?: Date | null;
  restartedAt?: Date | null;
}

/** A conditional transition: applied only while the row's status is one of `from`. */
export interface StatusMove {
  from: readonly MonitorStatus[];
  change: StatusChange;
}

const CHANGE_COLUMNS: Record<keyof StatusChange, string> = {
  status: 'status',
  reason: 'reason',
  workerId: 'worker_id',
  stoppedAt: 'stopped_at',
  restartedAt: 'restarted_at',
};

/**
 * Monitors in Postgres. The writes of a monitor's status (insertWithinBudget, moveWithinBudget, move,
 * deleteIfIn, markStale) are called by MonitorLifecycle only, which owns the transitions.
 */
@Injectable()
export class MonitorsRepository {
  constructor(
    @InjectRepository(MonitorEntity) private readonly repository: Repository<MonitorEntity>,
    private readonly database: DatabaseRepository,
  ) {}

  findById(id: string): Promise<MonitorEntity | null> {
    return this.repository.findOneBy({ id });
  }

  /**
   * Whether a monitor with this id exists: one primary-key lookup sent as it is, without building a query
   * and hydrating an entity (GET /monitors/:id/prices asks it on every call).
   */
  async exists(id: string): Promise<boolean> {
    const { tableName } = this.repository.metadata;
    const rows = await this.repository.query<unknown[]>(`SELECT 1 FROM "${tableName}" WHERE id = $1`, [id]);
    return rows.length > 0;
  }

  /** Sets (or lifts, null) a monitor's mute; false when there is no such monitor. */
  async setMutedUntil(id: string, until: Date | null): Promise<boolean> {
    const result = await this.repository.update({ id }, { mutedUntil: until });
    return (result.affected ?? 0) > 0;
  }

  /**
   * The ids of the monitors of a pair that may have ticked at or after `since`: those not stopped, or stopped
   * since then (a backtest reads their recent-tick streams).
   */
  async idsOfPairTickingSince(pair: string, since: Date): Promise<string[]> {
    const { tableName } = this.repository.metadata;
    const rows = await this.repository.query<{ id: string }[]>(
      `SELECT id FROM "${tableName}" WHERE pair = $1 AND (stopped_at IS NULL OR stopped_at >= $2) ORDER BY id`,
      [pair, since.toISOString()],
    );
    return rows.map((row) => row.id);
  }

  findActiveByPair(pair: string): Promise<MonitorEntity | null> {
    return this.repository.findOneBy({ pair, status: In([...ACTIVE_STATUSES]) });
  }

  /** Monitors that should have a worker. */
  listActive(): Promise<MonitorEntity[]> {
    return this.repository.find({ where: { status: In([...ACTIVE_STATUSES]) }, order: { createdAt: 'ASC' } });
  }

  /**
   * The active monitors as plain rows (oldest first) and how many monitors failed, in one query without
   * entity hydration: GET /health asks on every call (at 300 monitors hydrating them cost more than the SQL).
   */
  async activeDemandAndFailed(): Promise<{ active: ActiveMonitor[]; failed: number }> {
    const rows = await this.demandIn([...ACTIVE_STATUSES, 'failed']);
    const active = rows.filter((row) => row.status !== 'failed');
    return { active, failed: rows.length - active.length };
  }

  /** How many monitors are in each status (every status present, 0 when none): one GROUP BY, for /metrics. */
  async countByStatus(): Promise<Record<MonitorStatus, number>> {
    const rows = await this.repository
      .createQueryBuilder('m')
      .select('m.status', 'status')
      .addSelect('count(*)::int', 'n')
      .groupBy('m.status')
      .getRawMany<{ status: MonitorStatus; n: number }>();
    const counts = Object.fromEntries(MONITOR_STATUSES.map((s) => [s, 0])) as Record<MonitorStatus, number>;
    for (const { status, n } of rows) if (status in counts) counts[status] = Number(n);
    return counts;
  }

  list(status?: MonitorStatus): Promise<MonitorEntity[]> {
    return this.repository.find({ where: status ? { status } : {}, order: { createdAt: 'DESC' } });
  }

  /**
   * Records a new monitor, refusing a second active monitor for the pair and any monitor that would take
   * the active monitors' request rate past the budget. Checks and insert run under one lock.
   */
  insertWithinBudget(
    row: NewMonitor & Pick<MonitorEntity, 'status'>,
    budget: UpstreamBudget,
  ): Promise<MonitorEntity> {
    return this.withinBudget(row, budget, (manager) => {
      const repository = manager.getRepository(MonitorEntity);
      return repository.save(repository.create(row));
    });
  }

  /** move(), under the same pair and budget checks as a new monitor (for a monitor going back to work). */
  moveWithinBudget(
    monitor: Pick<MonitorEntity, 'id' | 'pair' | 'intervalMs'>,
    move: StatusMove,
    budget: UpstreamBudget,
  ): Promise<MonitorStatus | null> {
    return this.withinBudget(monitor, budget, (manager) => this.move(monitor.id, move, manager));
  }

  /**
   * Applies the change in one statement while the row's status is one of `move.from`, locking the row so
   * concurrent moves queue up. Answers the status the row moved from, or null when it was in none of them
   * (another replica or request got there first) or is gone.
   */
  async move(
    id: string,
    move: StatusMove,
    manager: EntityManager = this.repository.manager,
  ): Promise<MonitorStatus | null> {
    const entries = (Object.entries(move.change) as [keyof StatusChange, unknown][]).filter(
      ([, value]) => value !== undefined,
    );
    const sets = entries.map(([key], i) => `"${CHANGE_COLUMNS[key]}" = $${i + 3}`);
    // A stale episode is one of a running monitor: any other status ends it.
    const status = `$${entries.findIndex(([key]) => key === 'status') + 3}::varchar`;
    const rows = await manager.query<{ from: MonitorStatus }[]>(
      `WITH moved AS (
         UPDATE monitors AS m SET ${sets.join(', ')}, "updated_at" = now(),
           "stale_since" = CASE WHEN ${status} = 'running' THEN m.stale_since END
         FROM (SELECT id, status FROM monitors WHERE id = $1 FOR UPDATE) AS old
         WHERE m.id = old.id AND old.status = ANY($2::varchar[])
         RETURNING old.status AS "from"
       )
       SELECT "from" FROM moved`,
      [id, [...move.from], ...entries.map(([, value]) => value)],
    );
    return rows[0]?.from ?? null;
  }

  /**
   * Opens (`since` a date) or closes (null) the stale episode of a running monitor, in one conditional
   * statement: true only for the one call that changed it, so replicas seeing the same expired report
   * announce it once. updated_at is left alone (it dates status transitions).
   */
  async markStale(id: string, since: Date | null): Promise<boolean> {
    const rows = await this.repository.query<{ id: string }[]>(
      `WITH marked AS (
         UPDATE monitors SET stale_since = $2
         WHERE id = $1 AND status = 'running' AND (stale_since IS NULL) = ($2::timestamptz IS NOT NULL)
         RETURNING id
       )
       SELECT id FROM marked`,
      [id, since],
    );
    return rows.length === 1;
  }

  /** Deletes the row while its status is one of `from`; answers the status it had, or null when it stays. */
  async deleteIfIn(id: string, from: readonly MonitorStatus[]): Promise<MonitorStatus | null> {
    const rows = await this.repository.query<{ status: MonitorStatus }[]>(
      `WITH gone AS (DELETE FROM monitors WHERE id = $1 AND status = ANY($2::varchar[]) RETURNING status)
       SELECT status FROM gone`,
      [id, [...from]],
    );
    return rows[0]?.status ?? null;
  }

  private withinBudget<T>(
    candidate: Pick<MonitorEntity, 'pair' | 'intervalMs'>,
    budget: UpstreamBudget,
    write: (manager: EntityManager) => Promise<T>,
  ): Promise<T> {
    return this.database.withLock(DatabaseLock.MonitorCreate, async (manager) => {
      const active = await this.demandIn(ACTIVE_STATUSES, manager);
      const existing = active.find((m) => m.pair === candidate.pair);
      if (existing) throw new PairAlreadyMonitoredError(existing.id);
      const { used, planned } = admissionPlans(active, candidate, budget);
      if (!planFits(planned, budget.limitPerMin)) {
        throw new RateBudgetExceededError(used.requestsPerMin, planned.requestsPerMin, budget.limitPerMin);
      }
      return write(manager);
    });
  }

  /**
   * An edit (PATCH): writes the interval and the rules (the old one-rule columns emptied: `rules` is the truth
   * from then on). An active monitor is checked against the budget as a new one would be, without counting its
   * own current demand; a stopped or failed one is not (it makes no request). Under the admission lock; answers
   * false when the row is gone.
   */
  updateConfig(
    monitor: Pick<MonitorEntity, 'id' | 'pair'>,
    values: Pick<MonitorEntity, 'intervalMs'> & { rules: NonNullable<MonitorEntity['rules']> },
    budget: UpstreamBudget,
  ): Promise<boolean> {
    return this.database.withLock(DatabaseLock.MonitorCreate, async (manager) => {
      const active = await this.demandIn(ACTIVE_STATUSES, manager);
      if (active.some((m) => m.id === monitor.id)) {
        const others = active.filter((m) => m.id !== monitor.id);
        const { used, planned } = admissionPlans(
          others,
          { pair: monitor.pair, intervalMs: values.intervalMs },
          budget,
        );
        if (!planFits(planned, budget.limitPerMin)) {
          throw new RateBudgetExceededError(used.requestsPerMin, planned.requestsPerMin, budget.limitPerMin);
        }
      }
      const rows = await manager.query<unknown[]>(
        `UPDATE monitors SET interval_ms = $2, rules = $3::jsonb, threshold_percent = NULL, price_field = NULL,
           direction = NULL, cooldown_ms = NULL, updated_at = now() WHERE id = $1 RETURNING id`,
        [monitor.id, values.intervalMs, JSON.stringify(values.rules)],
      );
      return rows.length > 0;
    });
  }

  /** The monitors in these statuses as plain rows with their status, oldest first. */
  private async demandIn(
    statuses: readonly MonitorStatus[],
    manager: EntityManager = this.repository.manager,
  ): Promise<ActiveMonitor[]> {
    const rows = await manager.query<
      Array<{ id: string; pair: string; interval_ms: number; status: MonitorStatus; updated_at: Date }>
    >(
      `SELECT id, pair, interval_ms, status, updated_at FROM monitors WHERE status = ANY($1::varchar[])
       ORDER BY created_at`,
      [[...statuses]],
    );
    return rows.map((row) => ({
      id: row.id,
      pair: row.pair,
      intervalMs: row.interval_ms,
      status: row.status,
      updatedAt: new Date(row.updated_at),
    }));
  }
}
