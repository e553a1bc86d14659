import { HttpException, HttpStatus, Inject, Injectable, Logger } from '@nestjs/common';
import {
  backtestRules,
  BacktestResult,
  planUpstream,
  RuleSet,
  UpstreamPlan,
  WorkerState,
} from '@pairwatch/contracts';
import { TickArchiveRepository } from '../analytics/tick-archive.repository';
import { BacktestDto } from './dto/backtest.dto';
import { mergeBacktestTicks } from './backtest-ticks';
import { AlertsRepository } from '../alerts/alerts.repository';
import { httpError } from '../common/http-errors';
import { APP_CONFIG, AppConfig } from '../config/app.config';
import { RecentPrices } from '../redis/recent-prices';
import { StreamTick, WorkerStateReader } from '../redis/worker-state.reader';
import { RuntimeUnavailableError, WorkerInfo, WorkerRuntime, workerOf } from '../runtime/worker-runtime';
import { UpholdClient, UpholdUnavailableError } from '../uphold/uphold.client';
import { CreateMonitorDto } from './dto/create-monitor.dto';
import { MonitorDto } from './dto/monitor.dto';
import { QueryMonitorsDto } from './dto/query-monitors.dto';
import { MonitorConvergence } from './monitor-convergence';
import { allows, MonitorLifecycle } from './monitor-lifecycle.service';
import { ACTIVE_STATUSES, MonitorEntity, rulesOf } from './monitor.entity';
import { checkedRules, rulesOfCreate } from './monitor-rules';
import { reportNotDueYet } from './report-due';
import { UpdateMonitorDto } from './dto/update-monitor.dto';
import {
  MonitorsRepository,
  PairAlreadyMonitoredError,
  RateBudgetExceededError,
  UpstreamBudget,
} from './monitors.repository';

/**
 * GET /monitors may show the workers as the runtime listed them this long ago, when nothing the runtime knows
 * of changed since (CachingDockerRuntime: no engine event, no start or removal of its own): at 300 workers one engine
 * listing costs ~80 ms, and a dashboard polls the list.
 */
const LIST_MAX_AGE_MS = 1000;

const DAY_MS = 86_400_000;
/** The longest range a backtest covers. */
export const BACKTEST_MAX_RANGE_MS = 30 * DAY_MS;
/** The most ticks a backtest reads: 30 days at one tick every 2.6 s. */
const BACKTEST_MAX_TICKS = 1_000_000;
/**
 * The alerts a backtest lists per rule: each rule's first 1,000 in the range; `firedByRule` counts every one. A
 * noisy rule (a spread rule over a day fired 21,099 times in the benchmark) would otherwise make the answer as big
 * as it likes — up to a million ticks × 10 rules — for a list nobody reads past its start, when the count is what
 * a user weighs a rule by ("would have fired N times").
 */
export const BACKTEST_ALERTS_PER_RULE = 1000;

export interface MonitorCounts {
  running: number;
  starting: number;
  stale: number;
  failed: number;
}

@Injectable()
export class MonitorsService {
  private readonly logger = new Logger(MonitorsService.name);

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly monitors: MonitorsRepository,
    private readonly lifecycle: MonitorLifecycle,
    private readonly runtime: WorkerRuntime,
    private readonly uphold: UpholdClient,
    private readonly states: WorkerStateReader,
    /** The workers' recent ticks (GET /monitors/:id/prices). */
    private readonly prices: RecentPrices,
    /** The one start path: the supervisor, which alone calls the runtime to start or stop workers. */
    private readonly convergence: MonitorConvergence,
    /** The stored alerts: each rule's fires. */
    private readonly alerts: AlertsRepository,
    /** The stored ticks a backtest runs over. */
    private readonly archive: TickArchiveRepository,
  ) {}

  /**
   * Runs rules over the stored ticks of a pair in [since, until) with the very detectors the worker runs
   * (backtestRules, libs/contracts). The ticks: the tick archive over the whole range, and for the live part
   * (the last PRICE_HISTORY_MS, an hour by default) the recent-tick streams of the pair's monitors too — the
   * archive may lag behind them (the ticks stream's consumer, a read replica), or be off (TICK_ARCHIVE=off) —
   * merged in time order, a tick present in both (same monitor, same instant) counted once
   * (mergeBacktestTicks). Redis unreachable: the archive alone (logged). Each rule's first
   * BACKTEST_ALERTS_PER_RULE alerts listed, every one counted. 400 for bad rules or a range over 30 days or
   * reversed; 422 when no tick is stored.
   */
  async backtest(dto: BacktestDto): Promise<BacktestResult> {
    const now = Date.now();
    const until = dto.until ? Date.parse(dto.until) : now;
    const since = dto.since ? Date.parse(dto.since) : until - DAY_MS;
    if (since >= until) throw httpError(HttpStatus.BAD_REQUEST, 'since must be before until', 'since');
    if (until - since > BACKTEST_MAX_RANGE_MS) {
      throw httpError(HttpStatus.BAD_REQUEST, 'since must be at most 30 days before until', 'since');
    }
    // expiresAt is checked against the start of the range: a rule may expire within it.
    const rules = checkedRules(dto.rules, { intervalMs: dto.intervalMs!, now: since });
    const liveSince = Math.max(since, now - this.config.priceHistoryMs);
    // The archive's ticks with their monitor's id only from where a streamed tick may be the same one.
    const [archived, streamed] = await Promise.all([
      this.archive.ticks(dto.pair, new Date(since), new Date(until), BACKTEST_MAX_TICKS, new Date(liveSince)),
      this.liveTicks(dto.pair, liveSince, until),
    ]);
    const ticks = mergeBacktestTicks(archived, streamed);
    if (ticks.length === 0) {
      throw httpError(
        HttpStatus.UNPROCESSABLE_ENTITY,
        `no ticks of ${dto.pair} are stored between ${new Date(since).toISOString()} and ${new Date(until).toISOString()}`,
        'pair',
      );
    }
    return backtestRules(rules, ticks, { alertsPerRule: BACKTEST_ALERTS_PER_RULE });
  }

  /**
   * The ticks in [sinceMs, untilMs) of the recent-tick streams of the pair's monitors that may have ticked
   * then; none when the range ends before it starts, and none (logged) when Redis cannot be read.
   */
  private async liveTicks(pair: string, sinceMs: number, untilMs: number): Promise<StreamTick[]> {
    if (untilMs <= sinceMs) return [];
    const ids = await this.monitors.idsOfPairTickingSince(pair, new Date(sinceMs));
    if (ids.length === 0) return [];
    try {
      return await this.states.storedTicks(ids, sinceMs, untilMs);
    } catch (error) {
      this.logger.warn({
        msg: 'backtest without the live tick streams: Redis cannot be read',
        pair,
        reason: (error as Error).message,
      });
      return [];
    }
  }

  async create(dto: CreateMonitorDto): Promise<MonitorDto> {
    const pair = dto.pair;
    const rules = rulesOfCreate(dto, dto.intervalMs!, Date.now());
    await this.unavailableAs503(() => this.runtime.ensureReady());
    const existing = await this.monitors.findActiveByPair(pair);
    if (existing) throw this.alreadyMonitored(pair, existing.id);
    await this.checkPairAtTicker(pair);

    const budget = await this.budget();
    const monitor = await this.budgeted(pair, dto.intervalMs!, () =>
      this.lifecycle.create({ pair, intervalMs: dto.intervalMs!, rules }, budget),
    );
    // Nothing is left behind when the worker cannot start: no worker, no monitor row (the convergence's rule).
    return this.started(monitor);
  }

  /**
   * PATCH: validated like a create (the rules by parseRulesInput, ids kept, new ones numbered past all the old),
   * the budget checked again for an active monitor, the row rewritten (its alerts and fires kept), then the
   * monitor converged: its worker is replaced through the one start path (its spec changed). A stopped or
   * failed monitor is edited and stays as it is.
   */
  async update(id: string, dto: UpdateMonitorDto): Promise<MonitorDto> {
    const monitor = await this.getEntity(id);
    const intervalMs = dto.intervalMs ?? monitor.intervalMs;
    const current = rulesOf(monitor);
    const now = Date.now();
    const rules =
      dto.rules === undefined
        ? current
        : checkedRules(dto.rules, { intervalMs, now, previousIds: current.map((r) => r.id) });
    if (dto.rules === undefined) {
      const tooShort = current.findIndex((r) => r.kind === 'window' && r.windowMs < intervalMs);
      if (tooShort !== -1) {
        throw httpError(
          HttpStatus.BAD_REQUEST,
          `intervalMs must be at most the windowMs of rules[${tooShort}] (a window must hold two ticks)`,
          'intervalMs',
        );
      }
    }
    const active = ACTIVE_STATUSES.includes(monitor.status);
    if (active) await this.unavailableAs503(() => this.runtime.ensureReady());
    const budget = await this.budget();
    const written = await this.budgeted(monitor.pair, intervalMs, () =>
      this.monitors.updateConfig(monitor, { intervalMs, rules }, budget),
    );
    if (!written) throw notFound(id);
    if (active) await this.unavailableAs503(() => this.convergence.converge(id));
    this.logger.log({ msg: 'monitor edited', monitorId: id, intervalMs, rules: rules.map((r) => r.id) });
    return this.get(id);
  }

  /** Puts a failed or stopped monitor back to work, under the same checks as a new one. */
  async restart(id: string): Promise<MonitorDto> {
    const monitor = await this.getEntity(id);
    if (!allows('reactivate', monitor.status)) {
      throw httpError(HttpStatus.CONFLICT, `monitor ${id} is already ${monitor.status}`, 'id');
    }
    // A worker whose every rule is done exits at once and the monitor stops itself again ("rules done").
    const fires = (await this.alerts.firesByRule([id])).get(id);
    if (new RuleSet(rulesOf(monitor), fires).progress(Date.now()).every((rule) => rule.done)) {
      throw httpError(
        HttpStatus.CONFLICT,
        `every rule of monitor ${id} is done (maxFires reached or expiresAt passed): ` +
          'change them with PATCH /monitors/:id (e.g. raise maxFires) first',
        'rules',
      );
    }
    await this.unavailableAs503(() => this.runtime.ensureReady());
    await this.checkPairAtTicker(monitor.pair);
    const budget = await this.budget();
    const reactivated = await this.budgeted(monitor.pair, monitor.intervalMs, () =>
      this.lifecycle.reactivate(monitor, budget),
    );
    if (!reactivated) throw httpError(HttpStatus.CONFLICT, `monitor ${id} changed while restarting`, 'id');
    // When the start fails midway the monitor stays `starting` (wanted), and the next reconcile pass tries again.
    // Its rules answer with the fires their stored alerts count, as GET does (a new monitor has none).
    return this.started(monitor, fires);
  }

  async list(query: QueryMonitorsDto): Promise<MonitorDto[]> {
    const monitors = await this.monitors.list(query.status);
    const [workers, reports, fires] = await Promise.all([
      this.liveWorkers(monitors, () => this.runtime.list('worker', { maxAgeMs: LIST_MAX_AGE_MS })),
      this.reports(monitors),
      this.alerts.firesByRule(monitors.map((m) => m.id)),
    ]);
    return monitors.map((m) =>
      MonitorDto.from(m, workers.get(m.id) ?? null, reports.get(m.id), fires.get(m.id)),
    );
  }

  async get(id: string): Promise<MonitorDto> {
    const monitor = await this.getEntity(id);
    const [workers, reports, fires] = await Promise.all([
      this.liveWorkers([monitor], async () => [await this.runtime.find(workerOf(id))]),
      this.reports([monitor]),
      this.alerts.firesByRule([id]),
    ]);
    return MonitorDto.from(monitor, workers.get(id) ?? null, reports.get(id), fires.get(id));
  }

  /**
   * The worker's recent ticks, oldest first, as a JSON array in UTF-8 (the response body, built without a parse
   * and a re-stringify: RecentPrices.read): those at or after `since` (ISO-8601), within the last
   * PRICE_HISTORY_MS at most. 404 for an unknown monitor; 503 when Redis cannot be read.
   */
  async pricesJson(id: string, since?: string): Promise<Buffer> {
    const oldest = Date.now() - this.config.priceHistoryMs;
    const sinceMs = since === undefined ? oldest : Math.max(oldest, Date.parse(since));
    // The row and the stream are read at once (one round trip's wait, not two); the row decides first, so an
    // unknown monitor is a 404 whatever Redis answers.
    const read = this.prices.read(id, sinceMs).then(
      (body) => ({ body }),
      (error: unknown) => ({ error }),
    );
    if (!(await this.monitors.exists(id))) throw notFound(id);
    const result = await read;
    if ('error' in result) {
      throw httpError(
        HttpStatus.SERVICE_UNAVAILABLE,
        `the recent prices cannot be read from Redis: ${(result.error as Error).message}`,
      );
    }
    const { body } = result;
    if (body.unreadable > 0) {
      this.logger.warn({
        msg: 'unreadable price ticks left out',
        monitorId: id,
        unreadable: body.unreadable,
        reason: body.reason,
      });
    }
    return body.json;
  }

  /**
   * Stops and removes the worker; the monitor stays, as `stopped`, with its alerts. Idempotent. The runtime is
   * asked first, so that when it is down nothing changes (503); the row is then marked stopped (a reconcile
   * pass meanwhile cannot start the worker again) and the monitor converged, which removes the worker.
   */
  async stop(id: string): Promise<void> {
    const monitor = await this.getEntity(id);
    await this.unavailableAs503(() => this.runtime.ping());
    // False when already stopped (maybe by a request meanwhile): its worker may still be left to remove.
    const changed = allows('stop', monitor.status) && (await this.lifecycle.stop(monitor));
    await this.unavailableAs503(() => this.convergence.converge(id));
    if (changed) this.logger.log({ msg: 'monitor stopped', monitorId: id, pair: monitor.pair });
  }

  /**
   * For GET /health, from one read of the active monitors: those whose worker reports in, those whose worker
   * has not reported yet and is not due to (`starting`, or running for less than the report's TTL: as GET
   * /monitors answers `stale: false`), those whose report expired (all the others when Redis cannot be read),
   * the failed ones; and what the active monitors cost
   * upstream now (the plan admission checks against), with the limit.
   */
  async overview(): Promise<{ counts: MonitorCounts; plan: UpstreamPlan; limitPerMin: number }> {
    const [{ active, failed }, budget] = await Promise.all([
      this.monitors.activeDemandAndFailed(),
      this.budget(),
    ]);
    const reports = await this.reports(active);
    const now = Date.now();
    let running = 0;
    let starting = 0;
    for (const monitor of active) {
      if (reports.has(monitor.id)) running += 1;
      // As GET /monitors answers `stale: false` for it: its worker has not had time to report yet.
      else if (reportNotDueYet(monitor, now)) starting += 1;
    }
    const plan = planUpstream(active, { relay: budget.relay, pairEndpointOnly: budget.pairEndpointOnly });
    return {
      counts: { running, starting, stale: active.length - running - starting, failed },
      plan,
      limitPerMin: budget.limitPerMin,
    };
  }

  /**
   * The monitor's desired state is written (`starting`): converges it, and answers it with its worker.
   * 503 when the runtime failed; 409 when a DELETE came while its worker was starting.
   */
  private async started(
    monitor: MonitorEntity,
    fires?: Readonly<Record<string, number>>,
  ): Promise<MonitorDto> {
    const converged = await this.unavailableAs503(() => this.convergence.converge(monitor.id));
    const { worker } = converged;
    const now = converged.monitor;
    if (!now) {
      // Another replica converged it first and its start failed: the new monitor went (nothing left behind).
      throw httpError(HttpStatus.SERVICE_UNAVAILABLE, `the worker for ${monitor.pair} could not be started`);
    }
    if (now.status === 'stopped') {
      throw httpError(
        HttpStatus.CONFLICT,
        `monitor ${monitor.id} was stopped while its worker was starting`,
        'id',
      );
    }
    this.logger.log({ msg: 'monitor started', monitorId: now.id, pair: now.pair, workerId: now.workerId });
    return MonitorDto.from(now, worker, undefined, fires);
  }

  private async checkPairAtTicker(pair: string): Promise<void> {
    let known: boolean;
    try {
      known = await this.uphold.pairExists(pair);
    } catch (error) {
      if (error instanceof UpholdUnavailableError)
        throw httpError(HttpStatus.SERVICE_UNAVAILABLE, error.message);
      throw error;
    }
    if (!known) {
      throw httpError(
        HttpStatus.UNPROCESSABLE_ENTITY,
        `pair ${pair} is not listed on the Uphold ticker`,
        'pair',
      );
    }
  }

  /** What admission checks against: the limit, and the upstream plan's inputs (relay on or off). */
  private async budget(): Promise<UpstreamBudget> {
    return {
      limitPerMin: this.config.upholdRateLimitPerMin,
      relay: this.config.upholdRelay,
      pairEndpointOnly: await this.uphold.pairEndpointOnly(),
    };
  }

  /** Runs a pair-and-budget-checked write, answering its refusals as 409 and 422. */
  private async budgeted<T>(pair: string, intervalMs: number, write: () => Promise<T>): Promise<T> {
    try {
      return await write();
    } catch (error) {
      if (error instanceof PairAlreadyMonitoredError) {
        throw this.alreadyMonitored(pair, error.existingId);
      }
      if (error instanceof RateBudgetExceededError) {
        throw httpError(
          HttpStatus.UNPROCESSABLE_ENTITY,
          `Uphold rate budget exceeded: active monitors use ${round(error.usedPerMin)} of ${error.budgetPerMin} requests/min ` +
            `(UPHOLD_RATE_LIMIT_PER_MIN) and intervalMs=${intervalMs} would take the upstream plan to ` +
            `${round(error.plannedPerMin)} requests/min, past the ${error.budgetPerMin} allowed; ` +
            `raise intervalMs or stop a monitor`,
          'intervalMs',
        );
      }
      throw error;
    }
  }

  private alreadyMonitored(pair: string, existingId: string) {
    return httpError(
      HttpStatus.CONFLICT,
      `pair ${pair} is already monitored by monitor ${existingId}`,
      'pair',
    );
  }

  /**
   * Live state of the workers of these monitors, from one look at the runtime (`look`: every worker's list,
   * or one worker's); an unreachable runtime shows as unknown, never an error.
   */
  private async liveWorkers(
    monitors: MonitorEntity[],
    look: () => Promise<Array<WorkerInfo | null>>,
  ): Promise<Map<string, WorkerInfo>> {
    if (monitors.length === 0) return new Map();
    let workers: Array<WorkerInfo | null>;
    try {
      workers = await look();
    } catch {
      const active = monitors.filter((m) => ACTIVE_STATUSES.includes(m.status));
      return new Map(active.map((m) => [m.id, unknownWorker(m)]));
    }
    const wanted = new Set(monitors.map((m) => m.id));
    return new Map(
      workers
        .filter((w): w is WorkerInfo => w !== null && wanted.has(w.monitorId))
        .map((w) => [w.monitorId, w]),
    );
  }

  private reports(monitors: ReadonlyArray<Pick<MonitorEntity, 'id'>>): Promise<Map<string, WorkerState>> {
    return this.states.read(monitors.map((m) => m.id)).catch(() => new Map<string, WorkerState>());
  }

  private async getEntity(id: string): Promise<MonitorEntity> {
    const monitor = await this.monitors.findById(id);
    if (!monitor) throw notFound(id);
    return monitor;
  }

  private async unavailableAs503<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      if (error instanceof RuntimeUnavailableError)
        throw httpError(HttpStatus.SERVICE_UNAVAILABLE, error.message);
      throw error;
    }
  }
}

function unknownWorker(monitor: MonitorEntity): WorkerInfo {
  return {
    role: 'worker',
    workerId: monitor.workerId ?? '',
    monitorId: monitor.id,
    pair: monitor.pair,
    name: '',
    state: 'unknown',
    exitCode: null,
    restarts: 0,
    image: '',
    startedAt: null,
    specHash: null,
  };
}

function round(value: number): string {
  return String(Math.round(value * 100) / 100);
}

function notFound(id: string): HttpException {
  return httpError(HttpStatus.NOT_FOUND, `monitor ${id} does not exist`, 'id');
}
