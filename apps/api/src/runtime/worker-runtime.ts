import type { MonitorConfig } from '@pairwatch/contracts';

/** The two kinds of thing the runtime keeps running: a monitor's worker, and the installation's relay. */
export type WorkloadRole = 'worker' | 'relay';

/** One thing the runtime runs: a monitor's worker (key: the monitor id) or the relay (key: RELAY_KEY). */
export interface Workload {
  role: WorkloadRole;
  key: string;
}

/** The relay's key: one per installation. No monitor id can be `relay`. */
export const RELAY_KEY = 'relay';
export const RELAY: Workload = { role: 'relay', key: RELAY_KEY };

export function workerOf(monitorId: string): Workload {
  return { role: 'worker', key: monitorId };
}

/** What the runtime needs to start one worker: the validated monitor and the worker's environment. */
export interface WorkerSpec {
  role: 'worker';
  monitor: MonitorConfig;
  env: Record<string, string>;
}

/** The relay: its environment (libs/contracts toRelayEnv, the listen address included) and its port. */
export interface RelaySpec {
  role: 'relay';
  env: Record<string, string>;
  port: number;
}

export type WorkloadSpec = WorkerSpec | RelaySpec;

export function workloadOf(spec: WorkloadSpec): Workload {
  return spec.role === 'relay' ? RELAY : workerOf(spec.monitor.monitorId);
}

/** created, running, restarting (the runtime is bringing it back), exited/dead (it gave up), missing (none). */
export type WorkerState = 'created' | 'running' | 'restarting' | 'exited' | 'dead' | 'missing' | 'unknown';

/** One workload as the runtime sees it, found by its pairwatch labels. */
export interface WorkerInfo {
  role: WorkloadRole;
  workerId: string;
  /** The monitor whose worker it is; empty for the relay. */
  monitorId: string;
  pair: string;
  name: string;
  state: WorkerState;
  exitCode: number | null;
  restarts: number;
  image: string;
  startedAt: string | null;
  /** The spec-hash label stamped at start: image id and environment. Differs from specHash() when stale. */
  specHash: string | null;
}

export function workloadOfInfo(info: Pick<WorkerInfo, 'role' | 'monitorId'>): Workload {
  return info.role === 'relay' ? RELAY : workerOf(info.monitorId);
}

/** One death of a workload. Its `key` is the same whoever observes it (replica, event or pass): recorded once. */
export interface WorkerExit {
  workload: Workload;
  workerId: string;
  key: string;
  exitCode: number | null;
  exitedAt: Date;
  /** The last lines the workload wrote, for the failure reason. */
  logTail: string;
}

/** Something happened to a workload; the supervisor looks at it at once instead of at the next reconcile. */
export interface WorkerEvent {
  kind: 'exit' | 'removed' | 'started';
  workload: Workload;
  /** For an exit, when the event itself tells it (Docker's die event does); its log tail may be empty. */
  exit?: WorkerExit;
}

/** The engine (or swarm, or process table) cannot be reached, or cannot run workers: answered as 503. */
export class RuntimeUnavailableError extends Error {
  override readonly name = 'RuntimeUnavailableError';
}

export interface ListOptions {
  /** How old a listing may be answered from (ms); none: ask the runtime now. */
  maxAgeMs?: number;
}

/**
 * Where workloads run. One implementation per `WORKER_RUNTIME`; the rest of the API sees only this.
 * stop() is idempotent: a workload already stopped or already gone is success.
 */
export abstract class WorkerRuntime {
  abstract readonly kind: 'docker' | 'swarm' | 'process';
  /** Throws RuntimeUnavailableError when the runtime cannot be reached. */
  abstract ping(): Promise<void>;
  /** Throws RuntimeUnavailableError when workloads cannot be started (engine down, image missing). */
  abstract ensureReady(): Promise<void>;
  /** Starts the workload; one that already exists (another replica won the race) is returned instead. */
  abstract start(spec: WorkloadSpec): Promise<WorkerInfo>;
  /** Stops and removes the workload: every instance of it, or only `workerId` when given (an extra relay). */
  abstract stop(workload: Workload, workerId?: string): Promise<void>;
  /**
   * Every workload of the role of this installation, in the detail find() gives, in one call. With `maxAgeMs`
   * a runtime may answer from a listing that old when nothing it knows of changed since (GET /monitors).
   */
  abstract list(role: WorkloadRole, options?: ListOptions): Promise<WorkerInfo[]>;
  /** The workload, inspected in detail (restarts, exit code); null when there is none. */
  abstract find(workload: Workload): Promise<WorkerInfo | null>;
  /** The spec hash a workload started now for `spec` would carry; compared with WorkerInfo.specHash. */
  abstract specHash(spec: WorkloadSpec): Promise<string>;
  /** The workload's most recent death, with its last log lines, if it has died since it was created. */
  abstract lastExit(workload: Workload): Promise<WorkerExit | null>;
  /** Calls `listener` for each workload event of the runtime's own source (reconnecting by itself). */
  abstract watch(listener: (event: WorkerEvent) => void): () => void;
}

export const LABELS = {
  managed: 'pairwatch.managed',
  instance: 'pairwatch.instance',
  monitorId: 'pairwatch.monitor-id',
  pair: 'pairwatch.pair',
  specHash: 'pairwatch.spec-hash',
  /** `worker` or `relay`; workers started before it existed are known by their monitor-id label. */
  role: 'pairwatch.role',
} as const;
