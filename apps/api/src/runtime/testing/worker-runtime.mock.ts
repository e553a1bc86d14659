import { legacyMoveRule, type MonitorConfig } from '@pairwatch/contracts';
import type { WorkerLimits } from '../../config/app.config';
import type { WorkerEvent, WorkerRuntime } from '../worker-runtime';

/** A typed mock of the WorkerRuntime interface for unit specs. */
export function newWorkerRuntimeMock(kind: WorkerRuntime['kind'] = 'docker'): jest.Mocked<WorkerRuntime> {
  return {
    kind,
    ping: jest.fn(),
    ensureReady: jest.fn(),
    start: jest.fn(),
    stop: jest.fn(),
    list: jest.fn(),
    find: jest.fn(),
    specHash: jest.fn(),
    lastExit: jest.fn(),
    watch: jest.fn((_listener: (event: WorkerEvent) => void) => () => undefined),
    listRelays: jest.fn(),
    startRelay: jest.fn(),
    stopRelay: jest.fn(),
    relaySpecHash: jest.fn(),
    relayLastExit: jest.fn(),
    relayHost: jest.fn(() => undefined),
  };
}

export const TEST_WORKER_LIMITS: WorkerLimits = {
  memoryBytes: 128 * 1024 * 1024,
  nanoCpus: 250_000_000,
  pids: 64,
  maxRestarts: 5,
};

/** A validated monitor as runtimes receive it; specs override what they are about. */
export function sampleMonitorConfig(
  values: Partial<MonitorConfig> & Pick<MonitorConfig, 'monitorId'>,
): MonitorConfig {
  return {
    pair: 'BTC-USD',
    intervalMs: 5000,
    rules: [legacyMoveRule({})],
    ...values,
  };
}
