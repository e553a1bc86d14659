import type { WorkerState as WorkerReport } from '@pairwatch/contracts';
import type { WorkerInfo, WorkerState } from '../../runtime/worker-runtime';
import type { MonitorEntity, MonitorStatus } from '../monitor.entity';
import { reportNotDueYet } from '../report-due';

export class WorkerStateDto {
  /** Container (or service, or process) id; null when no worker exists. */
  id: string | null;
  /** What the runtime says: running, restarting, exited, missing… */
  state: WorkerState;
  /** Times the runtime restarted the worker. */
  restarts: number;
  exitCode: number | null;
  /** Last time the worker read the ticker (ISO-8601), from its own report. */
  lastTickAt: string | null;
  /** Last price the worker saw. */
  lastPrice: string | null;
  /** The detector's current reference: its first price, then the price of its last alert. */
  referencePrice: string | null;
  consecutiveErrors: number;
  lastError: string | null;
  /**
   * true when the worker's report has expired: it has not been heard from for several intervals. A worker
   * just started (its monitor `starting`, or running for less than the report's TTL) is not stale yet.
   */
  stale: boolean;
}

export class MonitorDto {
  id: string;
  /** @example BTC-USD */
  pair: string;
  intervalMs: number;
  /** Exact decimal string. @example "0.01" */
  thresholdPercent: string;
  priceField: 'ask' | 'bid' | 'mid';
  direction: 'both' | 'up' | 'down';
  cooldownMs: number;
  status: MonitorStatus;
  /** Why the monitor failed, when it did. */
  reason: string | null;
  workerId: string | null;
  createdAt: string;
  stoppedAt: string | null;
  /** Live state of the worker; null for a stopped monitor. */
  worker: WorkerStateDto | null;

  static from(entity: MonitorEntity, info?: WorkerInfo | null, report?: WorkerReport): MonitorDto {
    const active = entity.status === 'starting' || entity.status === 'running';
    return {
      id: entity.id,
      pair: entity.pair,
      intervalMs: entity.intervalMs,
      thresholdPercent: entity.thresholdPercent,
      priceField: entity.priceField,
      direction: entity.direction,
      cooldownMs: entity.cooldownMs,
      status: entity.status,
      reason: entity.reason,
      workerId: entity.workerId,
      createdAt: entity.createdAt.toISOString(),
      stoppedAt: entity.stoppedAt?.toISOString() ?? null,
      worker:
        active || info
          ? {
              id: info?.workerId || null,
              state: info?.state ?? 'missing',
              restarts: info?.restarts ?? 0,
              exitCode: info?.exitCode ?? null,
              lastTickAt: report?.lastTickAt ?? null,
              lastPrice: report?.lastPrice ?? null,
              referencePrice: report?.referencePrice ?? null,
              consecutiveErrors: report?.consecutiveErrors ?? 0,
              lastError: report?.lastError ?? null,
              stale: report === undefined && !reportNotDueYet(entity, Date.now()),
            }
          : null,
    };
  }
}
