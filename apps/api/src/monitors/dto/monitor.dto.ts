import { isLegacyMoveRule, RuleSet, type WorkerState as WorkerReport } from '@pairwatch/contracts';
import type { WorkerInfo, WorkerState } from '../../runtime/worker-runtime';
import { rulesOf, type MonitorEntity, type MonitorStatus } from '../monitor.entity';
import { reportNotDueYet } from '../report-due';

/** A rule as GET /monitors shows it: its stored fields, how many alerts it fired and whether it is done. */
export class RuleStateDto {
  /** @example r1 */
  id: string;
  kind: 'move' | 'cross' | 'window' | 'trailing' | 'spread';
  priceField: 'ask' | 'bid' | 'mid';
  cooldownMs: number;
  maxFires?: number;
  expiresAt?: string;
  label?: string;
  thresholdPercent?: string;
  level?: string;
  rearmPercent?: string;
  windowMs?: number;
  direction?: 'both' | 'up' | 'down';
  /** Alerts this rule fired (stored), over the monitor's whole history. */
  fires: number;
  /** Fired `maxFires` times, or past `expiresAt`: it fires no more. */
  done: boolean;
}

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
  /** Every rule with its fires and whether it is done. */
  rules: RuleStateDto[];
  /** The one `move` rule's threshold of a monitor made without `rules`; null otherwise. @example "0.01" */
  thresholdPercent: string | null;
  /** As thresholdPercent: the one `move` rule's field, or null. */
  priceField: 'ask' | 'bid' | 'mid' | null;
  direction: 'both' | 'up' | 'down' | null;
  cooldownMs: number | null;
  status: MonitorStatus;
  /** Why the monitor failed, when it did. */
  reason: string | null;
  /** Why a stopped monitor stopped itself (`rules done`); null when a request stopped it. */
  stopReason: string | null;
  workerId: string | null;
  createdAt: string;
  stoppedAt: string | null;
  /** Live state of the worker; null for a stopped monitor. */
  worker: WorkerStateDto | null;

  static from(
    entity: MonitorEntity,
    info?: WorkerInfo | null,
    report?: WorkerReport,
    fires: Readonly<Record<string, number>> = {},
    now = Date.now(),
  ): MonitorDto {
    const active = entity.status === 'starting' || entity.status === 'running';
    const rules = rulesOf(entity);
    const legacy = isLegacyMoveRule(rules) ? rules[0] : null;
    // The contracts' own evaluator decides "done" (maxFires reached, expiresAt passed), as in the worker.
    const progress = new RuleSet(rules, fires).progress(now);
    return {
      id: entity.id,
      pair: entity.pair,
      intervalMs: entity.intervalMs,
      rules: rules.map((rule, i) => ({ ...rule, fires: progress[i].fires, done: progress[i].done })),
      thresholdPercent: legacy?.thresholdPercent ?? null,
      priceField: legacy?.priceField ?? null,
      direction: legacy?.direction ?? null,
      cooldownMs: legacy?.cooldownMs ?? null,
      status: entity.status,
      reason: entity.status === 'stopped' ? null : entity.reason,
      stopReason: entity.status === 'stopped' ? entity.reason : null,
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
