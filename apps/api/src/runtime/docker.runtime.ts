import { Logger } from '@nestjs/common';
import Docker from 'dockerode';
import { isValidPair } from '@pairwatch/contracts';
import type { AppConfig } from '../config/app.config';
import {
  LABELS,
  RuntimeUnavailableError,
  WorkerInfo,
  WorkerRuntime,
  WorkerSpec,
  WorkerState,
} from './worker-runtime';

/** Resource limits of a worker container; a worker is one small Node process polling one URL. */
export const WORKER_LIMITS = {
  memoryBytes: 128 * 1024 * 1024,
  nanoCpus: 250_000_000,
  pids: 64,
  logMaxSize: '1m',
  logMaxFile: '3',
  maxRestarts: 5,
} as const;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Container name made only of the validated pair and monitor id, never of raw user text. */
export function workerContainerName(pair: string, monitorId: string): string {
  if (!isValidPair(pair) || !UUID.test(monitorId)) {
    throw new Error(`refusing to name a container after an unchecked pair or id`);
  }
  return `pairwatch-worker-${pair.toLowerCase()}-${monitorId}`;
}

interface DockerError {
  statusCode?: number;
  code?: string;
  message?: string;
}

function statusOf(error: unknown): number | undefined {
  return (error as DockerError | null)?.statusCode;
}

/** Connection-level failures (socket missing, refused, timed out) mean the engine is unreachable. */
function isUnreachable(error: unknown): boolean {
  const code = (error as DockerError | null)?.code;
  return statusOf(error) === undefined && code !== undefined;
}

/** One container per monitor on a Docker engine, found again by its labels. */
export class DockerRuntime extends WorkerRuntime {
  readonly kind = 'docker' as const;
  private readonly logger = new Logger(DockerRuntime.name);

  constructor(
    private readonly config: Pick<AppConfig, 'workerImage' | 'workerNetwork' | 'instance'>,
    private readonly docker: Docker,
  ) {
    super();
  }

  async ping(): Promise<void> {
    await this.call('reach the Docker engine', () => this.docker.ping());
  }

  async ensureReady(): Promise<void> {
    await this.ping();
    try {
      await this.docker.getImage(this.config.workerImage).inspect();
    } catch (error) {
      if (statusOf(error) === 404) {
        throw new RuntimeUnavailableError(
          `worker image ${this.config.workerImage} is not present on the Docker engine; build it with "npm run images"`,
        );
      }
      throw this.translate('inspect the worker image', error);
    }
  }

  async start(spec: WorkerSpec): Promise<WorkerInfo> {
    const { monitor } = spec;
    const name = workerContainerName(monitor.pair, monitor.monitorId);
    const container = await this.call('create the worker container', () =>
      this.docker.createContainer({
        name,
        Image: this.config.workerImage,
        Env: Object.entries(spec.env).map(([key, value]) => `${key}=${value}`),
        Labels: {
          [LABELS.managed]: 'true',
          [LABELS.instance]: this.config.instance,
          [LABELS.monitorId]: monitor.monitorId,
          [LABELS.pair]: monitor.pair,
        },
        StopSignal: 'SIGTERM',
        StopTimeout: 5,
        HostConfig: {
          NetworkMode: this.config.workerNetwork,
          Memory: WORKER_LIMITS.memoryBytes,
          MemorySwap: WORKER_LIMITS.memoryBytes,
          NanoCpus: WORKER_LIMITS.nanoCpus,
          PidsLimit: WORKER_LIMITS.pids,
          ReadonlyRootfs: true,
          SecurityOpt: ['no-new-privileges'],
          CapDrop: ['ALL'],
          RestartPolicy: { Name: 'on-failure', MaximumRetryCount: WORKER_LIMITS.maxRestarts },
          LogConfig: {
            Type: 'json-file',
            Config: { 'max-size': WORKER_LIMITS.logMaxSize, 'max-file': WORKER_LIMITS.logMaxFile },
          },
        },
      }),
    );
    try {
      await container.start();
      return this.describe(await container.inspect());
    } catch (error) {
      await this.removeContainer(container.id);
      throw this.translate('start the worker container', error);
    }
  }

  async stop(monitorId: string): Promise<void> {
    const containers = await this.listContainers({ [LABELS.monitorId]: monitorId });
    await Promise.all(containers.map((c) => this.removeContainer(c.Id, true)));
  }

  async list(): Promise<WorkerInfo[]> {
    const containers = await this.listContainers({});
    return containers.map((c) => ({
      workerId: c.Id,
      monitorId: c.Labels[LABELS.monitorId] ?? '',
      pair: c.Labels[LABELS.pair] ?? '',
      name: (c.Names[0] ?? '').replace(/^\//, ''),
      state: toState(c.State),
      exitCode: null,
      restarts: 0,
      image: c.Image,
      startedAt: null,
    }));
  }

  async find(monitorId: string): Promise<WorkerInfo | null> {
    const [first] = await this.listContainers({ [LABELS.monitorId]: monitorId });
    if (!first) return null;
    try {
      return this.describe(await this.docker.getContainer(first.Id).inspect());
    } catch (error) {
      if (statusOf(error) === 404) return null;
      throw this.translate('inspect the worker container', error);
    }
  }

  private async listContainers(labels: Record<string, string>): Promise<Docker.ContainerInfo[]> {
    const scope = { [LABELS.managed]: 'true', [LABELS.instance]: this.config.instance, ...labels };
    const label = Object.entries(scope).map(([k, v]) => `${k}=${v}`);
    return this.call('list worker containers', () =>
      this.docker.listContainers({ all: true, filters: { label } }),
    );
  }

  /** Stops gracefully when asked, then removes; "already stopped" (304) and "already gone" (404) are success. */
  private async removeContainer(id: string, graceful = false): Promise<void> {
    const container = this.docker.getContainer(id);
    if (graceful) {
      try {
        await container.stop({ t: 5 });
      } catch (error) {
        if (statusOf(error) !== 304 && statusOf(error) !== 404)
          throw this.translate('stop the worker', error);
      }
    }
    try {
      await container.remove({ force: true });
    } catch (error) {
      // 409: removal already in progress; 404: already gone.
      if (statusOf(error) !== 404 && statusOf(error) !== 409)
        throw this.translate('remove the worker', error);
    }
  }

  private describe(info: Docker.ContainerInspectInfo): WorkerInfo {
    return {
      workerId: info.Id,
      monitorId: info.Config.Labels[LABELS.monitorId] ?? '',
      pair: info.Config.Labels[LABELS.pair] ?? '',
      name: info.Name.replace(/^\//, ''),
      state: info.State.Restarting ? 'restarting' : toState(info.State.Status),
      exitCode: info.State.Running ? null : info.State.ExitCode,
      restarts: info.RestartCount,
      image: info.Config.Image,
      startedAt:
        info.State.StartedAt && !info.State.StartedAt.startsWith('0001') ? info.State.StartedAt : null,
    };
  }

  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      throw this.translate(what, error);
    }
  }

  private translate(what: string, error: unknown): Error {
    if (error instanceof RuntimeUnavailableError) return error;
    const message = (error as DockerError | null)?.message ?? String(error);
    if (isUnreachable(error)) {
      this.logger.warn(`could not ${what}: Docker engine unreachable (${message})`);
      return new RuntimeUnavailableError(`Docker engine unreachable: could not ${what} (${message})`);
    }
    const status = statusOf(error);
    if (status !== undefined && status >= 500) {
      return new RuntimeUnavailableError(`Docker engine failed to ${what}: ${message}`);
    }
    return error instanceof Error ? error : new Error(message);
  }
}

function toState(status: string): WorkerState {
  switch (status) {
    case 'created':
    case 'running':
    case 'restarting':
    case 'exited':
    case 'dead':
      return status;
    default:
      return 'unknown';
  }
}
