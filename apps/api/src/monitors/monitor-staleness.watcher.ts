import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import type { WorkerState } from '@pairwatch/contracts';
import { BackgroundLoop } from '../common/background-loop';
import { WorkerStateReader } from '../redis/worker-state.reader';
import { MonitorLifecycle } from './monitor-lifecycle.service';
import type { MonitorEntity } from './monitor.entity';
import { MonitorsRepository } from './monitors.repository';
import { reportNotDueYet } from './report-due';

/** How often the running monitors are compared with their workers' reports. */
export const STALENESS_CHECK_EVERY_MS = 2_000;

/** What a check does to a monitor: open its stale episode, close it, or nothing. */
export type StalenessStep = 'markStale' | 'markReporting' | undefined;

/**
 * A running monitor is stale when its worker's report (the state hash with a TTL) is missing and the monitor
 * has been running for longer than that TTL (a worker just started has not reported yet); it reports again
 * when the report is back.
 */
export function stalenessStep(
  monitor: Pick<MonitorEntity, 'status' | 'staleSince' | 'updatedAt' | 'intervalMs'>,
  report: WorkerState | undefined,
  now: number,
): StalenessStep {
  if (monitor.status !== 'running') return undefined;
  if (report !== undefined) return monitor.staleSince === null ? undefined : 'markReporting';
  if (monitor.staleSince !== null) return undefined;
  return reportNotDueYet(monitor, now) ? undefined : 'markStale';
}

/**
 * Watches, in every API replica, the running monitors against their workers' reports and tells
 * MonitorLifecycle when one goes stale or reports again. The episode is recorded in Postgres by one
 * conditional statement, so however many replicas see it, it is announced once. When Redis cannot be read
 * nothing is concluded.
 */
@Injectable()
export class MonitorStalenessWatcher implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(MonitorStalenessWatcher.name);
  private readonly loop = new BackgroundLoop({
    name: 'staleness check',
    pass: () => this.check(),
    everyMs: STALENESS_CHECK_EVERY_MS,
    firstAfterMs: STALENESS_CHECK_EVERY_MS,
    logger: this.logger,
  });

  constructor(
    private readonly monitors: MonitorsRepository,
    private readonly states: WorkerStateReader,
    private readonly lifecycle: MonitorLifecycle,
  ) {}

  onApplicationBootstrap(): void {
    this.loop.start();
  }

  onApplicationShutdown(): Promise<void> {
    return this.loop.stop();
  }

  /** One comparison of the running monitors with the reports. Exported for tests. */
  async check(now = Date.now()): Promise<void> {
    const running = (await this.monitors.listActive()).filter((m) => m.status === 'running');
    if (running.length === 0) return;
    const reports = await this.states.read(running.map((m) => m.id));
    for (const monitor of running) {
      const step = stalenessStep(monitor, reports.get(monitor.id), now);
      if (step === undefined) continue;
      if (await this.lifecycle[step](monitor, new Date(now))) {
        this.logger.log({
          msg: step === 'markStale' ? 'monitor stale' : 'monitor reporting again',
          monitorId: monitor.id,
          pair: monitor.pair,
        });
      }
    }
  }
}
