import {
  BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
} from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { WORKER_EXIT } from '@pairwatch/contracts';
import { DataSource } from 'typeorm';
import { APP_CONFIG, AppConfig } from '../config/app.config';
import { ACTIVE_STATUSES, MonitorEntity } from '../monitors/monitor.entity';
import { MonitorsRepository } from '../monitors/monitors.repository';
import { WorkerSpecFactory } from '../monitors/worker-spec.factory';
import { WorkerExit, WorkerInfo, WorkerRuntime } from '../runtime/worker-runtime';
import { WorkerExitsRepository } from './worker-exits.repository';

/** Only one replica reconciles at a time: a session-level advisory lock, tried, never waited for. */
const RECONCILE_LOCK_KEY = 0x70617773; // "paws"
/** A monitor this young in `starting` (created or restarted) belongs to a POST still at work: leave it alone. */
const STARTING_GRACE_MS = 30_000;
/** Events come in bursts (die, start, die…): one reconcile after the burst. */
const EVENT_DEBOUNCE_MS = 250;

export interface ReconcileReport {
  skipped: boolean;
  started: string[];
  adopted: string[];
  replaced: string[];
  removed: string[];
  failed: string[];
}

const GONE: ReadonlySet<WorkerInfo['state']> = new Set(['exited', 'dead']);

/**
 * Keeps what runs equal to what should run. At start, on a period and on every worker event it compares
 * the runtime's workers (by label) with the active monitors: adopts a healthy worker, starts a missing one,
 * replaces one that is stale or that the runtime gave up on, removes one with no active monitor, and fails
 * a monitor whose worker is caught in a crash loop instead of restarting it forever.
 */
@Injectable()
export class WorkerSupervisor implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(WorkerSupervisor.name);
  private timer: NodeJS.Timeout | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private unwatch: (() => void) | undefined;
  private running: Promise<ReconcileReport> | undefined;
  private again = false;
  private stopped = false;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @InjectDataSource() private readonly db: DataSource,
    private readonly runtime: WorkerRuntime,
    private readonly monitors: MonitorsRepository,
    private readonly exits: WorkerExitsRepository,
    private readonly specs: WorkerSpecFactory,
  ) {}

  onApplicationBootstrap(): void {
    this.unwatch = this.runtime.watch((event) => {
      if (event.kind === 'exit') void this.onExit(event.monitorId, event.exit);
      this.soon();
    });
    this.timer = setInterval(() => void this.reconcile(), this.config.reconcileIntervalMs);
    this.timer.unref();
    void this.reconcile();
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    clearTimeout(this.debounce);
    this.unwatch?.();
    await this.running?.catch(() => undefined);
    const workers = await this.runtime.list().catch(() => []);
    this.logger.log(
      `API stopping: leaving ${workers.length} worker(s) running; their alerts wait in the stream until an API reads them ` +
        `("npm run down" stops the workers)`,
    );
  }

  /** One pass; a pass asked for while one runs is run once more right after it. Never throws. */
  reconcile(): Promise<ReconcileReport> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = this.pass()
      .catch((error: unknown) => {
        this.logger.warn(`reconcile failed: ${(error as Error).message}`);
        return emptyReport(true);
      })
      .finally(() => {
        this.running = undefined;
        if (this.again && !this.stopped) {
          this.again = false;
          void this.reconcile();
        }
      });
    return this.running;
  }

  private soon(): void {
    if (this.stopped) return;
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => void this.reconcile(), EVENT_DEBOUNCE_MS);
  }

  private async pass(): Promise<ReconcileReport> {
    const runner = this.db.createQueryRunner();
    await runner.connect();
    try {
      const [{ locked }] = (await runner.query('SELECT pg_try_advisory_lock($1) AS locked', [
        RECONCILE_LOCK_KEY,
      ])) as { locked: boolean }[];
      if (!locked) return emptyReport(true);
      try {
        return await this.compare();
      } finally {
        await runner.query('SELECT pg_advisory_unlock($1)', [RECONCILE_LOCK_KEY]);
      }
    } finally {
      await runner.release();
    }
  }

  private async compare(): Promise<ReconcileReport> {
    const report = emptyReport(false);
    const [active, workers] = await Promise.all([this.monitors.listActive(), this.runtime.list()]);
    const byMonitor = new Map<string, WorkerInfo>();
    for (const worker of workers) byMonitor.set(worker.monitorId, worker);

    for (const monitor of active) {
      if (this.stopped) break;
      if (
        monitor.status === 'starting' &&
        Date.now() - Math.max(monitor.createdAt.getTime(), monitor.restartedAt?.getTime() ?? 0) <
          STARTING_GRACE_MS
      )
        continue;
      try {
        await this.converge(monitor, byMonitor.get(monitor.id), report);
      } catch (error) {
        this.logger.warn(`reconcile: monitor ${monitor.id} (${monitor.pair}): ${(error as Error).message}`);
      }
    }

    const activeIds = new Set(active.map((m) => m.id));
    const orphans = workers.filter((worker) => !activeIds.has(worker.monitorId));
    await Promise.all(
      orphans.map(async (worker) => {
        await this.runtime.stop(worker.monitorId);
        report.removed.push(worker.monitorId);
        this.logger.log({
          msg: 'removed a worker with no active monitor',
          monitorId: worker.monitorId,
          workerId: worker.workerId,
        });
      }),
    );
    return report;
  }

  private async converge(
    monitor: MonitorEntity,
    listed: WorkerInfo | undefined,
    report: ReconcileReport,
  ): Promise<void> {
    const spec = this.specs.specFor(monitor);
    if (!listed) {
      const worker = await this.runtime.start(spec);
      await this.monitors.updateIfActive(monitor.id, { status: 'running', workerId: worker.workerId });
      report.started.push(monitor.id);
      this.logger.log({
        msg: 'started a missing worker',
        monitorId: monitor.id,
        pair: monitor.pair,
        workerId: worker.workerId,
      });
      return;
    }

    const worker = (await this.runtime.find(monitor.id)) ?? listed;
    if (worker.state === 'restarting' || GONE.has(worker.state) || worker.restarts > 0) {
      const verdict = await this.crashLoopVerdict(monitor, worker);
      if (verdict) {
        await this.runtime.stop(monitor.id);
        if (await this.monitors.updateIfActive(monitor.id, { status: 'failed', reason: verdict })) {
          report.failed.push(monitor.id);
          this.logger.warn({
            msg: 'monitor failed: its worker is not restarted again',
            monitorId: monitor.id,
            reason: verdict,
          });
        }
        return;
      }
    }

    if (GONE.has(worker.state) || worker.specHash !== (await this.runtime.specHash(spec))) {
      const why = GONE.has(worker.state) ? `worker ${worker.state}` : 'image or configuration changed';
      await this.runtime.stop(monitor.id);
      const replacement = await this.runtime.start(spec);
      await this.monitors.updateIfActive(monitor.id, { status: 'running', workerId: replacement.workerId });
      report.replaced.push(monitor.id);
      this.logger.log({
        msg: `replaced a worker (${why})`,
        monitorId: monitor.id,
        workerId: replacement.workerId,
      });
      return;
    }

    if (monitor.status !== 'running' || monitor.workerId !== worker.workerId) {
      await this.monitors.updateIfActive(monitor.id, { status: 'running', workerId: worker.workerId });
      report.adopted.push(monitor.id);
      this.logger.log({ msg: 'adopted a running worker', monitorId: monitor.id, workerId: worker.workerId });
    }
  }

  /** Why the monitor must fail now, or null when its worker may live on (or be replaced). */
  private async crashLoopVerdict(monitor: MonitorEntity, worker: WorkerInfo): Promise<string | null> {
    const exit = await this.runtime.lastExit(monitor.id).catch(() => null);
    const { maxDeaths, windowMs } = this.config.crashLoop;
    const since = new Date(Math.max(Date.now() - windowMs, monitor.restartedAt?.getTime() ?? 0));
    const deaths = await this.exits.countDeaths(monitor.id, since);
    const gaveUp =
      GONE.has(worker.state) &&
      worker.exitCode !== 0 &&
      worker.restarts >= this.config.workerLimits.maxRestarts;
    const tail = logLines(exit);
    const code = exit?.exitCode ?? worker.exitCode;

    if (code === WORKER_EXIT.unknownPair && GONE.has(worker.state)) {
      return `pair ${monitor.pair} is unknown at the ticker (worker exit code ${code})${tail}`;
    }
    if (deaths > maxDeaths || gaveUp) {
      const count = Math.max(deaths, worker.restarts + 1);
      return `worker crash loop: died ${count} times within ${Math.round(windowMs / 1000)} s (last exit code ${code ?? 'unknown'})${tail}`;
    }
    return null;
  }

  /**
   * Records a death, once whichever replica sees it; a worker that exited because its pair is unknown fails
   * its monitor at once. Deaths are counted from events only: the reconcile pass reads exits but never
   * records them, so one death seen both ways is never counted twice.
   */
  private async onExit(monitorId: string, fromEvent: WorkerExit | undefined): Promise<void> {
    try {
      const latest = await this.runtime.lastExit(monitorId).catch(() => null);
      const exit = fromEvent ? { ...fromEvent, logTail: fromEvent.logTail || latest?.logTail || '' } : latest;
      if (!exit) return;
      await this.exits.record(exit);
      if (exit.exitCode !== WORKER_EXIT.unknownPair) return;
      const monitor = await this.monitors.findById(monitorId);
      if (!monitor || !ACTIVE_STATUSES.includes(monitor.status)) return;
      const reason = `pair ${monitor.pair} is unknown at the ticker (worker exit code ${exit.exitCode})${logLines(exit)}`;
      await this.fail(monitor, reason);
    } catch (error) {
      this.logger.warn(
        `could not handle the exit of monitor ${monitorId}'s worker: ${(error as Error).message}`,
      );
    }
  }

  /** Marks the monitor failed first, so no reconcile pass starts its worker again, then removes the worker. */
  private async fail(monitor: MonitorEntity, reason: string): Promise<boolean> {
    const changed = await this.monitors.updateIfActive(monitor.id, { status: 'failed', reason });
    await this.runtime.stop(monitor.id);
    if (changed) {
      this.logger.warn({
        msg: 'monitor failed: its worker is not restarted again',
        monitorId: monitor.id,
        reason,
      });
    }
    return changed;
  }
}

function logLines(exit: WorkerExit | null): string {
  return exit?.logTail ? `; last log lines:\n${exit.logTail}` : '';
}

function emptyReport(skipped: boolean): ReconcileReport {
  return { skipped, started: [], adopted: [], replaced: [], removed: [], failed: [] };
}
