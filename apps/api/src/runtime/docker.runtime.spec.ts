import { PassThrough } from 'node:stream';
import { Logger } from '@nestjs/common';
import type Docker from 'dockerode';
import type { MonitorConfig } from '@pairwatch/contracts';
import { CachingDockerRuntime } from './caching-docker.runtime';
import { DockerRuntime } from './docker.runtime';
import { TEST_WORKER_LIMITS as WORKER_LIMITS, sampleMonitorConfig } from './testing/worker-runtime.mock';
import { computeSpecHash, workloadPolicy } from './workload';
import { LABELS, RELAY, RelaySpec, RuntimeUnavailableError, WorkerSpec, workerOf } from './worker-runtime';

const MONITOR_ID = '3f2b8c1a-5d4e-4f6a-9b8c-7d6e5f4a3b2c';
const CONTAINER_ID = 'abc123abc123abc123abc123abc123abc123abc123abc123abc123abc123abcd';

type DockerMock = jest.Mocked<
  Pick<Docker, 'ping' | 'getImage' | 'createContainer' | 'getContainer' | 'listContainers'>
>;
type ContainerMock = jest.Mocked<Pick<Docker.Container, 'id' | 'start' | 'inspect' | 'stop' | 'remove'>>;
type ImageMock = jest.Mocked<Pick<Docker.Image, 'inspect'>>;

/** An error as docker-modem makes it for an HTTP answer of the engine. */
function engineError(statusCode: number, message = `HTTP ${statusCode}`): Error {
  return Object.assign(new Error(message), { statusCode, json: { message } });
}

/** An error as Node makes it for a socket that cannot be reached. */
function socketError(code: string): Error {
  return Object.assign(new Error(`connect ${code} /var/run/docker.sock`), {
    code,
    errno: -111,
    syscall: 'connect',
  });
}

function newContainerMock(id = CONTAINER_ID): ContainerMock {
  return {
    id,
    start: jest.fn(),
    inspect: jest.fn(),
    stop: jest.fn(),
    remove: jest.fn(),
  };
}

function inspectInfo(
  labels: Record<string, string>,
  state: Partial<Docker.ContainerInspectInfo['State']> = {},
): Docker.ContainerInspectInfo {
  return {
    Id: CONTAINER_ID,
    Name: `/pairwatch-worker-btc-usd-${MONITOR_ID}`,
    RestartCount: 1,
    Config: { Labels: labels, Image: 'pairwatch-worker:latest' },
    State: {
      Status: 'running',
      Running: true,
      Restarting: false,
      ExitCode: 0,
      StartedAt: '2025-01-01T00:00:01.000000000Z',
      ...state,
    },
  } as unknown as Docker.ContainerInspectInfo;
}

/** Moves the clock past the image id's reuse (2 s), so that the next spec hash looks the image up again. */
function afterImageIdReuse(): void {
  const now = Date.now();
  jest.spyOn(Date, 'now').mockReturnValue(now + 2001);
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
      THRESHOLD_PERCENT: '0.01',
      REDIS_URL: 'redis://redis:6379',
    },
  };
}

/** Resolves once `condition` holds; fails past the deadline. */
async function until(condition: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe(DockerRuntime.name, () => {
  const config = {
    workerImage: 'pairwatch-worker:test',
    workerNetwork: 'pairwatch_net',
    instance: 'unit',
    workerLimits: WORKER_LIMITS,
  };
  let docker: DockerMock;
  let image: ImageMock;
  let container: ContainerMock;
  let sut: DockerRuntime;

  beforeEach(() => {
    jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    image = { inspect: jest.fn() };
    container = newContainerMock();
    docker = {
      ping: jest.fn(),
      getImage: jest.fn(),
      createContainer: jest.fn(),
      getContainer: jest.fn(),
      listContainers: jest.fn(),
    };
    docker.getImage.mockReturnValue(image as unknown as Docker.Image);
    image.inspect.mockResolvedValue({ Id: 'sha256:0123' } as Docker.ImageInspectInfo);
    docker.getContainer.mockReturnValue(container as unknown as Docker.Container);
    docker.createContainer.mockResolvedValue(container as unknown as Docker.Container);
    container.start.mockResolvedValue(undefined);
    container.inspect.mockImplementation(() =>
      Promise.resolve(
        inspectInfo({ [LABELS.monitorId]: MONITOR_ID, [LABELS.pair]: 'BTC-USD', [LABELS.managed]: 'true' }),
      ),
    );
    container.stop.mockResolvedValue(undefined);
    container.remove.mockResolvedValue(undefined);
    sut = new DockerRuntime(config, docker as unknown as Docker);
  });

  afterEach(() => jest.restoreAllMocks());

  describe('the relay', () => {
    const RELAY_ID = 'feedfeedfeedfeedfeedfeedfeedfeedfeedfeedfeedfeedfeedfeedfeedfeed';
    const relaySpec: RelaySpec = {
      role: 'relay',
      port: 8095,
      env: { RELAY_HOST: '0.0.0.0', RELAY_PORT: '8095' },
    };
    const relayLabels = { [LABELS.managed]: 'true', [LABELS.instance]: 'unit', [LABELS.role]: 'relay' };
    const createOptions = (): Docker.ContainerCreateOptions => docker.createContainer.mock.calls[0][0];

    function listed(id: string, labels: Record<string, string>): Docker.ContainerInfo {
      return {
        Id: id,
        Names: [`/${id}`],
        Labels: labels,
        State: 'running',
        Image: 'img',
      } as Docker.ContainerInfo;
    }

    it('is a container of the worker image running /app/relay.js, labelled with its role, hardened and limited as workers', async () => {
      await sut.start(relaySpec);
      const options = createOptions();
      expect(options.name).toBe('pairwatch-relay-unit');
      expect(options.Image).toBe('pairwatch-worker:test');
      expect(options.Entrypoint).toEqual(['node', '/app/relay.js']);
      expect(options.Cmd).toEqual([]);
      expect(options.User).toBe('10001:10001');
      expect(options.Env).toEqual(['RELAY_HOST=0.0.0.0', 'RELAY_PORT=8095']);
      expect(options.Labels).toEqual({
        ...relayLabels,
        [LABELS.specHash]: computeSpecHash('sha256:0123', relaySpec, workloadPolicy(config, 'relay')),
      });
      expect(options.Labels).not.toHaveProperty(LABELS.monitorId);
      // The same host configuration as a worker's, but a larger CPU weight (it serves every worker), and its CPU
      // limit over the default period (a worker's runs over 1 s).
      await sut.start(specFor());
      const worker = docker.createContainer.mock.calls[1][0];
      const { CpuShares, NanoCpus, ...relayHost } = options.HostConfig ?? {};
      const { CpuPeriod, CpuQuota, ...workerHost } = worker.HostConfig ?? {};
      expect(relayHost).toEqual(workerHost);
      expect(CpuShares).toBeGreaterThan(1024);
      expect(worker.HostConfig?.CpuShares).toBeUndefined();
      expect(NanoCpus).toBe(WORKER_LIMITS.nanoCpus);
      expect(options.HostConfig).not.toHaveProperty('CpuPeriod');
      expect({ CpuPeriod, CpuQuota }).toEqual({ CpuPeriod: 1_000_000, CpuQuota: 250_000 });
      expect(options.HostConfig).toMatchObject({
        NetworkMode: 'pairwatch_net',
        ReadonlyRootfs: true,
        CapDrop: ['ALL'],
        SecurityOpt: ['no-new-privileges'],
        Memory: WORKER_LIMITS.memoryBytes,
        PidsLimit: WORKER_LIMITS.pids,
        RestartPolicy: { Name: 'on-failure', MaximumRetryCount: WORKER_LIMITS.maxRestarts },
        LogConfig: { Type: 'json-file', Config: { 'max-size': '1m', 'max-file': '3' } },
      });
      expect(worker.Labels).toMatchObject({ [LABELS.role]: 'worker' });
    });

    it('answers the relay another replica made (409) instead of making a second', async () => {
      docker.createContainer.mockRejectedValue(engineError(409));
      docker.listContainers.mockResolvedValue([listed(RELAY_ID, relayLabels)]);
      container.inspect.mockResolvedValue(
        Object.assign(inspectInfo(relayLabels), { Id: RELAY_ID, Name: '/pairwatch-relay-unit' }),
      );
      await expect(sut.start(relaySpec)).resolves.toMatchObject({ workerId: RELAY_ID, monitorId: '' });
    });

    it('is listed by listRelays, inspected, and never by list(); workers without a role label still are', async () => {
      docker.listContainers.mockImplementation(((options: { filters: { label: string[] } }) =>
        Promise.resolve(
          options.filters.label.includes('pairwatch.role=relay')
            ? [listed(RELAY_ID, relayLabels)]
            : [
                listed(RELAY_ID, relayLabels),
                listed(CONTAINER_ID, { [LABELS.managed]: 'true', [LABELS.monitorId]: MONITOR_ID }),
              ],
        )) as unknown as DockerMock['listContainers']);
      expect((await sut.list('worker')).map((w) => w.workerId)).toEqual([CONTAINER_ID]);
      container.inspect.mockResolvedValue(
        Object.assign(inspectInfo(relayLabels, { Status: 'exited', Running: false, ExitCode: 70 }), {
          Id: RELAY_ID,
        }),
      );
      expect(await sut.list('relay')).toEqual([
        expect.objectContaining({ workerId: RELAY_ID, state: 'exited', exitCode: 70, restarts: 1 }),
      ]);
      expect(docker.getContainer).toHaveBeenCalledWith(RELAY_ID);
    });

    it('stopRelay stops and removes the container; already gone is success', async () => {
      container.stop.mockRejectedValue(engineError(404));
      container.remove.mockRejectedValue(engineError(404));
      docker.listContainers.mockResolvedValue([listed(RELAY_ID, relayLabels)]);
      await expect(sut.stop(RELAY, RELAY_ID)).resolves.toBeUndefined();
      expect(docker.getContainer).toHaveBeenCalledWith(RELAY_ID);
      expect(container.stop).toHaveBeenCalled();
    });

    it('relaySpecHash covers the image id and the environment', async () => {
      const hash = await sut.specHash(relaySpec);
      image.inspect.mockResolvedValue({ Id: 'sha256:4567' } as Docker.ImageInspectInfo);
      afterImageIdReuse();
      expect(await sut.specHash(relaySpec)).not.toBe(hash);
      expect(await sut.specHash({ ...relaySpec, env: { RELAY_PORT: '1' } })).not.toBe(
        await sut.specHash(relaySpec),
      );
    });

    it('relayLastExit is null for a relay that never finished', async () => {
      container.inspect.mockResolvedValue(inspectInfo(relayLabels, { FinishedAt: '0001-01-01T00:00:00Z' }));
      docker.listContainers.mockResolvedValue([listed(RELAY_ID, relayLabels)]);
      await expect(sut.lastExit(RELAY)).resolves.toBeNull();
    });
  });

  describe('start', () => {
    type CreateOptions = Docker.ContainerCreateOptions;
    const createOptions = (): CreateOptions => docker.createContainer.mock.calls[0][0];

    it('names and labels the container after the checked pair and monitor id', async () => {
      await sut.start(specFor());
      const options = createOptions();
      expect(options.name).toBe(`pairwatch-worker-btc-usd-${MONITOR_ID}`);
      expect(options.Image).toBe('pairwatch-worker:test');
      expect(options.Labels).toEqual(
        expect.objectContaining({
          [LABELS.monitorId]: MONITOR_ID,
          [LABELS.pair]: 'BTC-USD',
          [LABELS.managed]: 'true',
        }),
      );
      expect(LABELS).toMatchObject({
        monitorId: 'pairwatch.monitor-id',
        pair: 'pairwatch.pair',
        managed: 'pairwatch.managed',
      });
    });

    it('sets the resource and security limits and joins the configured network', async () => {
      await sut.start(specFor());
      const host = createOptions().HostConfig!;
      expect(host).toMatchObject({
        NetworkMode: 'pairwatch_net',
        Memory: WORKER_LIMITS.memoryBytes,
        // WORKER_LIMITS' quarter CPU, over a 1 s period (workload.ts: WORKER_CPU_PERIOD_US): 250 ms a second.
        CpuPeriod: 1_000_000,
        CpuQuota: 250_000,
        PidsLimit: WORKER_LIMITS.pids,
        ReadonlyRootfs: true,
        CapDrop: ['ALL'],
      });
      // The engine refuses NanoCpus beside a period.
      expect(host).not.toHaveProperty('NanoCpus');
      expect(host.SecurityOpt).toContain('no-new-privileges');
      expect(host.Privileged).not.toBe(true);
      expect(host.CapAdd ?? []).toEqual([]);
      expect(host.Binds ?? []).toEqual([]);
      // The limits are real limits, not zero (= unlimited for Docker).
      expect(WORKER_LIMITS.memoryBytes).toBeGreaterThan(0);
      expect(WORKER_LIMITS.nanoCpus).toBeGreaterThan(0);
      expect(WORKER_LIMITS.pids).toBeGreaterThan(0);
    });

    it('joins the host network when told to', async () => {
      sut = new DockerRuntime({ ...config, workerNetwork: 'host' }, docker as unknown as Docker);
      await sut.start(specFor());
      expect(createOptions().HostConfig?.NetworkMode).toBe('host');
    });

    it('passes exactly the env of the spec, one KEY=value each', async () => {
      const spec = specFor();
      await sut.start(spec);
      const env = createOptions().Env ?? [];
      expect([...env].sort()).toEqual(
        Object.entries(spec.env)
          .map(([k, v]) => `${k}=${v}`)
          .sort(),
      );
      expect(createOptions().Cmd).toBeUndefined();
      expect(createOptions().Entrypoint).toBeUndefined();
    });

    it('does not pass the API process environment to the worker', async () => {
      process.env.PAIRWATCH_UNIT_SECRET = 'leak-me';
      try {
        await sut.start(specFor());
        expect((createOptions().Env ?? []).join('\n')).not.toContain('leak-me');
      } finally {
        delete process.env.PAIRWATCH_UNIT_SECRET;
      }
    });

    it('refuses to create a container for an unchecked pair', async () => {
      await expect(sut.start(specFor(monitorConfig({ pair: 'BTC-USD;reboot' })))).rejects.toThrow(
        /unchecked/,
      );
      expect(docker.createContainer).not.toHaveBeenCalled();
    });

    it('starts the container and describes it', async () => {
      const info = await sut.start(specFor());
      expect(container.start).toHaveBeenCalledTimes(1);
      expect(info).toEqual({
        role: 'worker',
        workerId: CONTAINER_ID,
        monitorId: MONITOR_ID,
        pair: 'BTC-USD',
        name: `pairwatch-worker-btc-usd-${MONITOR_ID}`,
        state: 'running',
        exitCode: null,
        restarts: 1,
        image: 'pairwatch-worker:latest',
        startedAt: '2025-01-01T00:00:01.000000000Z',
        specHash: null,
      });
    });

    it('stamps a spec hash that changes with the environment, the limits and the image', async () => {
      await sut.start(specFor());
      const first = docker.createContainer.mock.calls[0][0].Labels?.[LABELS.specHash];
      expect(first).toMatch(/^[0-9a-f]{16}$/);
      expect(await sut.specHash(specFor())).toBe(first);
      const spec = specFor();
      expect(await sut.specHash({ ...spec, env: { ...spec.env, INTERVAL_MS: '7000' } })).not.toBe(first);
      // Another API with the same configuration stamps the same; with another CPU or memory limit, another.
      const same = new DockerRuntime({ ...config }, docker as unknown as Docker);
      expect(await same.specHash(specFor())).toBe(first);
      for (const limits of [{ nanoCpus: 500_000_000 }, { memoryBytes: 64 * 1024 * 1024 }]) {
        const other = { ...config, workerLimits: { ...WORKER_LIMITS, ...limits } };
        expect(await new DockerRuntime(other, docker as unknown as Docker).specHash(specFor())).not.toBe(
          first,
        );
      }
      image.inspect.mockResolvedValue({ Id: 'sha256:4567' } as Docker.ImageInspectInfo);
      afterImageIdReuse();
      expect(await sut.specHash(specFor())).not.toBe(first);
    });

    it('looks the image up once for the spec hashes of a pass (within 2 s), sharing one lookup in flight', async () => {
      await Promise.all([sut.specHash(specFor()), sut.specHash(specFor()), sut.ensureReady()]);
      await sut.specHash(specFor());
      expect(image.inspect).toHaveBeenCalledTimes(1);
      afterImageIdReuse();
      await sut.specHash(specFor());
      expect(image.inspect).toHaveBeenCalledTimes(2);
    });

    it('does not keep a failed image lookup', async () => {
      image.inspect.mockRejectedValueOnce(engineError(404));
      await expect(sut.ensureReady()).rejects.toThrow(RuntimeUnavailableError);
      await expect(sut.ensureReady()).resolves.toBeUndefined();
    });

    it('adopts the existing worker when the name is taken (another replica made it)', async () => {
      docker.createContainer.mockRejectedValue(
        engineError(409, 'Conflict. The container name is already in use'),
      );
      docker.listContainers.mockResolvedValue([{ Id: CONTAINER_ID } as Docker.ContainerInfo]);
      const info = await sut.start(specFor());
      expect(info.workerId).toBe(CONTAINER_ID);
      expect(container.start).not.toHaveBeenCalled();
    });

    it('removes the container when it cannot be started, and says why', async () => {
      container.start.mockRejectedValue(engineError(500, 'OCI runtime create failed'));
      const error = await sut.start(specFor()).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RuntimeUnavailableError);
      expect((error as Error).message).toContain('OCI runtime create failed');
      expect(docker.getContainer).toHaveBeenCalledWith(CONTAINER_ID);
      expect(container.remove).toHaveBeenCalledWith(expect.objectContaining({ force: true }));
    });

    it('removes the container when a 4xx stops it from starting, and passes the error on', async () => {
      container.start.mockRejectedValue(engineError(400, 'network pairwatch_net not found'));
      const error = await sut.start(specFor()).catch((e: unknown) => e);
      expect(error).not.toBeInstanceOf(RuntimeUnavailableError);
      expect((error as Error).message).toContain('network pairwatch_net not found');
      expect(container.remove).toHaveBeenCalled();
    });

    it('answers RuntimeUnavailableError when the engine cannot be reached to create the container', async () => {
      docker.createContainer.mockRejectedValue(socketError('ECONNREFUSED'));
      await expect(sut.start(specFor())).rejects.toBeInstanceOf(RuntimeUnavailableError);
      expect(container.start).not.toHaveBeenCalled();
    });
  });

  describe('stop', () => {
    beforeEach(() => {
      docker.listContainers.mockResolvedValue([{ Id: CONTAINER_ID } as Docker.ContainerInfo]);
    });

    it('finds the containers of the monitor by label, stops and removes them', async () => {
      await sut.stop(workerOf(MONITOR_ID));
      const options = docker.listContainers.mock.calls[0][0] as {
        all: boolean;
        filters: { label: string[] };
      };
      expect(options.all).toBe(true);
      expect(options.filters.label).toEqual(
        expect.arrayContaining([`${LABELS.monitorId}=${MONITOR_ID}`, `${LABELS.managed}=true`]),
      );
      expect(docker.getContainer).toHaveBeenCalledWith(CONTAINER_ID);
      expect(container.stop).toHaveBeenCalled();
      expect(container.remove).toHaveBeenCalledWith(expect.objectContaining({ force: true }));
    });

    it('does nothing, successfully, when the monitor has no container', async () => {
      docker.listContainers.mockResolvedValue([]);
      await expect(sut.stop(workerOf(MONITOR_ID))).resolves.toBeUndefined();
      expect(container.stop).not.toHaveBeenCalled();
      expect(container.remove).not.toHaveBeenCalled();
    });

    it('treats 304 (already stopped) on stop as success and still removes', async () => {
      container.stop.mockRejectedValue(engineError(304, 'container already stopped'));
      await expect(sut.stop(workerOf(MONITOR_ID))).resolves.toBeUndefined();
      expect(container.remove).toHaveBeenCalled();
    });

    it('treats 404 (already gone) on stop and on remove as success', async () => {
      container.stop.mockRejectedValue(engineError(404, 'no such container'));
      container.remove.mockRejectedValue(engineError(404, 'no such container'));
      await expect(sut.stop(workerOf(MONITOR_ID))).resolves.toBeUndefined();
    });

    it('treats 409 (removal already in progress) on remove as success', async () => {
      container.remove.mockRejectedValue(engineError(409, 'removal of container is already in progress'));
      await expect(sut.stop(workerOf(MONITOR_ID))).resolves.toBeUndefined();
    });

    it('rethrows a 500 on stop as RuntimeUnavailableError', async () => {
      container.stop.mockRejectedValue(engineError(500, 'server error'));
      await expect(sut.stop(workerOf(MONITOR_ID))).rejects.toBeInstanceOf(RuntimeUnavailableError);
    });

    it('rethrows a 500 on remove as RuntimeUnavailableError', async () => {
      container.remove.mockRejectedValue(engineError(500, 'driver failed'));
      const error = await sut.stop(workerOf(MONITOR_ID)).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RuntimeUnavailableError);
      expect((error as Error).message).toContain('driver failed');
    });

    it.each(['ECONNREFUSED', 'ENOENT', 'ETIMEDOUT'])(
      'turns %s (no statusCode) into RuntimeUnavailableError',
      async (code) => {
        docker.listContainers.mockRejectedValue(socketError(code));
        const error = await sut.stop(workerOf(MONITOR_ID)).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(RuntimeUnavailableError);
        expect((error as Error).message).toContain(code);
      },
    );
  });

  describe('ping and ensureReady', () => {
    it.each(['ECONNREFUSED', 'ENOENT'])('ping turns %s into RuntimeUnavailableError', async (code) => {
      docker.ping.mockRejectedValue(socketError(code));
      await expect(sut.ping()).rejects.toBeInstanceOf(RuntimeUnavailableError);
    });

    it('ensureReady passes when the engine answers and the image is present', async () => {
      docker.ping.mockResolvedValue('OK');
      image.inspect.mockResolvedValue({} as Docker.ImageInspectInfo);
      await expect(sut.ensureReady()).resolves.toBeUndefined();
      expect(docker.getImage).toHaveBeenCalledWith('pairwatch-worker:test');
    });

    it('ensureReady answers RuntimeUnavailableError naming the image when it is missing (404)', async () => {
      docker.ping.mockResolvedValue('OK');
      image.inspect.mockRejectedValue(engineError(404, 'No such image: pairwatch-worker:test'));
      const error = await sut.ensureReady().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RuntimeUnavailableError);
      expect((error as Error).message).toContain('pairwatch-worker:test');
    });

    it('ensureReady answers RuntimeUnavailableError when the engine is unreachable, without asking for the image', async () => {
      docker.ping.mockRejectedValue(socketError('ECONNREFUSED'));
      await expect(sut.ensureReady()).rejects.toBeInstanceOf(RuntimeUnavailableError);
      expect(image.inspect).not.toHaveBeenCalled();
    });

    it('ensureReady turns a 500 on the image into RuntimeUnavailableError', async () => {
      docker.ping.mockResolvedValue('OK');
      image.inspect.mockRejectedValue(engineError(500, 'engine error'));
      await expect(sut.ensureReady()).rejects.toBeInstanceOf(RuntimeUnavailableError);
    });
  });

  describe('list and find', () => {
    it('lists only managed containers, in detail (restarts, exit code), reading monitor and pair from their labels', async () => {
      container.inspect.mockResolvedValue(
        inspectInfo(
          { [LABELS.monitorId]: MONITOR_ID, [LABELS.pair]: 'BTC-USD' },
          { Status: 'exited', Running: false, ExitCode: 1 },
        ),
      );
      docker.listContainers.mockResolvedValue([
        {
          Id: CONTAINER_ID,
          Names: [`/pairwatch-worker-btc-usd-${MONITOR_ID}`],
          Image: 'pairwatch-worker:test',
          State: 'exited',
          Labels: { [LABELS.monitorId]: MONITOR_ID, [LABELS.pair]: 'BTC-USD' },
        } as unknown as Docker.ContainerInfo,
      ]);
      const workers = await sut.list('worker');
      const options = docker.listContainers.mock.calls[0][0] as { filters: { label: string[] } };
      expect(options.filters.label).toContain(`${LABELS.managed}=true`);
      expect(workers).toEqual([
        expect.objectContaining({
          workerId: CONTAINER_ID,
          monitorId: MONITOR_ID,
          pair: 'BTC-USD',
          name: `pairwatch-worker-btc-usd-${MONITOR_ID}`,
          state: 'exited',
          exitCode: 1,
          restarts: 1,
        }),
      ]);
      // Not followed events (no watch()): every list inspects again.
      await sut.list('worker');
      expect(container.inspect).toHaveBeenCalledTimes(2);
    });

    it('answers list({ maxAgeMs }) from the last listing only while events are followed and none came since', async () => {
      docker.listContainers.mockResolvedValue([
        {
          Id: CONTAINER_ID,
          Names: ['/w'],
          State: 'created',
          Image: 'pairwatch-worker:test',
          Labels: { [LABELS.monitorId]: MONITOR_ID, [LABELS.pair]: 'BTC-USD' },
        } as unknown as Docker.ContainerInfo,
      ]);
      // Not followed yet: every call lists.
      await sut.list('worker', { maxAgeMs: 60_000 });
      await sut.list('worker', { maxAgeMs: 60_000 });
      expect(docker.listContainers).toHaveBeenCalledTimes(2);

      const stream = new PassThrough();
      const events = { getEvents: jest.fn().mockResolvedValue(stream) };
      const watched = new CachingDockerRuntime(
        config,
        docker as unknown as Docker,
        events as unknown as Docker,
      );
      const seenEvents: string[] = [];
      const unwatch = watched.watch((event) => seenEvents.push(event.kind));
      // Followed once the stream is read.
      await until(() => stream.listenerCount('data') > 0);
      docker.listContainers.mockClear();

      await watched.list('worker', { maxAgeMs: 60_000 });
      await watched.list('worker', { maxAgeMs: 60_000 });
      expect(docker.listContainers).toHaveBeenCalledTimes(1);
      // A reconcile pass (no maxAgeMs) always lists.
      await watched.list('worker');
      expect(docker.listContainers).toHaveBeenCalledTimes(2);
      await watched.list('worker', { maxAgeMs: 0 });
      expect(docker.listContainers).toHaveBeenCalledTimes(3);

      // An event of this installation: the next one lists again.
      stream.write(
        `${JSON.stringify({ Type: 'container', Action: 'die', Actor: { ID: CONTAINER_ID, Attributes: { [LABELS.monitorId]: MONITOR_ID } } })}\n`,
      );
      await until(() => seenEvents.length > 0);
      await watched.list('worker', { maxAgeMs: 60_000 });
      await watched.list('worker', { maxAgeMs: 60_000 });
      expect(docker.listContainers).toHaveBeenCalledTimes(4);
      // A removal of its own too.
      await watched.stop(workerOf(MONITOR_ID));
      const afterStop = docker.listContainers.mock.calls.length;
      await watched.list('worker', { maxAgeMs: 60_000 });
      expect(docker.listContainers).toHaveBeenCalledTimes(afterStop + 1);
      unwatch();
    });

    it('does not inspect a container still being created or started (the engine holds it locked meanwhile)', async () => {
      docker.listContainers.mockResolvedValue([
        {
          Id: CONTAINER_ID,
          Names: ['/w'],
          State: 'created',
          Image: 'pairwatch-worker:test',
          Labels: { [LABELS.monitorId]: MONITOR_ID, [LABELS.pair]: 'BTC-USD', [LABELS.specHash]: 'abc' },
        } as unknown as Docker.ContainerInfo,
      ]);
      expect(await sut.list('worker')).toEqual([
        expect.objectContaining({ workerId: CONTAINER_ID, state: 'created', restarts: 0, specHash: 'abc' }),
      ]);
      expect(container.inspect).not.toHaveBeenCalled();
    });

    it('leaves out a listed container that is gone by the time it is inspected', async () => {
      docker.listContainers.mockResolvedValue([
        { Id: CONTAINER_ID, Names: ['/w'], State: 'running', Labels: {} } as unknown as Docker.ContainerInfo,
      ]);
      container.inspect.mockRejectedValue(engineError(404));
      await expect(sut.list('worker')).resolves.toEqual([]);
    });

    it('leaves out the task containers of Swarm services, which carry the same labels', async () => {
      const labels = { [LABELS.monitorId]: MONITOR_ID, [LABELS.pair]: 'BTC-USD' };
      docker.listContainers.mockResolvedValue([
        {
          Id: 'task',
          Names: ['/pw-task'],
          State: 'running',
          Labels: { ...labels, 'com.docker.swarm.service.id': 'svc' },
        },
        { Id: CONTAINER_ID, Names: ['/own'], State: 'running', Labels: labels },
      ] as unknown as Docker.ContainerInfo[]);
      expect((await sut.list('worker')).map((w) => w.workerId)).toEqual([CONTAINER_ID]);
    });

    it('instances names every installation with worker containers, whatever its own instance', async () => {
      docker.listContainers.mockResolvedValue([
        { Id: '1', Labels: { [LABELS.instance]: 'dev' } },
        { Id: '2', Labels: { [LABELS.instance]: 'unit' } },
        { Id: '3', Labels: { [LABELS.instance]: 'dev' } },
        { Id: '4', Labels: { [LABELS.instance]: 'ci', 'com.docker.swarm.service.id': 'svc' } },
        { Id: '5', Labels: {} },
      ] as unknown as Docker.ContainerInfo[]);
      await expect(sut.instances()).resolves.toEqual(['dev', 'unit']);
      const options = docker.listContainers.mock.calls[0][0] as { filters: { label: string[] } };
      expect(options.filters.label).toEqual([`${LABELS.managed}=true`]);
    });

    it('find answers null when the monitor has no container, or it vanished meanwhile (404)', async () => {
      docker.listContainers.mockResolvedValue([]);
      expect(await sut.find(workerOf(MONITOR_ID))).toBeNull();

      docker.listContainers.mockResolvedValue([{ Id: CONTAINER_ID } as Docker.ContainerInfo]);
      container.inspect.mockRejectedValue(engineError(404));
      expect(await sut.find(workerOf(MONITOR_ID))).toBeNull();
    });

    it('find reports a restarting container as restarting, with its exit code', async () => {
      docker.listContainers.mockResolvedValue([{ Id: CONTAINER_ID } as Docker.ContainerInfo]);
      container.inspect.mockResolvedValue(
        inspectInfo(
          { [LABELS.monitorId]: MONITOR_ID, [LABELS.pair]: 'BTC-USD' },
          {
            Status: 'restarting',
            Restarting: true,
            Running: false,
            ExitCode: 3,
            StartedAt: '0001-01-01T00:00:00Z',
          },
        ),
      );
      expect(await sut.find(workerOf(MONITOR_ID))).toMatchObject({
        state: 'restarting',
        exitCode: 3,
        startedAt: null,
      });
    });
  });
});
