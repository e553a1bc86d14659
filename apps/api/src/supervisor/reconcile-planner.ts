import { WORKER_EXIT } from '@pairwatch/contracts';
import type { MonitorEntity } from '../monitors/monitor.entity';
import type { WorkerExit, WorkerInfo } from '../runtime/worker-runtime';

/**
 * Reconcile, the plan half: a pure function from what is (active monitors, the runtime's workers, their
 * recent deaths, the spec hashes a worker started now would carry) to the steps that make it what should be.
 * No I/O and no clock: the supervisor gathers the facts, the executor carries the steps out.
 */

/** The monitor as the plan needs it; the executor hands the same object to the lifecycle. */
export type PlannedMonitor = MonitorEntity;

/** A monitor's worker: one kind of thing kept running. */
export interface MonitorTarget {
  kind: 'monitor';
  monitor: PlannedMonitor;
}

/** A worker the runtime lists with no active monitor behind it. */
export interface OrphanTarget {
  kind: 'orphan';
  monitorId: string;
  workerId: string;
}

/** The installation's relay (UPHOLD_RELAY=on): the other kind; exactly one is kept running. */
export interface RelayTarget {
  kind: 'relay';
}

/** A relay that must go: an extra one, or any while UPHOLD_RELAY=off. */
export interface RelayRemovalTarget {
  kind: 'relay-removal';
  workerId: string;
  why: string;
}

export type ReconcileStep =
  /** No relay: start one. Planned before any worker start, so that workers find it. */
  | { action: 'start'; target: RelayTarget }
  /** A healthy relay this API has not recorded (after an API restart): record it as the relay. */
  | { action: 'adopt'; target: RelayTarget; workerId: string }
  /** A relay that is gone or stale: stop it and start another. */
  | { action: 'replace'; target: RelayTarget; workerId: string; why: string }
  /** A relay caught in a crash loop, or that cannot be looked at: report it (logged, shown in /health). */
  | { action: 'fail'; target: RelayTarget; workerId: string | null; reason: string }
  | { action: 'remove'; target: RelayRemovalTarget }
  /** No worker: start one and mark the monitor running with it. */
  | { action: 'start'; target: MonitorTarget }
  /** A healthy worker the monitor does not record (yet): mark the monitor running with it. */
  | { action: 'adopt'; target: MonitorTarget; workerId: string }
  /** A worker that is gone or stale: stop it, start another, mark the monitor running with that. */
  | { action: 'replace'; target: MonitorTarget; why: string }
  /** A worker that must not run again: mark the monitor failed, then stop the worker. */
  | { action: 'fail'; target: MonitorTarget; reason: string }
  /** A worker that exited because every rule is done: mark the monitor stopped (`rules done`), remove it. */
  | { action: 'finish'; target: MonitorTarget; reason: string }
  /** A worker nothing should run: stop it. */
  | { action: 'remove'; target: OrphanTarget };

export type ReconcileAction = ReconcileStep['action'];

/** A step of one monitor's worker (not the relay's). */
export type MonitorStep = Extract<ReconcileStep, { target: MonitorTarget | OrphanTarget }>;

export interface PlannerConfig {
  crashLoop: { maxDeaths: number; windowMs: number };
  /** How often the runtime itself restarts a dying worker before it gives up. */
  maxRestarts: number;
}

/** What is known of one active monitor. */
export interface MonitorFacts {
  monitor: PlannedMonitor;
  /** Its worker as the runtime inspected it (or listed it); null when the runtime lists none. */
  worker: WorkerInfo | null;
  /** The spec hash a worker started now would carry; null when it was not asked (no worker, or gone). */
  specHash: string | null;
  /** Deaths since deathWindowStart(); asked only when needsDeathFacts(worker). */
  deaths: number;
  lastExit: WorkerExit | null;
  /** Set when the facts could not be gathered: the monitor is left alone this pass (its worker too). */
  unreadable?: string;
}

/** What is known of the relay. */
export interface RelayFacts {
  /** UPHOLD_RELAY=on. */
  wanted: boolean;
  /** Every relay the runtime lists for this installation, inspected. */
  relays: WorkerInfo[];
  /** The spec hash a relay started now would carry; null when not asked (none wanted, or none listed). */
  specHash: string | null;
  /** Deaths of the relay within the crash-loop window (worker_exits, as every replica records them). */
  deaths: number;
  lastExit: WorkerExit | null;
  /** The relay this API has recorded as the one running (started or adopted); null when none yet. */
  recordedId: string | null;
  /** Set when the facts could not be gathered: the relay is left alone this pass, and reported (fail). */
  unreadable?: string;
}

export interface ReconcileFacts {
  now: number;
  /** Absent: the relay is not looked at (as before it existed). */
  relay?: RelayFacts;
  /** Every active monitor, in creation order. */
  monitors: MonitorFacts[];
  /** Every worker the runtime lists for this installation. */
  workers: WorkerInfo[];
}

const GONE: ReadonlySet<WorkerInfo['state']> = new Set(['exited', 'dead']);

export function isGone(worker: WorkerInfo): boolean {
  return GONE.has(worker.state);
}

/** Whether the worker might be caught in a crash loop, so its deaths and last exit must be looked at. */
export function needsDeathFacts(worker: WorkerInfo): boolean {
  return worker.state === 'restarting' || isGone(worker) || worker.restarts > 0;
}

/** Whether the worker's spec hash must be compared: it lives. */
export function needsSpecHash(worker: WorkerInfo): boolean {
  return !isGone(worker);
}

/** Deaths are counted over the window, and never from before the monitor was last restarted. */
export function deathWindowStart(monitor: PlannedMonitor, now: number, windowMs: number): Date {
  return new Date(Math.max(now - windowMs, monitor.restartedAt?.getTime() ?? 0));
}

/** The stopReason of a monitor whose worker exited because every rule is done (WORKER_EXIT.rulesDone). */
export const RULES_DONE = 'rules done';

export function unknownPairReason(pair: string, exitCode: number | null, exit: WorkerExit | null): string {
  return `pair ${pair} is unknown at the ticker (worker exit code ${exitCode})${logLines(exit)}`;
}

/**
 * The one crash-loop rule, for a worker and for the relay alike: why the workload must not be restarted
 * again (it died more than maxDeaths times within the window, as every replica counts them in worker_exits,
 * or the runtime gave up restarting it), or null when it may live on (or be replaced).
 */
export function crashLoopVerdict(
  facts: Pick<MonitorFacts, 'deaths' | 'lastExit'>,
  workload: WorkerInfo,
  config: PlannerConfig,
): string | null {
  const { deaths, lastExit } = facts;
  const { maxDeaths, windowMs } = config.crashLoop;
  const gaveUp = isGone(workload) && workload.exitCode !== 0 && workload.restarts >= config.maxRestarts;
  if (deaths <= maxDeaths && !gaveUp) return null;
  const code = lastExit?.exitCode ?? workload.exitCode;
  const count = Math.max(deaths, workload.restarts + 1);
  const consequence = workload.role === 'relay' ? '; workers cannot reach Uphold until it runs' : '';
  return (
    `${workload.role} crash loop: died ${count} times within ${Math.round(windowMs / 1000)} s ` +
    `(last exit code ${code ?? 'unknown'})${consequence}${logLines(lastExit)}`
  );
}

/**
 * The step for one active monitor: none, or one. A request's monitor needs no grace: every step of a
 * monitor is carried out under that monitor's lock, on facts gathered under it (MonitorConvergence).
 */
export function planMonitor(facts: MonitorFacts, config: PlannerConfig): MonitorStep | null {
  const { monitor, worker } = facts;
  if (facts.unreadable) return null;
  const target: MonitorTarget = { kind: 'monitor', monitor };
  if (!worker) return { action: 'start', target };
  if (needsDeathFacts(worker)) {
    const code = facts.lastExit?.exitCode ?? worker.exitCode;
    if (code === WORKER_EXIT.unknownPair && isGone(worker))
      return { action: 'fail', target, reason: unknownPairReason(monitor.pair, code, facts.lastExit) };
    // Every rule fired its maxFires or expired: not a crash, the monitor is done.
    if (code === WORKER_EXIT.rulesDone) return { action: 'finish', target, reason: RULES_DONE };
    const reason = crashLoopVerdict(facts, worker, config);
    if (reason) return { action: 'fail', target, reason };
  }
  if (isGone(worker)) return { action: 'replace', target, why: `worker ${worker.state}` };
  if (worker.specHash !== facts.specHash)
    return { action: 'replace', target, why: 'image or configuration changed' };
  if (monitor.status !== 'running' || monitor.workerId !== worker.workerId) {
    return { action: 'adopt', target, workerId: worker.workerId };
  }
  return null;
}

/** The relay that counts: a live one first, else the newest listed. */
export function currentRelay(relays: readonly WorkerInfo[]): WorkerInfo | null {
  const byStart = [...relays].sort((a, b) => (b.startedAt ?? '').localeCompare(a.startedAt ?? ''));
  return byStart.find((r) => !isGone(r)) ?? byStart[0] ?? null;
}

/**
 * The relay's steps: with UPHOLD_RELAY=off every relay goes; on, one is kept (started, adopted, replaced when
 * gone or stale, reported instead of restarted when it keeps dying) and any other goes.
 */
export function planRelay(facts: RelayFacts, config: PlannerConfig): ReconcileStep[] {
  const target: RelayTarget = { kind: 'relay' };
  if (facts.unreadable) {
    const reason = `the relay cannot be looked at: ${facts.unreadable}`;
    return [{ action: 'fail', target, workerId: facts.recordedId, reason }];
  }
  const remove = (relay: WorkerInfo, why: string): ReconcileStep => ({
    action: 'remove',
    target: { kind: 'relay-removal', workerId: relay.workerId, why },
  });
  if (!facts.wanted) return facts.relays.map((relay) => remove(relay, 'UPHOLD_RELAY=off'));
  const current = currentRelay(facts.relays);
  const extras = facts.relays.filter((r) => r !== current).map((r) => remove(r, 'one relay is enough'));
  if (!current) return [{ action: 'start', target }, ...extras];
  const { workerId } = current;
  const stale = facts.specHash !== null && current.specHash !== facts.specHash;
  let step: ReconcileStep | null = null;
  if (stale) step = { action: 'replace', target, workerId, why: 'image or configuration changed' };
  else if (needsDeathFacts(current)) {
    const reason = crashLoopVerdict(facts, current, config);
    if (reason) step = { action: 'fail', target, workerId, reason };
  }
  if (!step && isGone(current)) step = { action: 'replace', target, workerId, why: `relay ${current.state}` };
  if (!step && facts.recordedId !== workerId) step = { action: 'adopt', target, workerId };
  return step ? [step, ...extras] : extras;
}

/**
 * Every step that makes what runs equal to what should run: the relay's first, then the monitors' steps in
 * order, then removals.
 */
export function planReconcile(facts: ReconcileFacts, config: PlannerConfig): ReconcileStep[] {
  const steps: ReconcileStep[] = facts.relay ? planRelay(facts.relay, config) : [];
  for (const monitorFacts of facts.monitors) {
    const step = planMonitor(monitorFacts, config);
    if (step) steps.push(step);
  }
  const active = new Set(facts.monitors.map((m) => m.monitor.id));
  for (const worker of facts.workers) {
    if (active.has(worker.monitorId)) continue;
    steps.push({
      action: 'remove',
      target: { kind: 'orphan', monitorId: worker.monitorId, workerId: worker.workerId },
    });
  }
  return steps;
}

function logLines(exit: WorkerExit | null): string {
  return exit?.logTail ? `; last log lines:\n${exit.logTail}` : '';
}
