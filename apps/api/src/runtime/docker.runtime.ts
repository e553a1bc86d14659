import { Logger } from '@nestjs/common';
import Docker from 'dockerode';
import type { AppConfig } from '../config/app.config';
import {
  EngineEvent,
  WORKER_CONTAINER,
  containerLogTail,
  engineCall,
  eventNanos,
  followEngineEvents,
  inspectWorkerImage,
  labelFilter,
  statusOf,
  translateEngineError,
} from './docker-engine';
import { mapConcurrently } from '../common/concurrency';
import { ContainerDetails } from './container-details';
import {
  computeSpecHash,
  isRelay,
  RELAY_COMMAND,
  relayContainerName,
  workerContainerName,
} from './worker-identity';
import {
  LABELS,
  ListOptions,
  RelaySpec,
  ROLE,
  WorkerEvent,
  WorkerExit,
  WorkerInfo,
  WorkerRuntime,
  WorkerSpec,
  WorkerState,
} from './worker-runtime';

const SWARM_SERVICE_LABEL = 'com.docker.swarm.service.id';
/** Inspections of containers the cache cannot serve, at most this many at once (the engine is shared). */
const INSPECT_CONCURRENCY = 8;
/**
 * WORKER_IMAGE's id is looked up at most this often: every spec hash needs it (a reconcile pass computes one
 * per monitor, every create one more). A re-tagged image is seen within this long; the workers started in
 * between carry the older hash, and the next pass replaces them.
 */
const IMAGE_ID_TTL_MS = 2000;
/**
 * The relay's CPU weight against the workers' (the engine's default, 1024, each): it answers every worker, so
 * on a machine where 300 workers start at once it must not wait its turn behind each of them. A weight, not a
 * limit: the relay's CPU limit is the workers' (WORKER_MILLICPUS). Measured without it: at a load average of 113
 * on 2 CPUs a relay of the default weight, runnable, got 0.7 % of a CPU, its accept queue grew to 309
 * connections and every worker timed out.
 */
export const RELAY_CPU_SHARES = 1024 * 16;

export type DockerRuntimeConfig = Pick<
  AppConfig,
  'workerImage' | 'workerNetwork' | 'instance' | 'workerLimits'
>;

/** One container per monitor on a Docker engine, found again by its labels. */
export class DockerRuntime extends WorkerRuntime {
  readonly kind = 'docker' as const;
  private readonly logger = new Logger(DockerRuntime.name);
  /** Inspections kept while the event stream is followed (watch()): list() costs one call, not one per worker. */
  private readonly details = new ContainerDetails<Docker.ContainerInspectInfo>();
  private image: { id: string; at: number } | undefined;
  private imageLookup: Promise<string> | undefined;
  /** Whether the engine's event stream is followed now (watch()): only then may a listing be answered again. */
  private eventsLive = false;
  /**
   * Counts the changes this runtime knows of: every engine event of this installation, each create, start
   * and removal it made, the event stream connecting or dropping. A listing is answered again only while
   * this has not moved since it was asked.
   */
  private changes = 0;
  /** The last listing asked (list()), for list({ maxAgeMs }). */
  private listing: { changes: number; at: number; containers: Promise<Docker.ContainerInfo[]> } | undefined;

  constructor(
    private readonly config: DockerRuntimeConfig,
    private readonly docker: Docker,
    /** Follows the event stream, which must not time out (default: the same client). */
    private readonly events: Docker = docker,
  ) {
    super();
  }

  async ping(): Promise<void> {
    await this.call('reach the Docker engine', () => this.docker.ping());
  }

  async ensureReady(): Promise<void> {
    await this.ping();
    await this.imageId();
  }

  async start(spec: WorkerSpec): Promise<WorkerInfo> {
    const { monitor } = spec;
    const name = workerContainerName(monitor.pair, monitor.monitorId);
    let container: Docker.Container;
    try {
      container = await this.docker.createContainer({
        ...this.hardened(spec),
        name,
        Image: this.config.workerImage,
        Labels: {
          [LABELS.managed]: 'true',
          [LABELS.instance]: this.config.instance,
          [LABELS.role]: ROLE.worker,
          [LABELS.monitorId]: monitor.monitorId,
          [LABELS.pair]: monitor.pair,
          [LABELS.specHash]: await this.specHash(spec),
        },
      });
    } catch (error) {
      // 409: a container of this name exists: the monitor already has its worker (another replica made it).
      if (statusOf(error) === 409) {
        const existing = await this.find(monitor.monitorId);
        if (existing) return existing;
      }
      throw this.translate('create the worker container', error);
    }
    return this.startCreated(container, 'worker');
  }

  /**
   * The relay: the same image, hardening, limits and network as the workers, running /app/relay.js, with a
   * larger CPU weight than theirs (its quota, WORKER_MILLICPUS, stays the same).
   */
  async startRelay(spec: RelaySpec): Promise<WorkerInfo> {
    let container: Docker.Container;
    const hardened = this.hardened(spec);
    try {
      container = await this.docker.createContainer({
        ...hardened,
        HostConfig: { ...hardened.HostConfig, CpuShares: RELAY_CPU_SHARES },
        name: relayContainerName(this.config.instance),
        Image: this.config.workerImage,
        Entrypoint: [...RELAY_COMMAND],
        Cmd: [],
        Labels: {
          [LABELS.managed]: 'true',
          [LABELS.instance]: this.config.instance,
          [LABELS.role]: ROLE.relay,
          [LABELS.specHash]: await this.relaySpecHash(spec),
        },
      });
    } catch (error) {
      if (statusOf(error) === 409) {
        const [existing] = await this.listRelays();
        if (existing) return existing;
      }
      throw this.translate('create the relay container', error);
    }
    return this.startCreated(container, 'relay');
  }

  async listRelays(): Promise<WorkerInfo[]> {
    const containers = await this.listContainers({ [LABELS.role]: ROLE.relay });
    const inspected = await Promise.all(containers.map((c) => this.inspectById(c.Id, 'relay')));
    return inspected.filter((i) => i !== null).map((i) => this.describe(i));
  }

  async stopRelay(workerId: string): Promise<void> {
    await this.removeContainer(workerId, true);
  }

  async relaySpecHash(spec: RelaySpec): Promise<string> {
    return computeSpecHash(await this.imageId(), spec);
  }

  async relayLastExit(workerId: string): Promise<WorkerExit | null> {
    const info = await this.inspectById(workerId, 'relay');
    return info ? this.exitOf(info, '') : null;
  }

  /** What workers and the relay share: user, environment, stop signal, limits and hardening, network, logs. */
  private hardened(spec: WorkerSpec | RelaySpec): Docker.ContainerCreateOptions {
    const limits = this.config.workerLimits;
    return {
      User: WORKER_CONTAINER.user,
      Env: Object.entries(spec.env).map(([key, value]) => `${key}=${value}`),
      StopSignal: 'SIGTERM',
      StopTimeout: 5,
      HostConfig: {
        NetworkMode: this.config.workerNetwork,
        Memory: limits.memoryBytes,
        MemorySwap: limits.memoryBytes,
        NanoCpus: limits.nanoCpus,
        PidsLimit: limits.pids,
        ReadonlyRootfs: true,
        SecurityOpt: ['no-new-privileges'],
        CapDrop: ['ALL'],
        RestartPolicy: { Name: 'on-failure', MaximumRetryCount: limits.maxRestarts },
        LogConfig: {
          Type: 'json-file',
          Config: { 'max-size': WORKER_CONTAINER.logMaxSize, 'max-file': WORKER_CONTAINER.logMaxFile },
        },
      },
    };
  }

  /** Starts a created container; one that cannot start is removed again. */
  private async startCreated(container: Docker.Container, what: 'worker' | 'relay'): Promise<WorkerInfo> {
    this.changed();
    try {
      await container.start();
      this.changed();
      return this.describe(await container.inspect());
    } catch (error) {
      await this.removeContainer(container.id).catch(() => undefined);
      throw this.translate(`start the ${what} container`, error);
    }
  }

  async stop(monitorId: string): Promise<void> {
    const containers = await this.listContainers({ [LABELS.monitorId]: monitorId });
    await Promise.all(containers.map((c) => this.removeContainer(c.Id, true)));
  }

  /**
   * One list call; each container's details (restarts, exit code) from its kept inspection, or inspected
   * when none can be trusted (see ContainerDetails).
   */
  async list(options: ListOptions = {}): Promise<WorkerInfo[]> {
    const containers = (await this.recentContainers(options.maxAgeMs)).filter((c) => !isRelay(c.Labels));
    this.details.retain(new Set(containers.map((c) => c.Id)));
    const workers = await mapConcurrently(containers, INSPECT_CONCURRENCY, async (c) => {
      // A container still being created or started is locked by the engine until that ends (seconds, on a
      // busy machine): its inspection would wait for it. The list says all there is yet (never restarted).
      if (c.State === 'created') return fromListing(c);
      const info = await this.detailsOf(c);
      return info ? this.describe(info) : null;
    });
    return workers.filter((worker) => worker !== null);
  }

  /**
   * This installation's containers: the last listing when it began less than `maxAgeMs` ago and nothing this
   * runtime knows of changed since (the event stream followed throughout), otherwise one list call, which
   * becomes the last listing. A listing of 300 containers costs the engine ~80 ms on a loaded machine.
   */
  private recentContainers(maxAgeMs: number | undefined): Promise<Docker.ContainerInfo[]> {
    const last = this.listing;
    if (
      maxAgeMs !== undefined &&
      last &&
      this.eventsLive &&
      last.changes === this.changes &&
      Date.now() - last.at < maxAgeMs
    ) {
      return last.containers;
    }
    const listing = { changes: this.changes, at: Date.now(), containers: this.listContainers({}) };
    this.listing = listing;
    listing.containers.catch(() => {
      if (this.listing === listing) this.listing = undefined;
    });
    return listing.containers;
  }

  /** Something changed: no listing from before it is answered again. */
  private changed(): void {
    this.changes += 1;
  }

  /**
   * Every installation (label pairwatch.instance) with worker containers on this engine, this one's or not:
   * what `npm run down` stops when no PAIRWATCH_INSTANCE is given.
   */
  async instances(): Promise<string[]> {
    const containers = await this.listContainers({}, false);
    return distinct(containers.map((c) => c.Labels[LABELS.instance]));
  }

  async find(monitorId: string): Promise<WorkerInfo | null> {
    const inspected = await this.inspectWorker(monitorId);
    return inspected ? this.describe(inspected) : null;
  }

  async specHash(spec: WorkerSpec): Promise<string> {
    return computeSpecHash(await this.imageId(), spec);
  }

  async lastExit(monitorId: string): Promise<WorkerExit | null> {
    const info = await this.inspectWorker(monitorId);
    return info ? this.exitOf(info, monitorId) : null;
  }

  private async exitOf(info: Docker.ContainerInspectInfo, monitorId: string): Promise<WorkerExit | null> {
    const finishedAt = info.State.FinishedAt;
    if (!finishedAt || finishedAt.startsWith('0001-')) return null;
    let logTail = '';
    try {
      const raw = await this.docker.getContainer(info.Id).logs({
        stdout: true,
        stderr: true,
        follow: false,
        tail: WORKER_CONTAINER.logTailLines,
      });
      logTail = containerLogTail(raw);
    } catch (error) {
      logTail = `(logs unavailable: ${(error as Error).message})`;
    }
    return {
      monitorId,
      workerId: info.Id,
      key: `${info.Id}@${finishedAt}`,
      exitCode: info.State.ExitCode,
      exitedAt: new Date(finishedAt),
      logTail,
    };
  }

  watch(listener: (event: WorkerEvent) => void): () => void {
    const kinds: Record<string, WorkerEvent['kind']> = { die: 'exit', destroy: 'removed', start: 'started' };
    return followEngineEvents(
      this.events,
      {
        type: ['container'],
        event: Object.keys(kinds),
        label: labelFilter({ [LABELS.managed]: 'true', [LABELS.instance]: this.config.instance }),
      },
      (event) => {
        this.changed();
        if (event.Actor?.ID) this.details.forget(event.Actor.ID);
        const kind = kinds[event.Action ?? event.status ?? ''];
        const attributes = event.Actor?.Attributes ?? {};
        if (kind && isRelay(attributes)) {
          listener({ kind, monitorId: '', role: 'relay' });
          return;
        }
        const monitorId = attributes[LABELS.monitorId];
        if (!kind || !monitorId) return;
        listener({ kind, monitorId, exit: kind === 'exit' ? exitFromEvent(event, monitorId) : undefined });
      },
      this.logger,
      (connected) => {
        this.changed();
        this.eventsLive = connected;
        this.details.setLive(connected);
      },
    );
  }

  /** The id of WORKER_IMAGE on the engine; RuntimeUnavailableError naming the image when it is not there. */
  private async imageId(): Promise<string> {
    if (this.image && Date.now() - this.image.at < IMAGE_ID_TTL_MS) return this.image.id;
    // Concurrent askers share one lookup; a failed lookup is not kept.
    this.imageLookup ??= inspectWorkerImage(this.docker, this.config.workerImage, this.logger)
      .then((info) => {
        this.image = { id: info.Id, at: Date.now() };
        return info.Id;
      })
      .finally(() => (this.imageLookup = undefined));
    return this.imageLookup;
  }

  private async inspectWorker(monitorId: string): Promise<Docker.ContainerInspectInfo | null> {
    const [first] = await this.listContainers({ [LABELS.monitorId]: monitorId });
    return first ? this.detailsOf(first) : null;
  }

  private detailsOf(container: Docker.ContainerInfo): Promise<Docker.ContainerInspectInfo | null> {
    return this.details.get(container.Id, container.State, () => this.inspectById(container.Id, 'worker'));
  }

  private async inspectById(
    id: string,
    what: 'worker' | 'relay',
  ): Promise<Docker.ContainerInspectInfo | null> {
    try {
      return await this.docker.getContainer(id).inspect();
    } catch (error) {
      if (statusOf(error) === 404) return null;
      throw this.translate(`inspect the ${what} container`, error);
    }
  }

  /** pairwatch's worker containers with these labels, of this installation only unless `ownOnly` is false. */
  private async listContainers(
    labels: Record<string, string>,
    ownOnly = true,
  ): Promise<Docker.ContainerInfo[]> {
    const label = labelFilter({
      [LABELS.managed]: 'true',
      ...(ownOnly ? { [LABELS.instance]: this.config.instance } : {}),
      ...labels,
    });
    const containers = await this.call('list worker containers', () =>
      this.docker.listContainers({ all: true, filters: { label } }),
    );
    // Task containers of Swarm services carry the same labels; they belong to the swarm runtime.
    return containers.filter((c) => c.Labels?.[SWARM_SERVICE_LABEL] === undefined);
  }

  /** Stops gracefully when asked, then removes; "already stopped" (304) and "already gone" (404) are success. */
  private async removeContainer(id: string, graceful = false): Promise<void> {
    this.changed();
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
    } finally {
      this.changed();
    }
  }

  private describe(info: Docker.ContainerInspectInfo): WorkerInfo {
    const labels = info.Config.Labels ?? {};
    return {
      workerId: info.Id,
      monitorId: labels[LABELS.monitorId] ?? '',
      pair: labels[LABELS.pair] ?? '',
      name: info.Name.replace(/^\//, ''),
      state: info.State.Restarting ? 'restarting' : toState(info.State.Status),
      exitCode: info.State.Running ? null : info.State.ExitCode,
      restarts: info.RestartCount,
      image: info.Config.Image,
      startedAt:
        info.State.StartedAt && !info.State.StartedAt.startsWith('0001') ? info.State.StartedAt : null,
      specHash: labels[LABELS.specHash] ?? null,
    };
  }

  private call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    return engineCall(what, fn, this.logger);
  }

  private translate(what: string, error: unknown): Error {
    return translateEngineError(what, error, this.logger);
  }
}

/** A die event names the container, its exit code and the instant, the same for every API replica. */
function exitFromEvent(event: EngineEvent, monitorId: string): WorkerExit | undefined {
  const id = event.Actor?.ID;
  const nanos = eventNanos(event);
  if (!id || nanos === undefined) return undefined;
  const code = Number(event.Actor?.Attributes?.exitCode);
  return {
    monitorId,
    workerId: id,
    key: `${id}@${nanos}`,
    exitCode: Number.isInteger(code) ? code : null,
    exitedAt: new Date(Math.floor(nanos / 1e6)),
    logTail: '',
  };
}

/** A worker as the list shows it, before anything could happen to it: never restarted, no exit yet. */
function fromListing(c: Docker.ContainerInfo): WorkerInfo {
  return {
    workerId: c.Id,
    monitorId: c.Labels[LABELS.monitorId] ?? '',
    pair: c.Labels[LABELS.pair] ?? '',
    name: (c.Names[0] ?? '').replace(/^\//, ''),
    state: toState(c.State),
    exitCode: null,
    restarts: 0,
    image: c.Image,
    startedAt: null,
    specHash: c.Labels[LABELS.specHash] ?? null,
  };
}

/** The set values, once each, in the order first seen. */
function distinct(values: Array<string | undefined>): string[] {
  return [...new Set(values.filter((v): v is string => v !== undefined && v !== ''))];
}

export function toState(status: string): WorkerState {
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
