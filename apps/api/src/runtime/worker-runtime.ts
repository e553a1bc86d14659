import type { MonitorConfig } from '@pairwatch/contracts';

/** What the runtime needs to start one worker: the validated monitor and the worker's environment. */
export interface WorkerSpec {
  monitor: MonitorConfig;
  env: Record<string, string>;
}

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
}

/** The engine (or swarm, or process table) cannot be reached, or cannot run workers: answered as 503. */
export class RuntimeUnavailableError extends Error {
  override readonly name = 'RuntimeUnavailableError';
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
  abstract start(spec: WorkerSpec): Promise<WorkerInfo>;
  abstract stop(monitorId: string): Promise<void>;
  abstract list(): Promise<WorkerInfo[]>;
  abstract find(monitorId: string): Promise<WorkerInfo | null>;
}

export const LABELS = {
  managed: 'pairwatch.managed',
  instance: 'pairwatch.instance',
  monitorId: 'pairwatch.monitor-id',
  pair: 'pairwatch.pair',
} as const;
