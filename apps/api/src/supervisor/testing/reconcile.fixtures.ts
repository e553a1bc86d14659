import type { MonitorEntity } from '../../monitors/monitor.entity';
import { SAMPLE_MONITOR_ID, sampleMonitorEntity } from '../../monitors/testing/monitor-entity.fixture';
import { workerOf, type WorkerExit, type WorkerInfo } from '../../runtime/worker-runtime';

/** The clock of the reconcile specs, and the monitors and workers they reconcile. */
export const NOW = Date.parse('2025-06-01T12:00:00.000Z');
export const ID_A = SAMPLE_MONITOR_ID;
export const ID_B = '11111111-2222-4333-8444-555555555555';
export const ID_C = '99999999-8888-4777-8666-555555555555';
export const CURRENT_HASH = 'hash-now';
/** Long past the starting grace. */
export const OLD_ENOUGH = new Date(NOW - 60_000);

/** An active monitor, running with worker `w-<id>` and created long enough ago. */
export function activeMonitor(values: Partial<MonitorEntity> = {}): MonitorEntity {
  return sampleMonitorEntity({
    status: 'running',
    workerId: `w-${values.id ?? ID_A}`,
    createdAt: OLD_ENOUGH,
    updatedAt: OLD_ENOUGH,
    ...values,
  });
}

/** A healthy, current worker of monitor A (or of `values.monitorId`). */
export function sampleWorker(values: Partial<WorkerInfo> = {}): WorkerInfo {
  const monitorId = values.monitorId ?? ID_A;
  return {
    role: 'worker',
    workerId: `w-${monitorId}`,
    monitorId,
    pair: 'BTC-USD',
    name: `pairwatch-worker-${monitorId}`,
    state: 'running',
    exitCode: null,
    restarts: 0,
    image: 'pairwatch-worker:latest',
    startedAt: '2025-06-01T11:59:00.000Z',
    specHash: CURRENT_HASH,
    ...values,
  };
}

/** A death of monitor A's worker, a second before NOW. */
export function sampleExit(values: Partial<WorkerExit> = {}): WorkerExit {
  return {
    workload: workerOf(ID_A),
    workerId: `w-${ID_A}`,
    key: 'die-event-1',
    exitCode: 1,
    exitedAt: new Date(NOW - 1000),
    logTail: '',
    ...values,
  };
}

export interface Deferred<T> {
  promise: Promise<T>;
  resolve: (value: T) => void;
}

/** A promise the spec resolves when it chooses. */
export function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}
