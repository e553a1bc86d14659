import {
  BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
  Optional,
} from '@nestjs/common';
import { WORKER_EXIT } from '@pairwatch/contracts';
import { APP_CONFIG, AppConfig } from '../config/app.config';
import { DatabaseLock, DatabaseRepository } from '../database/database.repository';
import { PairwatchMetrics } from '../telemetry/pairwatch-metrics';
import { Converged, MonitorConvergence } from '../monitors/monitor-convergence';
import { allows } from '../monitors/monitor-lifecycle.service';
import { ACTIVE_STATUSES, MonitorEntity } from '../monitors/monitor.entity';
import { MonitorsRepository } from '../monitors/monitors.repository';
import { WorkerSpecFactory } from '../monitors/worker-spec.factory';
import { BackgroundLoop } from '../common/background-loop';
import { mapConcurrently, Semaphore } from '../common/concurrency';
import { RELAY, Workload, WorkerExit, WorkerInfo, WorkerRuntime, workerOf } from '../runtime/worker-runtime';
import { emptyReport, isRelayStep, ReconcileExecutor, ReconcileReport } from './reconcile-executor.service';
import {
  currentRelay,
  deathWindowStart,
  MonitorFacts,
  MonitorStep,
  needsDeathFacts,
  needsSpecHash,
  planMonitor,
  planReconcile,
  PlannerConfig,
  ReconcileFacts,
  RelayFacts,
  RULES_DONE,
  unknownPairReason,
} from './reconcile-planner';
import { RelaySpecFactory } from './relay-spec.factory';
import { RelayStatus } from './relay-status.service';
import { WorkerExitsRepository } from './worker-exits.repository';

/** Events come in bursts (die, start, die…): one reconcile after the burst. */
const EVENT_DEBOUNCE_MS = 250;
/** Monitors whose facts are gathered at once (a dying worker's deaths are a query and an inspection). */
const FACTS_CONCURRENCY = 8;
/**
 * Monitors converged at once by this process (each holds a Postgres session for its lock, and uses another
 * for its queries: well within the pool of 10).
 */
const CONVERGE_CONCURRENCY = 4;

export type { ReconcileReport } from './reconcile-executor.service';

/**
 * Keeps what runs equal to what should run, and is the one start path (MonitorConvergence).
 *
 * converge(id), asked by a request after it wrote the desired state, or by a pass: under that monitor's lock
 * (Postgres, every replica), it reads the row and the monitor's worker, has planMonitor() decide the one step
 * and the ReconcileExecutor carry it out: adopt a healthy worker, start a missing one, replace one that is
 * stale or gone, stop one whose monitor is not active, fail a monitor whose worker is caught in a crash loop.
 *
 * A pass, at start, on a period and on every worker event, under the reconcile lock (one replica at a
 * time): it gathers the facts of every monitor at once (active monitors, the runtime's workers, their deaths
 * and spec hashes), plans, carries out the relay's steps and converges each monitor with a step (skipped when
 * its lock is held: a request is converging it).
 */
@Injectable()
export class WorkerSupervisor
  extends MonitorConvergence
  implements OnApplicationBootstrap, BeforeApplicationShutdown
{
  private readonly logger = new Logger(WorkerSupervisor.name);
  /** Runs the passes: on the period, on demand (reconcile(), a worker event), one at a time. */
  private readonly loop: BackgroundLoop;
  /** The report of the last pass that ended. */
  private lastReport: ReconcileReport = emptyReport(true);
  private debounce: NodeJS.Timeout | undefined;
  private unwatch: (() => void) | undefined;
  private stopped = false;
  private readonly converging = new Semaphore(CONVERGE_CONCURRENCY);

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly database: DatabaseRepository,
    private readonly runtime: WorkerRuntime,
    private readonly monitors: MonitorsRepository,
    private readonly exits: WorkerExitsRepository,
    private readonly specs: WorkerSpecFactory,
    private readonly executor: ReconcileExecutor,
    private readonly relaySpecs: RelaySpecFactory,
    private readonly relayStatus: RelayStatus,
    @Optional() private readonly metrics?: PairwatchMetrics,
  ) {
    super();
    this.loop = new BackgroundLoop({
      name: 'reconcile',
      pass: async () => {
        this.lastReport = emptyReport(true);
        this.lastReport = await this.pass();
      },
      everyMs: config.reconcileIntervalMs,
      logger: this.logger,
      // Operators (and the Docker fault suite) read this line.
      onError: (error) => this.logger.warn(`reconcile failed: ${error.message}`),
    });
  }

  private get plannerConfig(): PlannerConfig {
    return { crashLoop: this.config.crashLoop, maxRestarts: this.config.workerLimits.maxRestarts };
  }

  /** MonitorConvergence: waits for the monitor's lock; rejects with the runtime's error. */
  converge(monitorId: string): Promise<Converged> {
    return this.underLock(monitorId, () => this.convergeLocked(monitorId, emptyReport(false)));
  }

  /** Runs `fn` holding the monitor's lock (waited for), a few monitors at a time in this process. */
  private underLock<T>(monitorId: string, fn: () => Promise<T>): Promise<T> {
    return this.converging.run(() => this.database.withKeyedLock(DatabaseLock.Monitor, monitorId, fn));
  }

  onApplicationBootstrap(): void {
    this.unwatch = this.runtime.watch((event) => {
      if (event.kind === 'exit') void this.onExit(event.workload, event.exit);
      this.soon();
    });
    this.loop.start();
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.debounce);
    this.unwatch?.();
    await this.loop.stop();
    const workers = await this.runtime.list('worker').catch(() => []);
    this.logger.log(
      `API stopping: leaving ${workers.length} worker(s) running; their alerts wait in the stream until an API reads them ` +
        `("npm run down" stops the workers)`,
    );
  }

  /**
   * Asks for a pass now and answers the report of one that began after the call (a pass asked for while one
   * runs comes right after it; calls meanwhile share it). Starts the loop when the application has not (a
   * test, a tool); answers a skipped report once shutdown has begun. Never throws.
   */
  async reconcile(): Promise<ReconcileReport> {
    if (this.stopped) return emptyReport(true);
    this.loop.start();
    await this.loop.trigger();
    return this.lastReport;
  }

  private soon(): void {
    if (this.stopped) return;
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => this.loop.wake(), EVENT_DEBOUNCE_MS);
    this.debounce.unref();
  }

  /** One pass under the reconcile lock; skipped when another replica holds it. Throws what failed. */
  private async pass(): Promise<ReconcileReport> {
    const attempt = await this.database.tryWithLock(DatabaseLock.Reconcile, async () => {
      const began = performance.now();
      const facts = await this.gather();
      const gatheredMs = performance.now() - began;
      const steps = planReconcile(facts, this.plannerConfig);
      const cancelled = () => this.stopped;
      const report = await this.executor.execute(steps.filter(isRelayStep), cancelled);
      const monitorSteps = steps.filter((step): step is MonitorStep => !isRelayStep(step));
      const removals = monitorSteps.filter((step) => step.action === 'remove');
      for (const step of monitorSteps) {
        if (step.action === 'remove') continue;
        if (cancelled()) break;
        await this.convergeInPass(step.target.monitor.id, report);
      }
      if (!cancelled()) {
        await Promise.all(removals.map((step) => this.convergeInPass(step.target.monitorId, report)));
      }
      // What a pass costs, for operators and bench/scale.bench.ts: the facts' gathering, and the whole pass.
      this.logger.debug({
        msg: 'reconcile pass',
        monitors: facts.monitors.length,
        workers: facts.workers.length,
        steps: steps.length,
        gatherMs: Math.round(gatheredMs),
        durationMs: Math.round(performance.now() - began),
      });
      return report;
    });
    return attempt.acquired ? attempt.value : emptyReport(true);
  }

  /**
   * A pass's step for one monitor, as converge() does it, on facts read again under the monitor's lock;
   * left alone when the lock is held (a request or another pass converges it now). Never throws.
   */
  private async convergeInPass(monitorId: string, report: ReconcileReport): Promise<void> {
    try {
      await this.converging.run(() =>
        this.database.tryWithKeyedLock(DatabaseLock.Monitor, monitorId, () =>
          this.convergeLocked(monitorId, report),
        ),
      );
    } catch (error) {
      this.logger.warn(`reconcile: monitor ${monitorId}: ${(error as Error).message}`);
    }
  }

  /** converge() under the monitor's lock: the row and the worker read now, one step, carried out. */
  private async convergeLocked(monitorId: string, report: ReconcileReport): Promise<Converged> {
    const workload = workerOf(monitorId);
    const [monitor, worker] = await Promise.all([
      this.monitors.findById(monitorId),
      this.runtime.find(workload),
    ]);
    if (!monitor || !ACTIVE_STATUSES.includes(monitor.status)) {
      if (worker) {
        const target = { kind: 'orphan' as const, monitorId, workerId: worker.workerId };
        await this.executor.carryOut({ action: 'remove', target }, report);
      }
      return { monitor, worker: null };
    }
    const facts = await this.readFacts(monitor, worker, Date.now());
    const step = planMonitor(facts, this.plannerConfig);
    if (!step) return { monitor, worker };
    return { monitor, worker: await this.executor.carryOut(step, report) };
  }

  /** Everything planReconcile() needs, asking the runtime and Postgres only what the plan will look at. */
  private async gather(): Promise<ReconcileFacts> {
    const [active, workers, relay] = await Promise.all([
      this.monitors.listActive(),
      this.runtime.list('worker'),
      this.relayFacts(),
    ]);
    const now = Date.now();
    const listed = new Map(workers.map((worker) => [worker.monitorId, worker]));
    // The list is in detail (restarts, exit code): what is left to ask is a dying worker's deaths and the spec
    // hashes (the image id, looked up once), a few at a time.
    const monitors = await mapConcurrently(active, FACTS_CONCURRENCY, (monitor) =>
      this.monitorFacts(monitor, listed.get(monitor.id) ?? null, now),
    );
    return { now, monitors, workers, relay };
  }

  /** The relay's facts: the relays listed, and when one is wanted, its spec hash and deaths. */
  private async relayFacts(): Promise<RelayFacts> {
    const wanted = this.config.upholdRelay;
    const facts: RelayFacts = {
      wanted,
      relays: [],
      specHash: null,
      deaths: 0,
      lastExit: null,
      recordedId: this.relayStatus.current.workerId,
    };
    try {
      facts.relays = await this.runtime.list('relay');
      const current = currentRelay(facts.relays);
      if (!wanted || !current) return facts;
      facts.specHash = await this.runtime.specHash(this.relaySpecs.spec());
      if (needsDeathFacts(current)) {
        facts.lastExit = await this.runtime.lastExit(RELAY).catch(() => null);
        const since = new Date(Date.now() - this.config.crashLoop.windowMs);
        facts.deaths = await this.exits.countDeaths(RELAY, since);
      }
    } catch (error) {
      // Reported by the plan (a fail step): the executor is the one writer of the relay's status.
      facts.unreadable = (error as Error).message;
    }
    return facts;
  }

  private async monitorFacts(
    monitor: MonitorEntity,
    listed: WorkerInfo | null,
    now: number,
  ): Promise<MonitorFacts> {
    if (this.stopped) return { ...noFacts(monitor, listed), unreadable: 'the API is shutting down' };
    try {
      return await this.readFacts(monitor, listed, now);
    } catch (error) {
      const unreadable = (error as Error).message;
      this.logger.warn(`reconcile: monitor ${monitor.id} (${monitor.pair}): ${unreadable}`);
      return { ...noFacts(monitor, listed), unreadable };
    }
  }

  /** A monitor's facts: its deaths when it may be in a crash loop, the spec hash when its worker lives. */
  private async readFacts(
    monitor: MonitorEntity,
    worker: WorkerInfo | null,
    now: number,
  ): Promise<MonitorFacts> {
    const facts = noFacts(monitor, worker);
    if (!worker) return facts;
    const workload = workerOf(monitor.id);
    if (needsDeathFacts(worker)) {
      facts.lastExit = await this.runtime.lastExit(workload).catch(() => null);
      const since = deathWindowStart(monitor, now, this.config.crashLoop.windowMs);
      facts.deaths = await this.exits.countDeaths(workload, since);
    }
    if (needsSpecHash(worker)) facts.specHash = await this.runtime.specHash(this.specs.specFor(monitor));
    return facts;
  }

  /**
   * Records a death of a worker or of the relay, once whichever replica sees it; a worker that exited because
   * its pair is unknown fails its monitor at once. Deaths are counted from events only: the reconcile pass
   * reads exits but never records them, so one death seen both ways is never counted twice.
   */
  private async onExit(workload: Workload, fromEvent: WorkerExit | undefined): Promise<void> {
    const monitorId = workload.key;
    try {
      const latest = await this.runtime.lastExit(workload).catch(() => null);
      const exit = fromEvent ? { ...fromEvent, logTail: fromEvent.logTail || latest?.logTail || '' } : latest;
      if (!exit) return;
      const recorded = await this.exits.record(exit);
      if (workload.role === 'relay') return;
      if (recorded && exit.exitCode !== 0) this.metrics?.workerDied();
      if (exit.exitCode === WORKER_EXIT.rulesDone) {
        // Every rule is done: the monitor stops itself at once (before the runtime restarts the worker).
        await this.underLock(monitorId, async () => {
          const monitor = await this.monitors.findById(monitorId);
          if (!monitor || !allows('stop', monitor.status) || monitor.status === 'failed') return;
          const target = { kind: 'monitor', monitor } as const;
          await this.executor.carryOut({ action: 'finish', target, reason: RULES_DONE });
        });
        return;
      }
      if (exit.exitCode !== WORKER_EXIT.unknownPair) return;
      await this.underLock(monitorId, async () => {
        const monitor = await this.monitors.findById(monitorId);
        if (!monitor || !allows('fail', monitor.status)) return;
        const reason = unknownPairReason(monitor.pair, exit.exitCode, exit);
        await this.executor.carryOut({ action: 'fail', target: { kind: 'monitor', monitor }, reason });
      });
    } catch (error) {
      this.logger.warn(
        `could not handle the exit of ${workload.role} ${monitorId}: ${(error as Error).message}`,
      );
    }
  }
}

function noFacts(monitor: MonitorEntity, worker: WorkerInfo | null): MonitorFacts {
  return { monitor, worker, specHash: null, deaths: 0, lastExit: null };
}
