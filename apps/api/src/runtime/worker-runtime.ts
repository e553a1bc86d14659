import type { MonitorConfig } from '@pairwatch/contracts';

/** What the runtime needs to start one worker: the validated monitor and the worker's environment. */
export interface WorkerSpec {
  monitor: MonitorConfig;
  env: Record<string, string>;
}

/**
 * What the runtime needs to start the installation's relay: its environment (libs/contracts toRelayEnv, the
 * listen address included) and the port it listens on.
 */
export interface RelaySpec {
  env: Record<string, string>;
  port: number;
}

/** created, running, restarting (the runtime is bringing it back), exited/dead (it gave up), missing (none). */
export type WorkerState = 'created' | 'running' | 'restarting' | 'exited' | 'dead' | 'missing' | 'unknown';

/** One worker as the runtime sees it, found by its pairwatch labels. */
export interface WorkerInfo {
  workerId: string;
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

/**
 * One death of a worker. `key` is the same whichever API replica, or whichever path (event or
 * reconcile), observes it, so recording it twice is harmless.
 */
export interface WorkerExit {
  monitorId: string;
  workerId: string;
  key: string;
  exitCode: number | null;
  exitedAt: Date;
  /** The last lines the worker wrote, for the failure reason. */
  logTail: string;
}

/** Something happened to a worker; the supervisor looks at it at once instead of at the next reconcile. */
export interface WorkerEvent {
  kind: 'exit' | 'removed' | 'started';
  /** The monitor whose worker it was; empty for the relay. */
  monitorId: string;
  /** Set when the event is the relay's, not a worker's. */
  role?: 'relay';
  /**
   * For an exit, when the event itself tells it (Docker's die event does): the death, keyed by the event
   * so every replica records it once. The log tail may be empty; the supervisor fetches it.
   */
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
 * Where workers run. One implementation per `WORKER_RUNTIME`; the rest of the API sees only this.
 * stop() is idempotent: a worker already stopped or already gone is success.
 */
export abstract class WorkerRuntime {
  abstract readonly kind: 'docker' | 'swarm' | 'process';
  /** Throws RuntimeUnavailableError when the runtime cannot be reached. */
  abstract ping(): Promise<void>;
  /** Throws RuntimeUnavailableError when workers cannot be started (engine down, image missing). */
  abstract ensureReady(): Promise<void>;
  /**
   * Starts the monitor's worker. When one already exists for the monitor (another API replica won the
   * race) it is adopted and returned instead of a second being made.
   */
  abstract start(spec: WorkerSpec): Promise<WorkerInfo>;
  abstract stop(monitorId: string): Promise<void>;
  /**
   * Every worker of this installation (label pairwatch.instance), in the detail find() gives (restarts, exit
   * code): what GET /monitors and a reconcile pass read, one call for all of them. With `maxAgeMs` a runtime
   * may answer from a listing that old, when nothing it knows of changed since (GET /monitors; a reconcile
   * pass always asks afresh).
   */
  abstract list(options?: ListOptions): Promise<WorkerInfo[]>;
  /** The monitor's worker, inspected in detail (restarts, exit code); null when there is none. */
  abstract find(monitorId: string): Promise<WorkerInfo | null>;
  /** The spec hash a worker started now for `spec` would carry; compared with WorkerInfo.specHash. */
  abstract specHash(spec: WorkerSpec): Promise<string>;
  /** The worker's most recent death, if it has died since it was created; null otherwise. */
  abstract lastExit(monitorId: string): Promise<WorkerExit | null>;
  /**
   * Follows the runtime's own event source (reconnecting by itself) and calls `listener` for each
   * worker event. Returns a function that stops following.
   */
  abstract watch(listener: (event: WorkerEvent) => void): () => void;

  /**
   * The installation's relays (label pairwatch.role=relay), inspected in detail (restarts, exit code): none
   * or one, unless something made more. list() never shows them.
   */
  abstract listRelays(): Promise<WorkerInfo[]>;
  /** Starts the relay; when one of its name exists already (another API replica made it), that one is answered. */
  abstract startRelay(spec: RelaySpec): Promise<WorkerInfo>;
  /** Stops and removes one relay by its workerId; already gone is success. */
  abstract stopRelay(workerId: string): Promise<void>;
  /** The spec hash a relay started now for `spec` would carry (program and environment). */
  abstract relaySpecHash(spec: RelaySpec): Promise<string>;
  /** The relay's most recent death, with its last log lines; null when it has not died. */
  abstract relayLastExit(workerId: string): Promise<WorkerExit | null>;

  /**
   * The host at which every worker reaches the relay, when this runtime places the relay itself (swarm on
   * the host network: the manager it pins the relay to, by its swarm address); undefined: relayEndpoints'
   * own answer. Known once the runtime has looked at its engine.
   */
  relayHost(): string | undefined {
    return undefined;
  }
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

export const ROLE = { worker: 'worker', relay: 'relay' } as const;
