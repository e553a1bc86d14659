import { RelayAddress } from '../config/relay-address';
import { parseWorkerEnv } from '@pairwatch/contracts';
import { loadConfig } from '../config/app.config';
import { sampleMonitorEntity } from './testing/monitor-entity.fixture';
import { WorkerSpecFactory } from './worker-spec.factory';

describe(WorkerSpecFactory.name, () => {
  const monitor = sampleMonitorEntity({});

  it.each<[string, Record<string, string>, string]>([
    [
      'relay off: Uphold itself',
      { UPHOLD_RELAY: 'off', UPHOLD_API_URL: 'http://fake:8080' },
      'http://fake:8080',
    ],
    [
      'relay on, host network: the relay on loopback',
      { WORKER_NETWORK: 'host', RELAY_PORT: '9001' },
      'http://127.0.0.1:9001',
    ],
    [
      'relay on, a user-defined network: the relay container by name',
      { WORKER_NETWORK: 'pairwatch', PAIRWATCH_INSTANCE: 'dev', RELAY_PORT: '8095' },
      'http://pairwatch-relay-dev:8095',
    ],
    [
      'relay on, process runtime: the relay on loopback',
      { WORKER_RUNTIME: 'process', RELAY_PORT: '8095' },
      'http://127.0.0.1:8095',
    ],
  ])("the worker's UPHOLD_API_URL with %s", (_case, env, expected) => {
    const spec = new WorkerSpecFactory(loadConfig(env), new RelayAddress(loadConfig(env))).specFor(monitor);
    expect(spec.env.UPHOLD_API_URL).toBe(expected);
    expect(parseWorkerEnv(spec.env).upholdApiUrl).toBe(expected);
  });
});
