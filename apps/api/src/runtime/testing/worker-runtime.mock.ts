import { legacyMoveRule, type MonitorConfig } from '@pairwatch/contracts';
import type { WorkerLimits } from '../../config/app.config';
import type {
  ListOptions,
  RelaySpec,
  WorkerEvent,
  WorkerExit,
  WorkerInfo,
  WorkerRuntime,
  WorkerSpec,
} from '../worker-runtime';

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
  };
}

/**
 * A runtime mock's calls split by role, for specs about the supervisor: the workers' (by monitor id) and the
 * relay's (by worker id where one is named), each a mock of its own. Set answers and read calls on these;
 * the runtime mock hands every call to the one of its role.
 */
export function splitByRole(runtime: jest.Mocked<WorkerRuntime>) {
  const workers = {
    start: jest.fn<Promise<WorkerInfo>, [WorkerSpec]>(),
    stop: jest.fn<Promise<void>, [string]>(),
    list: jest.fn<Promise<WorkerInfo[]>, [ListOptions?]>(),
    find: jest.fn<Promise<WorkerInfo | null>, [string]>(),
    specHash: jest.fn<Promise<string>, [WorkerSpec]>(),
    lastExit: jest.fn<Promise<WorkerExit | null>, [string]>(),
  };
  const relays = {
    start: jest.fn<Promise<WorkerInfo>, [RelaySpec]>(),
    stop: jest.fn<Promise<void>, [string | undefined]>(),
    list: jest.fn<Promise<WorkerInfo[]>, []>(),
    specHash: jest.fn<Promise<string>, [RelaySpec]>(),
    lastExit: jest.fn<Promise<WorkerExit | null>, []>(),
  };
  runtime.start.mockImplementation((spec) =>
    spec.role === 'relay' ? relays.start(spec) : workers.start(spec),
  );
  runtime.stop.mockImplementation((workload, workerId) =>
    workload.role === 'relay' ? relays.stop(workerId) : workers.stop(workload.key),
  );
  runtime.list.mockImplementation((role, options) =>
    role === 'relay' ? relays.list() : options ? workers.list(options) : workers.list(),
  );
  runtime.find.mockImplementation((workload) => workers.find(workload.key));
  runtime.specHash.mockImplementation((spec) =>
    spec.role === 'relay' ? relays.specHash(spec) : workers.specHash(spec),
  );
  runtime.lastExit.mockImplementation((workload) =>
    workload.role === 'relay' ? relays.lastExit() : workers.lastExit(workload.key),
  );
  return { workers, relays };
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
