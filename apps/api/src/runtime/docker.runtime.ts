import Docker from 'dockerode';
import {
  EngineEvent,
  EngineRuntime,
  EngineRuntimeConfig,
  eventNanos,
  followWorkloadEvents,
  inspectWorkerImage,
  labelFilter,
  readLogTail,
  statusOf,
  SWARM_SERVICE_LABEL,
} from './docker-engine';
import { mapConcurrently } from '../common/concurrency';
import { ContainerDetails, RecentListing } from './container-details';
import {
  computeSpecHash,
  envLines,
  fromLabels,
  roleOf,
  selector,
  workloadLabels,
  workloadName,
  workloadPolicy,
} from './workload';
import {
  LABELS,
  ListOptions,
  Workload,
  WorkloadRole,
  WorkloadSpec,
  WorkerEvent,
  WorkerExit,
  WorkerInfo,
  WorkerState,
  workloadOf,
} from './worker-runtime';

/** Inspections of containers the cache cannot serve, at most this many at once (the engine is shared). */
const INSPECT_CONCURRENCY = 8;
/**
 * WORKER_IMAGE's id is looked up at most this often: every spec hash needs it (a reconcile pass computes one
 * per monitor, every create one more). A re-tagged image is seen within this long; the workers started in
 * between carry the older hash, and the next pass replaces them.
 */
const IMAGE_ID_TTL_MS = 2000;

/** The policy (workload.ts) as a container's create options. */
export function containerOptions(
  config: EngineRuntimeConfig,
  spec: WorkloadSpec,
  labels: Record<string, string>,
): Docker.ContainerCreateOptions {
  const policy = workloadPolicy(config, spec.role);
  const { limits } = policy;
  return {
    name: workloadName(spec, config.instance, 'container'),
    Image: config.workerImage,
    ...(policy.command ? { Entrypoint: policy.command, Cmd: [] } : {}),
    Labels: labels,
    User: policy.user,
    Env: envLines(spec.env),
    StopSignal: policy.stopSignal,
    StopTimeout: policy.stopGraceSeconds,
    HostConfig: {
      NetworkMode: policy.network,
      Memory: limits.memoryBytes,
      MemorySwap: limits.memoryBytes,
      NanoCpus: limits.nanoCpus,
      ...(policy.cpuShares ? { CpuShares: policy.cpuShares } : {}),
      PidsLimit: limits.pids,
      ReadonlyRootfs: policy.readOnlyRoot,
      SecurityOpt: policy.noNewPrivileges ? ['no-new-privileges'] : [],
      CapDrop: policy.dropCapabilities,
      RestartPolicy: { Name: 'on-failure', MaximumRetryCount: limits.maxRestarts },
      LogConfig: {
        Type: 'json-file',
        Config: { 'max-size': policy.logs.maxSize, 'max-file': policy.logs.maxFile },
      },
    },
  };
}

/** One container per workload on a Docker engine, found again by its labels. */
export class DockerRuntime extends EngineRuntime {
  readonly kind = 'docker' as const;
  /** Inspections kept while the event stream is followed (watch()): list() costs one call, not one per worker. */
  private readonly details = new ContainerDetails<Docker.ContainerInspectInfo>();
  private image: { id: string; at: number } | undefined;
  private imageLookup: Promise<string> | undefined;
  /** The last full listing, answered again to list({ maxAgeMs }) while nothing changed since. */
  private readonly listing = new RecentListing<Docker.ContainerInfo[]>();

  async ping(): Promise<void> {
    await this.call('reach the Docker engine', () => this.docker.ping());
  }

  async ensureReady(): Promise<void> {
    await this.ping();
    await this.imageId();
  }

  /**
   * A container of the worker image, hardened and limited by the policy; the relay runs /app/relay.js with a
   * larger CPU weight. When one of its name exists already (another API replica made it), that one is answered.
   */
  async start(spec: WorkloadSpec): Promise<WorkerInfo> {
    const labels = workloadLabels(this.config.instance, spec, await this.specHash(spec));
    let container: Docker.Container;
    try {
      container = await this.docker.createContainer(containerOptions(this.config, spec, labels));
    } catch (error) {
      if (statusOf(error) === 409) {
        const existing = await this.find(workloadOf(spec));
        if (existing) return existing;
      }
      throw this.translate(`create the ${spec.role} container`, error);
    }
    this.changed();
    try {
      await container.start();
      this.changed();
      return this.describe(await container.inspect());
    } catch (error) {
      await this.removeContainer(container.id).catch(() => undefined);
      throw this.translate(`start the ${spec.role} container`, error);
    }
  }

  async stop(workload: Workload, workerId?: string): Promise<void> {
    const containers = await this.listContainers(selector(this.config.instance, workload));
    const chosen = containers.filter((c) => workerId === undefined || c.Id === workerId);
    await Promise.all(chosen.map((c) => this.removeContainer(c.Id, true)));
  }

  /**
   * One list call; each container's details (restarts, exit code) from its kept inspection, or inspected
   * when none can be trusted (see ContainerDetails).
   */
  async list(role: WorkloadRole, options: ListOptions = {}): Promise<WorkerInfo[]> {
    const all = await this.recentContainers(options.maxAgeMs);
    this.details.retain(new Set(all.map((c) => c.Id)));
    const containers = all.filter((c) => roleOf(c.Labels) === role);
    const found = await mapConcurrently(containers, INSPECT_CONCURRENCY, async (c) => {
      // A container still being created or started is locked by the engine until that ends (seconds, on a
      // busy machine): its inspection would wait for it. The list says all there is yet (never restarted).
      if (c.State === 'created') return fromListing(c);
      const info = await this.detailsOf(c);
      return info ? this.describe(info) : null;
    });
    return found.filter((worker) => worker !== null);
  }

  /** This installation's containers, from one list call or the last one (RecentListing). */
  private recentContainers(maxAgeMs: number | undefined): Promise<Docker.ContainerInfo[]> {
    return this.listing.get(maxAgeMs, () => this.listContainers({}));
  }

  /** Something changed: no listing from before it is answered again. */
  private changed(): void {
    this.listing.changed();
  }

  /**
   * Every installation (label pairwatch.instance) with worker containers on this engine, this one's or not:
   * what `npm run down` stops when no PAIRWATCH_INSTANCE is given.
   */
  async instances(): Promise<string[]> {
    const containers = await this.listContainers({}, false);
    return [...new Set(containers.map((c) => c.Labels[LABELS.instance]).filter((i) => i))];
  }

  async find(workload: Workload): Promise<WorkerInfo | null> {
    const inspected = await this.inspectWorkload(workload);
    return inspected ? this.describe(inspected) : null;
  }

  async specHash(spec: WorkloadSpec): Promise<string> {
    return computeSpecHash(await this.imageId(), spec);
  }

  async lastExit(workload: Workload): Promise<WorkerExit | null> {
    const info = await this.inspectWorkload(workload);
    const finishedAt = info?.State.FinishedAt;
    if (!info || !finishedAt || finishedAt.startsWith('0001-')) return null;
    return {
      workload,
      workerId: info.Id,
      key: `${info.Id}@${finishedAt}`,
      exitCode: info.State.ExitCode,
      exitedAt: new Date(finishedAt),
      logTail: await readLogTail(this.docker.getContainer(info.Id)),
    };
  }

  watch(listener: (event: WorkerEvent) => void): () => void {
    return followWorkloadEvents(
      this.events,
      this.config.instance,
      (kind, workload, event) => {
        listener({ kind, workload, exit: kind === 'exit' ? exitFromEvent(event, workload) : undefined });
      },
      this.logger,
      (connected) => {
        this.listing.setLive(connected);
        this.details.setLive(connected);
      },
      (event) => {
        this.changed();
        if (event.Actor?.ID) this.details.forget(event.Actor.ID);
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

  private async inspectWorkload(workload: Workload): Promise<Docker.ContainerInspectInfo | null> {
    const [first] = await this.listContainers(selector(this.config.instance, workload));
    return first ? this.detailsOf(first) : null;
  }

  private detailsOf(container: Docker.ContainerInfo): Promise<Docker.ContainerInspectInfo | null> {
    return this.details.get(container.Id, container.State, async () => {
      try {
        return await this.docker.getContainer(container.Id).inspect();
      } catch (error) {
        if (statusOf(error) === 404) return null;
        throw this.translate(`inspect the ${roleOf(container.Labels)} container`, error);
      }
    });
  }

  /** pairwatch's containers with these labels, of this installation only unless `ownOnly` is false. */
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
    return {
      ...fromLabels(info.Config.Labels ?? {}),
      workerId: info.Id,
      name: info.Name.replace(/^\//, ''),
      state: info.State.Restarting ? 'restarting' : toState(info.State.Status),
      exitCode: info.State.Running ? null : info.State.ExitCode,
      restarts: info.RestartCount,
      image: info.Config.Image,
      startedAt:
        info.State.StartedAt && !info.State.StartedAt.startsWith('0001') ? info.State.StartedAt : null,
    };
  }
}

/** A die event names the container, its exit code and the instant, the same for every API replica. */
function exitFromEvent(event: EngineEvent, workload: Workload): WorkerExit | undefined {
  const id = event.Actor?.ID;
  const nanos = eventNanos(event);
  if (!id || nanos === undefined) return undefined;
  const code = Number(event.Actor?.Attributes?.exitCode);
  return {
    workload,
    workerId: id,
    key: `${id}@${nanos}`,
    exitCode: Number.isInteger(code) ? code : null,
    exitedAt: new Date(Math.floor(nanos / 1e6)),
    logTail: '',
  };
}

/** A workload as the list shows it, before anything could happen to it: never restarted, no exit yet. */
function fromListing(c: Docker.ContainerInfo): WorkerInfo {
  return {
    ...fromLabels(c.Labels),
    workerId: c.Id,
    name: (c.Names[0] ?? '').replace(/^\//, ''),
    state: toState(c.State),
    exitCode: null,
    restarts: 0,
    image: c.Image,
    startedAt: null,
  };
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
