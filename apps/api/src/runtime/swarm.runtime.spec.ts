import { Logger } from '@nestjs/common';
import { PassThrough } from 'node:stream';
import type Docker from 'dockerode';
import type { MonitorConfig } from '@pairwatch/contracts';
import { describeService, pinnedImage, SwarmRuntime, SwarmTask } from './swarm.runtime';
import { computeSpecHash, workerServiceName, workloadPolicy } from './workload';
import { TEST_WORKER_LIMITS as WORKER_LIMITS, sampleMonitorConfig } from './testing/worker-runtime.mock';
import { RelayAddress } from '../config/relay-address';
import {
  LABELS,
  RELAY,
  RelaySpec,
  RuntimeUnavailableError,
  WorkerEvent,
  WorkerSpec,
  workerOf,
} from './worker-runtime';

const MONITOR_ID = '3f2b8c1a-5d4e-4f6a-9b8c-7d6e5f4a3b2c';
const SERVICE_ID = 'svc0123456789abcdefghijk';
const IMAGE_ID = 'sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef';

type DockerMock = jest.Mocked<
  Pick<
    Docker,
    | 'ping'
    | 'info'
    | 'version'
    | 'getImage'
    | 'createService'
    | 'getService'
    | 'listServices'
    | 'listTasks'
    | 'getTask'
    | 'listContainers'
    | 'getContainer'
    | 'getEvents'
  >
>;

/** An error as docker-modem makes it for an HTTP answer of the engine. */
function engineError(statusCode: number, message = `HTTP ${statusCode}`): Error {
  return Object.assign(new Error(message), { statusCode, json: { message } });
}

function socketError(code: string): Error {
  return Object.assign(new Error(`connect ${code} /var/run/docker.sock`), { code, syscall: 'connect' });
}

/** One frame of the engine's multiplexed log stream. */
function frame(text: string, stream = 1): Buffer {
  const header = Buffer.alloc(8);
  header[0] = stream;
  header.writeUInt32BE(Buffer.byteLength(text), 4);
  return Buffer.concat([header, Buffer.from(text)]);
}

function monitorConfig(values: Partial<MonitorConfig> = {}): MonitorConfig {
  return sampleMonitorConfig({ monitorId: MONITOR_ID, ...values });
}

function specFor(monitor = monitorConfig()): WorkerSpec {
  return {
    role: 'worker',
    monitor,
    env: {
      MONITOR_ID: monitor.monitorId,
      PAIR: monitor.pair,
      INTERVAL_MS: String(monitor.intervalMs),
      REDIS_URL: 'redis://:secret@redis:6379',
    },
  };
}

const LABELS_OF_SERVICE = {
  [LABELS.managed]: 'true',
  [LABELS.instance]: 'unit',
  [LABELS.monitorId]: MONITOR_ID,
  [LABELS.pair]: 'BTC-USD',
  [LABELS.specHash]: 'abcd',
};

function service(values: { maxAttempts?: number; image?: string } = {}): Docker.Service {
  return {
    ID: SERVICE_ID,
    Spec: {
      Name: workerServiceName('BTC-USD', MONITOR_ID),
      Labels: LABELS_OF_SERVICE,
      TaskTemplate: {
        ContainerSpec: { Image: values.image ?? IMAGE_ID },
        RestartPolicy: { Condition: 'on-failure', MaxAttempts: values.maxAttempts ?? 5 },
      },
    },
  } as unknown as Docker.Service;
}

let clock = 0;
/** A task of the service; each one made later than the one before. */
function task(
  state: string,
  desired: string,
  values: { id?: string; exitCode?: number; err?: string; serviceId?: string; at?: string } = {},
): SwarmTask {
  clock += 1;
  const at = values.at ?? `2025-01-01T00:00:${String(clock).padStart(2, '0')}.5Z`;
  return {
    ID: values.id ?? `task${clock}`,
    ServiceID: values.serviceId ?? SERVICE_ID,
    CreatedAt: at,
    DesiredState: desired,
    Status: {
      Timestamp: at,
      State: state,
      Err: values.err,
      ContainerStatus: { ContainerID: `container${clock}`, ExitCode: values.exitCode ?? 0 },
    },
  };
}

describe('pinnedImage', () => {
  it('keeps a reference that is already pinned by digest', () => {
    const ref = 'registry.example:5000/pairwatch-worker@sha256:feed';
    expect(pinnedImage(ref, { Id: IMAGE_ID, RepoDigests: [] })).toBe(ref);
  });

  it('pins an image that came from a registry by the repository digest of the configured repository', () => {
    const inspected = {
      Id: IMAGE_ID,
      RepoDigests: ['other/repo@sha256:aaaa', 'registry.example:5000/pairwatch-worker@sha256:bbbb'],
    };
    expect(pinnedImage('registry.example:5000/pairwatch-worker:1.2', inspected)).toBe(
      'registry.example:5000/pairwatch-worker@sha256:bbbb',
    );
  });

  it('pins a local build, which no registry knows, by its image id', () => {
    expect(pinnedImage('pairwatch-worker:latest', { Id: IMAGE_ID, RepoDigests: [] })).toBe(IMAGE_ID);
    expect(pinnedImage('pairwatch-worker:latest', { Id: IMAGE_ID, RepoDigests: ['x/y@sha256:1'] })).toBe(
      IMAGE_ID,
    );
  });
});

describe('describeService', () => {
  it('is running with the running task, no exit code, its start time and no restarts', () => {
    const running = task('running', 'running');
    expect(describeService(service(), [running])).toEqual({
      workerId: SERVICE_ID,
      role: 'worker',
      monitorId: MONITOR_ID,
      pair: 'BTC-USD',
      name: 'pw-btc-usd-3f2b8c1a5d4e4f6a9b8c7d6e5f4a3b2c',
      state: 'running',
      exitCode: null,
      restarts: 0,
      image: IMAGE_ID,
      startedAt: running.Status!.Timestamp,
      specHash: 'abcd',
    });
  });

  it('is created while the first task is on its way and nothing failed yet', () => {
    expect(describeService(service(), [])).toMatchObject({ state: 'created', restarts: 0 });
    expect(describeService(service(), [task('preparing', 'running')])).toMatchObject({ state: 'created' });
  });

  it('is restarting while Swarm brings a failed task back, with the last exit code and each failure counted', () => {
    const tasks = [
      task('failed', 'shutdown', { exitCode: 1 }),
      task('failed', 'shutdown', { exitCode: 137 }),
      task('ready', 'ready'),
    ];
    expect(describeService(service(), tasks)).toMatchObject({
      state: 'restarting',
      exitCode: 137,
      restarts: 2,
      startedAt: null,
    });
  });

  it('is restarting in the moment a task has failed but Swarm has not replaced it yet', () => {
    expect(describeService(service(), [task('failed', 'running', { exitCode: 2 })])).toMatchObject({
      state: 'restarting',
      exitCode: 2,
    });
  });

  it('counts a replaced task as a restart once the new one runs', () => {
    const tasks = [task('failed', 'shutdown', { exitCode: 137 }), task('running', 'running')];
    expect(describeService(service(), tasks)).toMatchObject({
      state: 'running',
      restarts: 1,
      exitCode: null,
    });
  });

  it('does not count a task shut down by an update as a restart', () => {
    const tasks = [task('shutdown', 'shutdown', { exitCode: 0 }), task('running', 'running')];
    expect(describeService(service(), tasks)).toMatchObject({ state: 'running', restarts: 0 });
  });

  it('is exited when Swarm gave up, counting MaxAttempts restarts though it keeps fewer old tasks', () => {
    // MaxAttempts 5 means 6 failed tasks; Swarm's task history keeps 5 of them.
    const tasks = Array.from({ length: 5 }, () => task('failed', 'shutdown', { exitCode: 1 }));
    expect(describeService(service({ maxAttempts: 5 }), tasks)).toMatchObject({
      state: 'exited',
      exitCode: 1,
      restarts: 5,
    });
  });

  it('is exited, with code 0 and no restart, when the worker ended by itself', () => {
    expect(describeService(service(), [task('complete', 'shutdown', { exitCode: 0 })])).toMatchObject({
      state: 'exited',
      exitCode: 0,
      restarts: 0,
    });
  });

  it('orders tasks by creation time although Swarm cuts trailing zeros off its timestamps', () => {
    const older = task('failed', 'shutdown', { exitCode: 9, at: '2025-01-01T00:00:10.49Z' });
    const newer = task('failed', 'shutdown', { exitCode: 3, at: '2025-01-01T00:00:10.5Z' });
    expect(describeService(service({ maxAttempts: 1 }), [newer, older]).exitCode).toBe(3);
    expect(describeService(service({ maxAttempts: 1 }), [older, newer]).exitCode).toBe(3);
  });
});

describe(SwarmRuntime.name, () => {
  const config = {
    workerImage: 'pairwatch-worker:test',
    workerNetwork: 'host',
    instance: 'unit',
    workerLimits: WORKER_LIMITS,
  };
  let docker: DockerMock;
  let removeService: jest.Mock;
  let taskLogs: jest.Mock;
  let containerLogs: jest.Mock;
  let sut: SwarmRuntime;
  let warn: jest.SpyInstance;
  let relayAddress: RelayAddress;
  /** Where workers reach the relay, as the one relay-address provider says (the runtime pins it on swarm/host). */
  const relayHost = () => relayAddress.endpoints().workers;

  const spec = specFor();

  beforeEach(() => {
    warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    removeService = jest.fn().mockResolvedValue(undefined);
    taskLogs = jest.fn();
    containerLogs = jest.fn();
    docker = {
      ping: jest.fn().mockResolvedValue('OK'),
      info: jest.fn().mockResolvedValue({
        Swarm: { LocalNodeState: 'active', ControlAvailable: true, NodeID: 'node1', NodeAddr: '10.0.0.5' },
      }),
      version: jest.fn().mockResolvedValue({ ApiVersion: '1.41' }),
      getImage: jest.fn().mockReturnValue({
        inspect: jest.fn().mockResolvedValue({ Id: IMAGE_ID, RepoDigests: [] }),
      }),
      createService: jest.fn().mockResolvedValue({ id: SERVICE_ID }),
      getService: jest.fn().mockReturnValue({ remove: removeService }),
      listServices: jest.fn().mockResolvedValue([]),
      listTasks: jest.fn().mockResolvedValue([]),
      getTask: jest.fn().mockReturnValue({ logs: taskLogs }),
      listContainers: jest.fn().mockResolvedValue([]),
      getContainer: jest.fn().mockReturnValue({ logs: containerLogs }),
      getEvents: jest.fn(),
    };
    relayAddress = new RelayAddress({ ...config, workerRuntime: 'swarm', relayPort: 8095 });
    sut = new SwarmRuntime(
      config,
      docker as unknown as Docker,
      { startTimeoutMs: 200, stopTimeoutMs: 200, pollMs: 5 },
      relayAddress,
    );
  });

  afterEach(() => jest.restoreAllMocks());

  describe('ping and ensureReady', () => {
    it('passes on a manager of an active swarm', async () => {
      await expect(sut.ping()).resolves.toBeUndefined();
      await expect(sut.ensureReady()).resolves.toBeUndefined();
    });

    it('says how to make a swarm when the engine is in none', async () => {
      docker.info.mockResolvedValue({ Swarm: { LocalNodeState: 'inactive', ControlAvailable: false } });
      const error = await sut.ping().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RuntimeUnavailableError);
      expect((error as Error).message).toMatch(/not a Swarm manager.*docker swarm init.*DOCKER_HOST/);
    });

    it('says to point DOCKER_HOST at a manager when the engine is a worker node', async () => {
      docker.info.mockResolvedValue({ Swarm: { LocalNodeState: 'active', ControlAvailable: false } });
      await expect(sut.ping()).rejects.toThrow(/worker node, not a manager: point DOCKER_HOST at a manager/);
    });

    it('says to unlock a locked swarm', async () => {
      docker.info.mockResolvedValue({ Swarm: { LocalNodeState: 'locked' } });
      await expect(sut.ping()).rejects.toThrow(/docker swarm unlock/);
    });

    it('answers RuntimeUnavailableError when the engine cannot be reached', async () => {
      docker.ping.mockRejectedValue(socketError('ECONNREFUSED'));
      await expect(sut.ping()).rejects.toBeInstanceOf(RuntimeUnavailableError);
      expect(docker.info).not.toHaveBeenCalled();
    });

    it('refuses an engine older than API 1.41, which would drop the capabilities and pids limit', async () => {
      docker.version.mockResolvedValue({ ApiVersion: '1.40' } as Docker.DockerVersion);
      await expect(sut.ensureReady()).rejects.toThrow(/API 1\.40.*needs 1\.41/);
    });

    it('names the image when it is missing', async () => {
      docker.getImage.mockReturnValue({
        inspect: jest.fn().mockRejectedValue(engineError(404, 'No such image')),
      } as unknown as Docker.Image);
      const error = await sut.ensureReady().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RuntimeUnavailableError);
      expect((error as Error).message).toMatch(/pairwatch-worker:test is not present/);
    });
  });

  describe('the relay', () => {
    /** A service's task template, as compared here. */
    type Template = { ContainerSpec?: object; Networks?: unknown } & Record<string, unknown>;
    const RELAY_ID = 'relaysvc0123456789abcdef';
    const relaySpec: RelaySpec = {
      role: 'relay',
      port: 8095,
      env: { RELAY_HOST: '0.0.0.0', RELAY_PORT: '8095' },
    };
    const relayLabels = {
      [LABELS.managed]: 'true',
      [LABELS.instance]: 'unit',
      [LABELS.role]: 'relay',
      [LABELS.specHash]: computeSpecHash(IMAGE_ID, relaySpec, workloadPolicy(config, 'relay')),
    };
    function relayService(): Docker.Service {
      return {
        ID: RELAY_ID,
        Spec: {
          Name: 'pw-relay-unit',
          Labels: relayLabels,
          TaskTemplate: { ContainerSpec: { Image: IMAGE_ID }, RestartPolicy: { MaxAttempts: 5 } },
        },
      } as unknown as Docker.Service;
    }

    it("is one service running relay.js of the worker image, hardened and limited as workers, on the host network of the API's manager", async () => {
      // not known before the runtime has looked at its engine: loopback
      expect(relayHost()).toBe('http://127.0.0.1:8095');
      const info = await sut.start(relaySpec);
      docker.listServices.mockResolvedValue([service()]);
      docker.listTasks.mockResolvedValue([task('running', 'running')]);
      await sut.start(spec);

      const [[auth, relay], [, worker]] = docker.createService.mock.calls as unknown as Array<
        [unknown, Docker.ServiceSpec]
      >;
      expect(auth).toBeUndefined();
      expect(relay.Name).toBe('pw-relay-unit');
      expect(relay.Labels).toEqual(relayLabels);
      // No routing mesh in between (engines without iptables have none): pinned to the manager, reached at
      // its swarm address from every node.
      expect(relay.EndpointSpec).toBeUndefined();
      expect(relayHost()).toBe('http://10.0.0.5:8095');
      const {
        ContainerSpec: relayContainer,
        Placement,
        ...relayTemplate
      } = relay.TaskTemplate as Template & { Placement?: unknown };
      expect(Placement).toEqual({ Constraints: ['node.id==node1'] });
      const { ContainerSpec: workerContainer, Networks, ...workerTemplate } = worker.TaskTemplate as Template;
      expect(relayContainer).toMatchObject({
        Image: IMAGE_ID,
        Command: ['node', '/app/relay.js'],
        Labels: relayLabels,
        Env: ['RELAY_HOST=0.0.0.0', 'RELAY_PORT=8095'],
      });
      // Everything else as a worker's: user, read-only root, capabilities, limits, restart policy, logs…
      const own = new Set(['Image', 'Command', 'Labels', 'Env']);
      const hardening = (c: object | undefined) =>
        Object.fromEntries(Object.entries(c ?? {}).filter(([key]) => !own.has(key)));
      expect(hardening(relayContainer)).toEqual(hardening(workerContainer));
      expect(hardening(relayContainer)).toMatchObject({
        User: '10001:10001',
        ReadOnly: true,
        CapabilityDrop: ['ALL'],
      });
      expect(relayTemplate).toEqual({ ...workerTemplate, Networks });
      expect(relay.Mode).toEqual(worker.Mode);
      expect(Networks).toEqual([{ Target: 'host' }]);
      expect(info).toMatchObject({ workerId: SERVICE_ID, monitorId: '', name: 'pw-relay-unit' });
    });

    it('joins an overlay WORKER_NETWORK, where workers find it by its service name', async () => {
      relayAddress = new RelayAddress({
        ...config,
        workerNetwork: 'pairwatch',
        workerRuntime: 'swarm',
        relayPort: 8095,
      });
      sut = new SwarmRuntime(
        { ...config, workerNetwork: 'pairwatch' },
        docker as unknown as Docker,
        {},
        relayAddress,
      );
      await sut.start(relaySpec);
      const [, created] = docker.createService.mock.calls[0] as unknown as [unknown, Docker.ServiceSpec];
      expect(created.TaskTemplate).toHaveProperty('Networks', [{ Target: 'pairwatch' }]);
      // Placed by Swarm anywhere, its port published on the routing mesh for the API.
      expect(created.TaskTemplate).not.toHaveProperty('Placement');
      expect(created.EndpointSpec).toEqual({
        Ports: [{ Protocol: 'tcp', TargetPort: 8095, PublishedPort: 8095, PublishMode: 'ingress' }],
      });
      expect(relayHost()).toBe('http://pw-relay-unit:8095');
    });

    it('answers the relay another replica made (409) instead of making a second', async () => {
      docker.createService.mockRejectedValue(engineError(409));
      docker.listServices.mockResolvedValue([relayService()]);
      docker.listTasks.mockResolvedValue([task('running', 'running', { serviceId: RELAY_ID })]);
      await expect(sut.start(relaySpec)).resolves.toMatchObject({
        workerId: RELAY_ID,
        state: 'running',
      });
    });

    it('turns a spec the swarm refuses into RuntimeUnavailableError', async () => {
      docker.createService.mockRejectedValue(engineError(400, 'network pairwatch not found'));
      await expect(sut.start(relaySpec)).rejects.toBeInstanceOf(RuntimeUnavailableError);
    });

    it('is listed by listRelays (role label) and never by list()', async () => {
      docker.listServices.mockImplementation(((options: { filters: { label: string[] } }) =>
        Promise.resolve(
          options.filters.label.includes('pairwatch.role=relay')
            ? [relayService()]
            : [relayService(), service()],
        )) as unknown as DockerMock['listServices']);
      docker.listTasks.mockResolvedValue([
        task('running', 'running', { serviceId: RELAY_ID }),
        task('running', 'running'),
      ]);

      expect((await sut.list('worker')).map((w) => w.workerId)).toEqual([SERVICE_ID]);
      const relays = await sut.list('relay');
      expect(relays).toEqual([
        expect.objectContaining({
          workerId: RELAY_ID,
          state: 'running',
          specHash: relayLabels[LABELS.specHash],
        }),
      ]);
      expect(docker.listServices).toHaveBeenCalledWith({
        filters: { label: ['pairwatch.managed=true', 'pairwatch.instance=unit', 'pairwatch.role=relay'] },
      });
    });

    it('stopRelay removes its service; already gone is success', async () => {
      removeService.mockRejectedValueOnce(engineError(404));
      docker.listServices.mockResolvedValue([relayService()]);
      await expect(sut.stop(RELAY, RELAY_ID)).resolves.toBeUndefined();
      expect(docker.getService).toHaveBeenCalledWith(RELAY_ID);
    });

    it("relayLastExit is the newest task the relay ended itself, with the task's log lines", async () => {
      docker.listTasks.mockResolvedValue([
        task('failed', 'shutdown', { id: 'old', serviceId: RELAY_ID, exitCode: 1 }),
        task('failed', 'shutdown', { id: 'new', serviceId: RELAY_ID, exitCode: 70 }),
        task('running', 'running', { serviceId: RELAY_ID }),
      ]);
      taskLogs.mockResolvedValue(frame('relay could not start\n'));
      docker.listServices.mockResolvedValue([relayService()]);
      await expect(sut.lastExit(RELAY)).resolves.toMatchObject({
        workload: RELAY,
        workerId: RELAY_ID,
        key: 'new',
        exitCode: 70,
        logTail: 'relay could not start',
      });
    });

    it('relaySpecHash covers the image and the environment', async () => {
      const hash = await sut.specHash(relaySpec);
      expect(hash).toBe(computeSpecHash(IMAGE_ID, relaySpec, workloadPolicy(config, 'relay')));
      expect(await sut.specHash({ ...relaySpec, env: { ...relaySpec.env, RELAY_PORT: '8096' } })).not.toBe(
        hash,
      );
    });
  });

  describe('start', () => {
    beforeEach(() => {
      docker.listServices.mockResolvedValue([service()]);
      docker.listTasks.mockResolvedValue([task('running', 'running')]);
    });

    it('creates one single-replica service, hardened and limited, labelled on the service and its containers', async () => {
      const info = await sut.start(spec);

      expect(docker.createService).toHaveBeenCalledTimes(1);
      const [auth, created] = docker.createService.mock.calls[0] as unknown as [unknown, Docker.ServiceSpec];
      // No X-Registry-Auth: dockerode's one-argument form would send the spec (and its env) in that header.
      expect(auth).toBeUndefined();
      const labels = {
        [LABELS.managed]: 'true',
        [LABELS.instance]: 'unit',
        [LABELS.role]: 'worker',
        [LABELS.monitorId]: MONITOR_ID,
        [LABELS.pair]: 'BTC-USD',
        [LABELS.specHash]: computeSpecHash(IMAGE_ID, spec, workloadPolicy(config, 'worker')),
      };
      expect(created).toEqual({
        Name: 'pw-btc-usd-3f2b8c1a5d4e4f6a9b8c7d6e5f4a3b2c',
        Labels: labels,
        TaskTemplate: {
          ContainerSpec: {
            Image: IMAGE_ID,
            Labels: labels,
            Env: [
              `MONITOR_ID=${MONITOR_ID}`,
              'PAIR=BTC-USD',
              'INTERVAL_MS=5000',
              'REDIS_URL=redis://:secret@redis:6379',
            ],
            User: '10001:10001',
            ReadOnly: true,
            CapabilityDrop: ['ALL'],
            Privileges: { NoNewPrivileges: true },
            StopSignal: 'SIGTERM',
            StopGracePeriod: 5_000_000_000,
          },
          Resources: {
            Limits: {
              NanoCPUs: WORKER_LIMITS.nanoCpus,
              MemoryBytes: WORKER_LIMITS.memoryBytes,
              Pids: WORKER_LIMITS.pids,
            },
          },
          RestartPolicy: {
            Condition: 'on-failure',
            MaxAttempts: WORKER_LIMITS.maxRestarts,
            Delay: 1_000_000_000,
          },
          LogDriver: { Name: 'json-file', Options: { 'max-size': '1m', 'max-file': '3' } },
          Networks: [{ Target: 'host' }],
        },
        Mode: { Replicated: { Replicas: 1 } },
        UpdateConfig: { Parallelism: 1, Order: 'stop-first', FailureAction: 'pause' },
        RollbackConfig: { Parallelism: 1, Order: 'stop-first', FailureAction: 'pause' },
      });
      expect(info).toMatchObject({ workerId: SERVICE_ID, monitorId: MONITOR_ID, state: 'running' });
    });

    it('joins no network when none is configured', async () => {
      sut = new SwarmRuntime({ ...config, workerNetwork: undefined }, docker as unknown as Docker);
      await sut.start(spec);
      const [, created] = docker.createService.mock.calls[0] as unknown as [unknown, Docker.ServiceSpec];
      expect(created.TaskTemplate).not.toHaveProperty('Networks');
    });

    it('refuses to create a service for an unchecked pair', async () => {
      await expect(sut.start(specFor(monitorConfig({ pair: 'BTC-USD --mount x' })))).rejects.toThrow(
        /unchecked/,
      );
      expect(docker.createService).not.toHaveBeenCalled();
    });

    it('waits for the first task to run', async () => {
      docker.listTasks
        .mockResolvedValueOnce([])
        .mockResolvedValueOnce([task('preparing', 'running')])
        .mockResolvedValue([task('running', 'running')]);
      await expect(sut.start(spec)).resolves.toMatchObject({ state: 'running' });
      expect(docker.listTasks).toHaveBeenCalledTimes(3);
    });

    it('answers with what it has when the task is still pending at the deadline (Swarm keeps trying)', async () => {
      docker.listTasks.mockResolvedValue([task('pending', 'running', { err: 'no suitable node' })]);
      await expect(sut.start(spec)).resolves.toMatchObject({ state: 'created' });
      expect(removeService).not.toHaveBeenCalled();
      expect(warn).toHaveBeenCalledWith(expect.stringContaining('no running task'));
    });

    it('removes the service and says why when Swarm rejects the first task', async () => {
      docker.listTasks.mockResolvedValue([
        task('rejected', 'shutdown', { err: 'No such image: sha256:0123' }),
        task('ready', 'ready'),
      ]);
      const error = await sut.start(spec).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RuntimeUnavailableError);
      expect((error as Error).message).toBe('Swarm could not start the worker: No such image: sha256:0123');
      expect(docker.getService).toHaveBeenCalledWith(SERVICE_ID);
      expect(removeService).toHaveBeenCalled();
    });

    it('adopts the existing service when the name is taken (another replica made it)', async () => {
      docker.createService.mockRejectedValue(engineError(409, 'name conflicts with an existing object'));
      await expect(sut.start(spec)).resolves.toMatchObject({ workerId: SERVICE_ID, state: 'running' });
    });

    it('answers RuntimeUnavailableError, with the reason, when the engine refuses the spec (a local network)', async () => {
      docker.createService.mockRejectedValue(
        engineError(
          403,
          'The network pw cannot be used with services. Only networks scoped to the swarm can be used',
        ),
      );
      const error = await sut.start(spec).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RuntimeUnavailableError);
      expect((error as Error).message).toMatch(
        /^Swarm refused the worker service: The network pw cannot be used/,
      );
    });

    it('answers RuntimeUnavailableError when the engine is no manager any more (503)', async () => {
      docker.createService.mockRejectedValue(engineError(503, 'This node is not a swarm manager.'));
      await expect(sut.start(spec)).rejects.toBeInstanceOf(RuntimeUnavailableError);
    });
  });

  describe('stop', () => {
    it('removes the services of the monitor and waits until their tasks and containers are gone', async () => {
      docker.listServices.mockResolvedValue([service()]);
      docker.listTasks
        .mockResolvedValueOnce([task('running', 'remove')])
        .mockResolvedValueOnce([task('complete', 'remove')])
        .mockResolvedValue([]);
      docker.listContainers
        .mockResolvedValueOnce([
          {
            Id: 'c1',
            Labels: { 'com.docker.swarm.service.id': SERVICE_ID },
          } as unknown as Docker.ContainerInfo,
        ])
        .mockResolvedValueOnce([
          {
            Id: 'c1',
            Labels: { 'com.docker.swarm.service.id': SERVICE_ID },
          } as unknown as Docker.ContainerInfo,
        ])
        .mockResolvedValue([]);

      await sut.stop(workerOf(MONITOR_ID));

      expect(docker.listServices).toHaveBeenCalledWith({
        filters: {
          label: ['pairwatch.managed=true', 'pairwatch.instance=unit', `pairwatch.monitor-id=${MONITOR_ID}`],
        },
      });
      expect(docker.getService).toHaveBeenCalledWith(SERVICE_ID);
      expect(removeService).toHaveBeenCalledTimes(1);
      expect(docker.listTasks).toHaveBeenCalledTimes(3);
      expect(warn).not.toHaveBeenCalled();
    });

    it('ignores containers that are not Swarm tasks (a Docker runtime sharing the labels)', async () => {
      docker.listContainers.mockResolvedValue([
        { Id: 'plain', Labels: {} } as unknown as Docker.ContainerInfo,
      ]);
      await sut.stop(workerOf(MONITOR_ID));
      expect(docker.listTasks).toHaveBeenCalledTimes(1);
    });

    it('treats 404 (already gone) as success', async () => {
      docker.listServices.mockResolvedValue([service()]);
      removeService.mockRejectedValue(engineError(404, 'service not found'));
      await expect(sut.stop(workerOf(MONITOR_ID))).resolves.toBeUndefined();
    });

    it('gives up waiting at the deadline, saying so, without failing', async () => {
      docker.listServices.mockResolvedValue([service()]);
      docker.listTasks.mockResolvedValue([task('running', 'remove')]);
      await expect(sut.stop(workerOf(MONITOR_ID))).resolves.toBeUndefined();
      expect(warn).toHaveBeenCalledWith(expect.stringContaining('still there after 200 ms'));
    });

    it('rethrows a 500 on remove as RuntimeUnavailableError', async () => {
      docker.listServices.mockResolvedValue([service()]);
      removeService.mockRejectedValue(engineError(500, 'raft is down'));
      await expect(sut.stop(workerOf(MONITOR_ID))).rejects.toBeInstanceOf(RuntimeUnavailableError);
    });
  });

  describe('list, find and lastExit', () => {
    it('lists the services of this installation with the state of their own tasks', async () => {
      const other = { ...service(), ID: 'other' } as Docker.Service;
      docker.listServices.mockResolvedValue([service(), other]);
      docker.listTasks.mockResolvedValue([
        task('running', 'running'),
        task('failed', 'shutdown', { serviceId: 'other', exitCode: 1 }),
      ]);
      const workers = await sut.list('worker');
      expect(docker.listTasks).toHaveBeenCalledWith({
        filters: { label: ['pairwatch.managed=true', 'pairwatch.instance=unit'] },
      });
      expect(workers.map((w) => [w.workerId, w.state])).toEqual([
        [SERVICE_ID, 'running'],
        ['other', 'exited'],
      ]);
    });

    it('find answers null when the monitor has no service', async () => {
      await expect(sut.find(workerOf(MONITOR_ID))).resolves.toBeNull();
    });

    it('lastExit is the newest task the worker ended, keyed by task id, with its log lines', async () => {
      docker.listServices.mockResolvedValue([service()]);
      docker.listTasks.mockResolvedValue([
        task('failed', 'shutdown', { id: 'old', exitCode: 1 }),
        task('failed', 'shutdown', { id: 'last', exitCode: 137, at: '2025-01-01T00:01:00Z' }),
        task('running', 'running'),
      ]);
      taskLogs.mockResolvedValue(Buffer.concat([frame('one\n'), frame('two\n', 2)]));

      const exit = await sut.lastExit(workerOf(MONITOR_ID));

      expect(docker.getTask).toHaveBeenCalledWith('last');
      expect(taskLogs).toHaveBeenCalledWith(
        expect.objectContaining({ stdout: true, stderr: true, tail: 10 }),
      );
      expect(exit).toEqual({
        workload: workerOf(MONITOR_ID),
        workerId: SERVICE_ID,
        key: 'last',
        exitCode: 137,
        exitedAt: new Date('2025-01-01T00:01:00Z'),
        logTail: 'one\ntwo',
      });
    });

    it('lastExit says when the task container and its logs are gone', async () => {
      docker.listServices.mockResolvedValue([service()]);
      docker.listTasks.mockResolvedValue([
        task('failed', 'shutdown', { exitCode: 137, err: 'task: non-zero exit (137)' }),
      ]);
      taskLogs.mockResolvedValue(Buffer.alloc(0));
      await expect(sut.lastExit(workerOf(MONITOR_ID))).resolves.toMatchObject({
        logTail: "(no logs: the task's container is gone; swarm said: task: non-zero exit (137))",
      });
    });

    it('lastExit is null when no task has died (shut down by an update is not a death)', async () => {
      docker.listServices.mockResolvedValue([service()]);
      docker.listTasks.mockResolvedValue([task('shutdown', 'shutdown'), task('running', 'running')]);
      await expect(sut.lastExit(workerOf(MONITOR_ID))).resolves.toBeNull();
    });
  });

  describe('watch', () => {
    let events: PassThrough;

    beforeEach(() => {
      events = new PassThrough();
      docker.getEvents.mockResolvedValue(events);
    });

    const emit = (action: string, attributes: Record<string, string>) =>
      events.write(
        `${JSON.stringify({
          Type: 'container',
          Action: action,
          time: 1735689600,
          timeNano: 1735689600123 * 1e6,
          Actor: { ID: 'cont1', Attributes: attributes },
        })}\n`,
      );

    const taskAttributes = {
      [LABELS.monitorId]: MONITOR_ID,
      'com.docker.swarm.task.id': 'task-a',
      'com.docker.swarm.service.id': SERVICE_ID,
    };

    it('follows the container events of this installation and passes on a task death with its exit', async () => {
      containerLogs.mockResolvedValue(frame('bye\n'));
      const seen: WorkerEvent[] = [];
      const unwatch = sut.watch((event) => seen.push(event));
      await new Promise((resolve) => setImmediate(resolve));

      expect(docker.getEvents).toHaveBeenCalledWith({
        filters: {
          type: ['container'],
          event: ['die', 'destroy', 'start'],
          label: ['pairwatch.managed=true', 'pairwatch.instance=unit'],
        },
      });
      emit('start', taskAttributes);
      emit('die', { ...taskAttributes, exitCode: '137' });
      emit('die', { [LABELS.monitorId]: MONITOR_ID, exitCode: '1' }); // not a Swarm task: ignored
      await new Promise((resolve) => setTimeout(resolve, 20));
      unwatch();

      expect(seen).toEqual([
        { kind: 'started', workload: workerOf(MONITOR_ID) },
        {
          kind: 'exit',
          workload: workerOf(MONITOR_ID),
          exit: {
            workload: workerOf(MONITOR_ID),
            workerId: SERVICE_ID,
            key: 'task-a',
            exitCode: 137,
            exitedAt: new Date(1735689600123),
            logTail: 'bye',
          },
        },
      ]);
      expect(docker.getContainer).toHaveBeenCalledWith('cont1');
    });

    it('says so in the exit when the container is already gone', async () => {
      containerLogs.mockRejectedValue(engineError(404, 'No such container'));
      const seen: WorkerEvent[] = [];
      const unwatch = sut.watch((event) => seen.push(event));
      await new Promise((resolve) => setImmediate(resolve));
      emit('die', { ...taskAttributes, exitCode: '0' });
      await new Promise((resolve) => setTimeout(resolve, 20));
      unwatch();
      expect(seen[0].exit).toMatchObject({ exitCode: 0, logTail: '(no logs: the container was removed)' });
    });
  });
});
