import { Injectable, Logger } from '@nestjs/common';
import { MonitorLifecycle } from '../monitors/monitor-lifecycle.service';
import { WorkerSpecFactory } from '../monitors/worker-spec.factory';
import { RELAY, WorkerInfo, WorkerRuntime, workerOf } from '../runtime/worker-runtime';
import type {
  MonitorStep,
  MonitorTarget,
  ReconcileStep,
  RelayRemovalTarget,
  RelayTarget,
} from './reconcile-planner';
import { RelaySpecFactory } from './relay-spec.factory';
import { RelayStatus } from './relay-status.service';

type RelayStep = Extract<ReconcileStep, { target: RelayTarget | RelayRemovalTarget }>;

export function isRelayStep(step: ReconcileStep): step is RelayStep {
  return step.target.kind === 'relay' || step.target.kind === 'relay-removal';
}

/** What a pass did, by monitor id. */
export interface ReconcileReport {
  skipped: boolean;
  started: string[];
  adopted: string[];
  replaced: string[];
  removed: string[];
  failed: string[];
  /** Monitors that stopped themselves: every rule done. */
  stopped: string[];
  /** What was done to the relay this pass, when anything was. */
  relay?: ReconcileStep['action'][];
}

export function emptyReport(skipped: boolean): ReconcileReport {
  return { skipped, started: [], adopted: [], replaced: [], removed: [], failed: [], stopped: [] };
}

/**
 * Reconcile, the act half: carries planned steps out through the runtime and the monitor lifecycle, and
 * decides nothing. A step that fails is logged and the others go on.
 */
@Injectable()
export class ReconcileExecutor {
  private readonly logger = new Logger(ReconcileExecutor.name);

  constructor(
    private readonly runtime: WorkerRuntime,
    private readonly lifecycle: MonitorLifecycle,
    private readonly specs: WorkerSpecFactory,
    private readonly relaySpecs: RelaySpecFactory,
    private readonly relayStatus: RelayStatus,
  ) {}

  /**
   * The monitors' steps one after the other, then the removals all at once. No step begins once
   * `cancelled()` answers true (the API is shutting down).
   */
  async execute(
    steps: readonly ReconcileStep[],
    cancelled: () => boolean = () => false,
  ): Promise<ReconcileReport> {
    const report = emptyReport(false);
    const removals: ReconcileStep[] = [];
    for (const step of steps) {
      if (step.action === 'remove') {
        removals.push(step);
        continue;
      }
      if (cancelled()) break;
      await this.guarded(step, report);
    }
    if (!cancelled()) await Promise.all(removals.map((step) => this.guarded(step, report)));
    return report;
  }

  /** Carries one step out; errors are logged, never thrown. */
  async guarded(step: ReconcileStep, report: ReconcileReport): Promise<void> {
    try {
      await this.run(step, report);
    } catch (error) {
      this.logger.warn(`reconcile: ${describe(step.target)}: ${(error as Error).message}`);
    }
  }

  private async run(step: ReconcileStep, report: ReconcileReport): Promise<void> {
    if (isRelayStep(step)) {
      await this.runRelay(step);
      (report.relay ??= []).push(step.action);
      return;
    }
    await this.carryOut(step, report);
  }

  private async runRelay(step: RelayStep): Promise<void> {
    switch (step.action) {
      case 'start':
        await this.startRelay();
        this.logger.log({ msg: 'started the relay', workerId: this.relayStatus.current.workerId });
        return;
      case 'adopt':
        this.relayStatus.running(step.workerId);
        this.logger.log({ msg: 'adopted the running relay', workerId: step.workerId });
        return;
      case 'replace':
        await this.runtime.stop(RELAY, step.workerId);
        this.relayStatus.removed(step.workerId);
        await this.startRelay();
        this.logger.log({
          msg: `replaced the relay (${step.why})`,
          workerId: this.relayStatus.current.workerId,
        });
        return;
      case 'fail':
        // Left as it is (its log stays readable) and not restarted: workers cannot tick, /health says why.
        if (this.relayStatus.failed(step.workerId, step.reason)) {
          this.logger.error({ msg: 'the relay is down and not restarted', reason: step.reason });
        }
        return;
      case 'remove': {
        const { workerId, why } = step.target;
        await this.runtime.stop(RELAY, workerId);
        this.relayStatus.removed(workerId);
        this.logger.log({ msg: `removed a relay (${why})`, workerId });
        return;
      }
    }
  }

  /** Starts the relay and records it; a relay that cannot start is recorded as down, with the reason. */
  private async startRelay(): Promise<void> {
    try {
      const relay = await this.runtime.start(this.relaySpecs.spec());
      this.relayStatus.running(relay.workerId);
    } catch (error) {
      const reason = `the relay could not be started: ${(error as Error).message}`;
      this.relayStatus.failed(null, reason);
      throw new Error(reason);
    }
  }

  /**
   * Carries one monitor's step out and answers the monitor's worker afterwards (null when none is left);
   * throws what the runtime threw. Called under the monitor's lock (WorkerSupervisor.converge), with the
   * facts gathered under it.
   */
  async carryOut(
    step: MonitorStep,
    report: ReconcileReport = emptyReport(false),
  ): Promise<WorkerInfo | null> {
    switch (step.action) {
      case 'start': {
        const { monitor } = step.target;
        const worker = await this.start(monitor);
        if (!(await this.keep(monitor, worker.workerId))) return null;
        report.started.push(monitor.id);
        this.logger.log({
          msg: 'started a worker',
          monitorId: monitor.id,
          pair: monitor.pair,
          workerId: worker.workerId,
        });
        return worker;
      }
      case 'adopt': {
        const { monitor } = step.target;
        await this.lifecycle.markRunning(monitor, step.workerId);
        report.adopted.push(monitor.id);
        this.logger.log({ msg: 'adopted a running worker', monitorId: monitor.id, workerId: step.workerId });
        return this.runtime.find(workerOf(monitor.id));
      }
      case 'replace': {
        const { monitor } = step.target;
        await this.runtime.stop(workerOf(monitor.id));
        const replacement = await this.start(monitor);
        if (!(await this.keep(monitor, replacement.workerId))) return null;
        report.replaced.push(monitor.id);
        this.logger.log({
          msg: `replaced a worker (${step.why})`,
          monitorId: monitor.id,
          workerId: replacement.workerId,
        });
        return replacement;
      }
      case 'fail': {
        // Marked failed first, so no reconcile pass starts its worker again, then the worker goes.
        const { monitor } = step.target;
        const changed = await this.lifecycle.fail(monitor, step.reason);
        await this.runtime.stop(workerOf(monitor.id));
        if (!changed) return null; // another replica, or a DELETE, got there first
        report.failed.push(monitor.id);
        this.logger.warn({
          msg: 'monitor failed: its worker is not restarted again',
          monitorId: monitor.id,
          reason: step.reason,
        });
        return null;
      }
      case 'finish': {
        // Marked stopped first (with why), so no reconcile pass starts its worker again, then the worker goes.
        const { monitor } = step.target;
        const changed = await this.lifecycle.stop(monitor, new Date(), step.reason);
        await this.runtime.stop(workerOf(monitor.id));
        if (!changed) return null;
        report.stopped.push(monitor.id);
        this.logger.log({ msg: 'monitor stopped itself', monitorId: monitor.id, reason: step.reason });
        return null;
      }
      case 'remove': {
        const { monitorId, workerId } = step.target;
        await this.runtime.stop(workerOf(monitorId));
        report.removed.push(monitorId);
        this.logger.log({ msg: 'removed a worker with no active monitor', monitorId, workerId });
        return null;
      }
    }
  }

  /**
   * Starts the monitor's worker. When the start fails, what it may have left goes; and a new monitor that
   * never had a worker goes too (its POST answers the error, nothing is left behind): the one exception to
   * "the row stays as the request wrote it, the next pass tries again".
   */
  private async start(monitor: MonitorTarget['monitor']): Promise<WorkerInfo> {
    try {
      return await this.runtime.start(this.specs.specFor(monitor));
    } catch (error) {
      await this.runtime.stop(workerOf(monitor.id)).catch(() => undefined);
      if (neverStarted(monitor)) await this.lifecycle.discard(monitor).catch(() => undefined);
      this.logger.error(`could not start a worker for ${monitor.pair}: ${(error as Error).message}`);
      throw error;
    }
  }

  /**
   * Marks the monitor running with the worker just started; when a DELETE or a failure got there first,
   * the worker goes again at once rather than waiting for the next pass to find it an orphan.
   */
  private async keep(monitor: MonitorTarget['monitor'], workerId: string): Promise<boolean> {
    if (await this.lifecycle.markRunning(monitor, workerId)) return true;
    await this.runtime.stop(workerOf(monitor.id));
    this.logger.log({
      msg: 'removed the worker just started: its monitor is no longer active',
      monitorId: monitor.id,
    });
    return false;
  }
}

/** A monitor created and never given a worker: `starting`, no worker recorded, never restarted. */
function neverStarted(monitor: MonitorTarget['monitor']): boolean {
  return monitor.status === 'starting' && monitor.workerId === null && monitor.restartedAt === null;
}

function describe(target: ReconcileStep['target']): string {
  switch (target.kind) {
    case 'monitor':
      return `monitor ${target.monitor.id} (${target.monitor.pair})`;
    case 'orphan':
      return `worker ${target.workerId} of monitor ${target.monitorId}`;
    case 'relay':
      return 'the relay';
    case 'relay-removal':
      return `relay ${target.workerId}`;
  }
}
