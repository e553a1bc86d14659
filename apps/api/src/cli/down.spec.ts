import type { WorkerInfo } from '../runtime/worker-runtime';
import { RELAY, RuntimeUnavailableError, workerOf } from '../runtime/worker-runtime';
import { newWorkerRuntimeMock } from '../runtime/testing/worker-runtime.mock';
import { ConfigError } from '../config/app.config';
import { DownLogger, DownOptions, DownTarget, down, parseDownArgs, stopWorkers } from './down';

const A = '3f2b8c1a-5d4e-4f6a-9b8c-7d6e5f4a3b2c';
const B = '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d';

function worker(monitorId: string, state: WorkerInfo['state'] = 'running'): WorkerInfo {
  return {
    role: 'worker',
    workerId: `id-${monitorId}`,
    monitorId,
    pair: 'BTC-USD',
    name: `pairwatch-worker-btc-usd-${monitorId}`,
    state,
    exitCode: null,
    restarts: 0,
    image: 'img',
    startedAt: null,
    specHash: null,
  };
}

/** A target whose installations each have the given workers; runtimes are typed mocks. */
function target(
  byInstance: Record<string, WorkerInfo[]>,
  counts = (w: WorkerInfo) => w.state !== 'exited',
  relays: Record<string, WorkerInfo[]> = {},
) {
  const runtimes = new Map<string, ReturnType<typeof newWorkerRuntimeMock>>();
  const t: DownTarget & { instances: jest.Mock } = {
    instances: jest.fn(() => Promise.resolve(Object.keys(byInstance))),
    runtimeFor: (instance) => {
      const runtime = newWorkerRuntimeMock('process');
      runtime.list.mockImplementation((role) =>
        Promise.resolve((role === 'relay' ? relays : byInstance)[instance] ?? []),
      );
      runtime.stop.mockResolvedValue(undefined);
      runtimes.set(instance, runtime);
      return runtime;
    },
    counts,
  };
  return { target: t, runtimes };
}

describe('stopWorkers', () => {
  it('stops every listed worker of every installation, counting only those that were running', async () => {
    const { target: t, runtimes } = target({ dev: [worker(A), worker(B, 'exited')], ci: [worker(B)] });
    await expect(stopWorkers(t, undefined)).resolves.toEqual({ stopped: 2, failed: [] });
    expect(runtimes.get('dev')?.stop.mock.calls).toEqual([
      [workerOf(A), `id-${A}`],
      [workerOf(B), `id-${B}`],
    ]);
    expect(runtimes.get('ci')?.stop.mock.calls).toEqual([[workerOf(B), `id-${B}`]]);
  });

  it("stops the installation's relay too, by its id, counting it as a worker", async () => {
    const relay: WorkerInfo = {
      ...worker(''),
      role: 'relay',
      workerId: 'relay-1',
      name: 'pairwatch-relay-dev',
    };
    const { target: t, runtimes } = target({ dev: [worker(A)] }, undefined, { dev: [relay] });
    await expect(stopWorkers(t, undefined)).resolves.toEqual({ stopped: 2, failed: [] });
    expect(runtimes.get('dev')?.stop.mock.calls).toEqual([
      [workerOf(A), `id-${A}`],
      [RELAY, 'relay-1'],
    ]);
  });

  it('looks at the one installation asked for, without asking which there are', async () => {
    const { target: t, runtimes } = target({ dev: [worker(A)], ci: [worker(B)] });
    await expect(stopWorkers(t, 'ci')).resolves.toEqual({ stopped: 1, failed: [] });
    expect(t.instances).not.toHaveBeenCalled();
    expect([...runtimes.keys()]).toEqual(['ci']);
  });

  it('reports a worker that could not be stopped and still stops the others', async () => {
    const { target: t, runtimes } = target({ dev: [worker(A), worker(B)] });
    const runtimeFor = t.runtimeFor;
    t.runtimeFor = (instance) => {
      const runtime = runtimeFor(instance);
      runtimes
        .get(instance)
        ?.stop.mockImplementation((workload) =>
          workload.key === A
            ? Promise.reject(new Error('worker pid 42 did not exit after SIGKILL'))
            : Promise.resolve(),
        );
      return runtime;
    };
    const result = await stopWorkers(t, undefined);
    expect(result.stopped).toBe(1);
    expect(result.failed).toEqual([
      { worker: worker(A), error: new Error('worker pid 42 did not exit after SIGKILL') },
    ]);
  });
});

describe('down', () => {
  function options(processes: DownTarget, containers: DownTarget, engine = true) {
    const lines: string[] = [];
    const opts: DownOptions = {
      onlyInstance: undefined,
      processes,
      containers: {
        ...containers,
        ping: () =>
          engine
            ? Promise.resolve()
            : Promise.reject(new RuntimeUnavailableError('Docker engine unreachable: connect ENOENT')),
        endpoint: () => Promise.resolve('unix:///var/run/docker.sock'),
      },
      log: (line) => lines.push(line),
    };
    return { opts, lines };
  }

  it('stops processes, then containers, and says how many of each', async () => {
    const processes = target({ dev: [worker(A)] }).target;
    const containers = target({ dev: [worker(B, 'exited')] }, () => true).target;
    const { opts, lines } = options(processes, containers);
    await expect(down(opts)).resolves.toBe(0);
    expect(lines).toEqual(['stopped 1 worker process(es)', 'stopped and removed 1 worker container(s)']);
  });

  it('says so when there is no engine, and when nothing was running', async () => {
    const containers = target({ dev: [worker(B)] }, () => true);
    const { opts, lines } = options(target({}).target, containers.target, false);
    await expect(down(opts)).resolves.toBe(0);
    expect(lines).toEqual([
      'no Docker engine at unix:///var/run/docker.sock: only worker processes were looked for',
      'no pairwatch workers are running',
    ]);
    expect(containers.runtimes.size).toBe(0);
  });

  it('fails (exit code 1) naming a worker it could not stop', async () => {
    const processes = target({ dev: [worker(A)] });
    const runtimeFor = processes.target.runtimeFor;
    processes.target.runtimeFor = (instance) => {
      const runtime = runtimeFor(instance);
      processes.runtimes.get(instance)?.stop.mockRejectedValue(new Error('did not exit after SIGKILL'));
      return runtime;
    };
    const { opts, lines } = options(processes.target, target({}).target);
    await expect(down(opts)).resolves.toBe(1);
    expect(lines).toEqual([
      `WARNING: the worker process pairwatch-worker-btc-usd-${A} (monitor ${A}) could not be stopped: did not exit after SIGKILL`,
      'ERROR: some workers could not be stopped (see above)',
    ]);
  });
});

describe('down: one installation, and Swarm services', () => {
  function swarmOptions(
    services: DownTarget | undefined,
    manager: boolean,
    onlyInstance: string | undefined,
    order: string[],
  ) {
    const lines: string[] = [];
    const containers = target({ dev: [worker(B)], ci: [worker(A)] }, () => true);
    const tracked = (kind: string, t: DownTarget): DownTarget => ({
      ...t,
      runtimeFor: (instance) => {
        order.push(`${kind}:${instance}`);
        return t.runtimeFor(instance);
      },
    });
    const opts: DownOptions = {
      onlyInstance,
      processes: target({}).target,
      containers: {
        ...tracked('containers', containers.target),
        ping: () => Promise.resolve(),
        endpoint: () => Promise.resolve('unix:///var/run/docker.sock'),
      },
      services: services && {
        ...tracked('services', services),
        ping: () =>
          manager
            ? Promise.resolve()
            : Promise.reject(new RuntimeUnavailableError('this engine is not a Swarm manager')),
      },
      log: (line) => lines.push(line),
    };
    return { opts, lines, containers };
  }

  it("removes this installation's Swarm services before its containers, and leaves other installations alone", async () => {
    const order: string[] = [];
    const services = target({ dev: [worker(A)], ci: [worker(B)] }, () => true);
    const { opts, lines, containers } = swarmOptions(services.target, true, 'dev', order);
    await expect(down(opts)).resolves.toBe(0);
    expect(order).toEqual(['services:dev', 'containers:dev']);
    expect(services.runtimes.get('dev')?.stop).toHaveBeenCalledTimes(1);
    expect(services.runtimes.has('ci')).toBe(false);
    expect(containers.runtimes.has('ci')).toBe(false);
    expect(lines).toEqual(['removed 1 Swarm service(s)', 'stopped and removed 1 worker container(s)']);
  });

  it('with --all (no instance), stops every installation', async () => {
    const order: string[] = [];
    const services = target({ dev: [worker(A)], ci: [worker(B)] }, () => true);
    const { opts } = swarmOptions(services.target, true, undefined, order);
    await expect(down(opts)).resolves.toBe(0);
    expect(order).toEqual(['services:dev', 'services:ci', 'containers:dev', 'containers:ci']);
  });

  it('looks for no service on an engine that manages no swarm', async () => {
    const order: string[] = [];
    const services = target({ dev: [worker(A)] }, () => true);
    const { opts } = swarmOptions(services.target, false, 'dev', order);
    await expect(down(opts)).resolves.toBe(0);
    expect(order).toEqual(['containers:dev']);
    expect(services.target.instances).not.toHaveBeenCalled();
  });

  it('names the installation when it has nothing running, and says how to stop every one', async () => {
    const { opts, lines } = swarmOptions(undefined, false, 'nothing-here', []);
    await expect(down(opts)).resolves.toBe(0);
    expect(lines).toEqual([
      'no workers of installation "nothing-here" are running (`npm run down -- --all` stops every installation\'s)',
    ]);
  });
});

describe('parseDownArgs', () => {
  it('reads --all, and refuses anything else', () => {
    expect(parseDownArgs([])).toEqual({ all: false });
    expect(parseDownArgs(['--all'])).toEqual({ all: true });
    expect(() => parseDownArgs(['--everything'])).toThrow(ConfigError);
  });
});

describe('DownLogger', () => {
  it('passes warnings and errors on, structured ones as their message and fields, and drops the rest', () => {
    const lines: string[] = [];
    const logger = new DownLogger((line) => lines.push(line));
    logger.log();
    logger.warn('worker pid 7 ignored SIGTERM for 5000 ms: SIGKILL');
    logger.warn({ msg: 'worker process exited', pid: 7 });
    logger.error(new Error('boom'));
    expect(lines).toEqual([
      'WARNING: worker pid 7 ignored SIGTERM for 5000 ms: SIGKILL',
      'WARNING: worker process exited {"pid":7}',
      'ERROR: boom',
    ]);
  });
});
