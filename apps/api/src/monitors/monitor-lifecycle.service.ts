import { Injectable, OnModuleDestroy } from '@nestjs/common';
import { Observable, Subject } from 'rxjs';
import type { MonitorEntity, MonitorStatus } from './monitor.entity';
import { MonitorsRepository, NewMonitor, StatusChange, UpstreamBudget } from './monitors.repository';

/** What a caller means by a transition; each has its own rule. */
export type LifecycleIntent =
  'create' | 'markRunning' | 'fail' | 'stop' | 'reactivate' | 'discard' | 'markStale' | 'markReporting';

/** A status, or null for "no row": before create, after discard. */
export type LifecycleState = MonitorStatus | null;

interface Rule {
  from: readonly LifecycleState[];
  to: readonly LifecycleState[];
}

/**
 * The state machine: for each intent, the statuses it may start from and those it may lead to.
 * `starting → running → stopped | failed`, `failed | stopped → starting`, a running monitor adopting a new
 * worker (running → running), and a new monitor whose first worker could not be started going away.
 */
export const LIFECYCLE_RULES: Readonly<Record<LifecycleIntent, Rule>> = {
  create: { from: [null], to: ['starting'] },
  markRunning: { from: ['starting', 'running'], to: ['running'] },
  fail: { from: ['starting', 'running'], to: ['failed'] },
  stop: { from: ['starting', 'running', 'failed'], to: ['stopped'] },
  reactivate: { from: ['stopped', 'failed'], to: ['starting'] },
  /**
   * A new monitor whose first worker could not be started leaves nothing behind (also when a DELETE came
   * meanwhile); only the supervisor's executor discards, under the monitor's lock.
   */
  discard: { from: ['starting', 'stopped'], to: [null] },
  /** A running monitor's worker report expired: a stale episode opens (the status stays running). */
  markStale: { from: ['running'], to: ['running'] },
  /** A stale monitor's worker reports again: the episode closes. */
  markReporting: { from: ['running'], to: ['running'] },
};

/** Whether `intent` may start from `status`. */
export function allows(intent: LifecycleIntent, status: LifecycleState): boolean {
  return LIFECYCLE_RULES[intent].from.includes(status);
}

export class IllegalTransitionError extends Error {
  override readonly name = 'IllegalTransitionError';

  constructor(
    readonly monitorId: string | null,
    readonly intent: LifecycleIntent,
    readonly from: LifecycleState,
    readonly to: LifecycleState,
  ) {
    super(
      `monitor ${monitorId ?? '(new)'}: ${intent} cannot take it from ${from ?? 'nothing'} to ${to ?? 'nothing'}`,
    );
  }
}

/** Throws IllegalTransitionError unless the rule of `intent` allows `from → to`. */
export function assertTransition(
  intent: LifecycleIntent,
  monitorId: string | null,
  from: LifecycleState,
  to: LifecycleState,
): void {
  const rule = LIFECYCLE_RULES[intent];
  if (!rule.from.includes(from) || !rule.to.includes(to)) {
    throw new IllegalTransitionError(monitorId, intent, from, to);
  }
}

/** One transition, as announced once it is committed. */
export interface MonitorTransition {
  monitorId: string;
  pair: string;
  intent: LifecycleIntent;
  from: LifecycleState;
  to: LifecycleState;
  /** Why, when the transition says (a failure's reason, or the reason an undo restored). */
  reason: string | null;
  /** The worker the monitor records after the transition. */
  workerId: string | null;
  at: Date;
}

type Snapshot = MonitorEntity;

/**
 * The one owner of a monitor's status. Every transition is checked against LIFECYCLE_RULES (an illegal one
 * throws IllegalTransitionError), written as one conditional statement (so concurrent replicas and requests
 * cannot both win) and announced on `transitions`. A method answers false when the row had already left the
 * statuses the transition starts from; the snapshot passed in is updated to the row when it answers true.
 */
@Injectable()
export class MonitorLifecycle implements OnModuleDestroy {
  private readonly subject = new Subject<MonitorTransition>();
  /** Every committed transition, in this process, in the order they were committed. */
  readonly transitions: Observable<MonitorTransition> = this.subject.asObservable();

  constructor(private readonly monitors: MonitorsRepository) {}

  onModuleDestroy(): void {
    this.subject.complete();
  }

  /** Records a new monitor as `starting`, under the pair and budget checks. */
  async create(values: NewMonitor, budget: UpstreamBudget): Promise<MonitorEntity> {
    assertTransition('create', null, null, 'starting');
    const monitor = await this.monitors.insertWithinBudget({ ...values, status: 'starting' }, budget);
    this.announce(monitor, 'create', null, { status: 'starting' }, new Date());
    return monitor;
  }

  /** Its worker runs: `starting → running`, or a running monitor adopting another worker. */
  markRunning(monitor: Snapshot, workerId: string): Promise<boolean> {
    return this.move(monitor, 'markRunning', { status: 'running', workerId });
  }

  /** Marks the monitor failed with its reason; its worker is stopped by the caller afterwards, never before. */
  fail(monitor: Snapshot, reason: string): Promise<boolean> {
    return this.move(monitor, 'fail', { status: 'failed', reason });
  }

  /**
   * Marks the monitor stopped (before its worker goes, so no reconcile pass starts it again). `reason`: why it
   * stopped itself (`rules done`, shown as stopReason); null when a request stopped it.
   */
  stop(monitor: Snapshot, at = new Date(), reason: string | null = null): Promise<boolean> {
    return this.move(monitor, 'stop', { status: 'stopped', stoppedAt: at, reason }, at);
  }

  /**
   * Puts a stopped or failed monitor back to `starting`, under the same pair and budget checks as a new
   * one. Deaths before now no longer count towards its crash loop.
   */
  reactivate(monitor: Snapshot, budget: UpstreamBudget, at = new Date()): Promise<boolean> {
    const change: StatusChange = { status: 'starting', reason: null, stoppedAt: null, restartedAt: at };
    return this.move(monitor, 'reactivate', change, at, (from) =>
      this.monitors.moveWithinBudget(monitor, { from, change }, budget),
    );
  }

  /**
   * The running monitor's worker report has expired: opens its stale episode, once (false when it was open
   * already, e.g. by another replica, or the monitor is no longer running). Any move away from running
   * closes the episode silently.
   */
  markStale(monitor: Snapshot, at = new Date()): Promise<boolean> {
    return this.markEpisode(monitor, 'markStale', at, at);
  }

  /** The stale monitor's worker reports again: closes its stale episode, once. */
  markReporting(monitor: Snapshot, at = new Date()): Promise<boolean> {
    return this.markEpisode(monitor, 'markReporting', null, at);
  }

  /** A new monitor whose first worker could not be started: the row goes. */
  async discard(monitor: Snapshot): Promise<boolean> {
    assertTransition('discard', monitor.id, monitor.status, null);
    const from = await this.monitors.deleteIfIn(monitor.id, statusesOf('discard'));
    if (from === null) return false;
    this.subject.next({
      monitorId: monitor.id,
      pair: monitor.pair,
      intent: 'discard',
      from,
      to: null,
      reason: null,
      workerId: null,
      at: new Date(),
    });
    return true;
  }

  private async markEpisode(
    monitor: Snapshot,
    intent: 'markStale' | 'markReporting',
    staleSince: Date | null,
    at: Date,
  ): Promise<boolean> {
    assertTransition(intent, monitor.id, monitor.status, 'running');
    if (!(await this.monitors.markStale(monitor.id, staleSince))) return false;
    monitor.staleSince = staleSince;
    this.announce(monitor, intent, 'running', { status: 'running' }, at);
    return true;
  }

  private async move(
    monitor: Snapshot,
    intent: LifecycleIntent,
    change: StatusChange,
    at = new Date(),
    write: (from: readonly MonitorStatus[]) => Promise<MonitorStatus | null> = (from) =>
      this.monitors.move(monitor.id, { from, change }),
  ): Promise<boolean> {
    assertTransition(intent, monitor.id, monitor.status, change.status);
    const from = await write(statusesOf(intent));
    if (from === null) return false;
    Object.assign(monitor, change);
    this.announce(monitor, intent, from, change, at);
    return true;
  }

  private announce(
    monitor: Snapshot,
    intent: LifecycleIntent,
    from: LifecycleState,
    change: StatusChange,
    at: Date,
  ): void {
    this.subject.next({
      monitorId: monitor.id,
      pair: monitor.pair,
      intent,
      from,
      to: change.status,
      reason: change.reason ?? null,
      workerId: monitor.workerId ?? null,
      at,
    });
  }
}

/** The statuses (rows, not "nothing") an intent starts from: the condition of its SQL statement. */
function statusesOf(intent: LifecycleIntent): MonitorStatus[] {
  return LIFECYCLE_RULES[intent].from.filter((s): s is MonitorStatus => s !== null);
}
