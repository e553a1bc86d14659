import type Docker from 'dockerode';
import {
  EngineRuntime,
  type EngineRuntimeConfig,
  eventNanos,
  exitOfEvent,
  readLogTail,
  statusOf,
  SWARM_SERVICE_LABEL,
} from './docker-engine';
import { mapConcurrently } from '../common/concurrency';
import {
  cpuQuotaUs,
  fromLabels,
  keyValueLines,
  roleOf,
  selector,
  workloadLabels,
  workloadName,
  workloadPolicy,
} from './workload';
import {
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

/** The policy (workload.ts) as a container's create options. */
function containerOptions(
  config: EngineRuntimeConfig,
  spec: WorkloadSpec,
  labels: Record<string, string>,
): Docker.ContainerCreateOptions {
  const policy = workloadPolicy(config, spec.role);
  const { limits, logs } = policy;
  return {
    name: workloadName(spec, config.instance, 'container'),
    Image: config.workerImage,
    ...(policy.command ? { Entrypoint: policy.command, Cmd: [] } : {}),
    Labels: labels,
    User: policy.user,
    Env: keyValueLines(spec.env),
    StopSignal: policy.stopSignal,
    StopTimeout: policy.stopGraceSeconds,
    HostConfig: {
      NetworkMode: policy.network,
      Memory: limits.memoryBytes,
      MemorySwap: limits.memoryBytes,
      // The engine takes either NanoCpus (over the default 100 ms period) or a period and its quota.
      ...(policy.cpuPeriodUs
        ? { CpuPeriod: policy.cpuPeriodUs, CpuQuota: cpuQuotaUs(limits.nanoCpus, policy.cpuPeriodUs) }
        : { NanoCpus: limits.nanoCpus }),
      ...(policy.cpuShares ? { CpuShares: policy.cpuShares } : {}),
      PidsLimit: limits.pids,
      ReadonlyRootfs: policy.readOnlyRoot,
      SecurityOpt: policy.noNewPrivileges ? ['no-new-privileges'] : [],
      CapDrop: policy.dropCapabilities,
      RestartPolicy: { Name: 'on-failure', MaximumRetryCount: limits.maxRestarts },
      LogConfig: { Type: 'json-file', Config: { 'max-size': logs.maxSize, 'max-file': logs.maxFile } },
    },
  };
}

/**
 * One container per workload on a Docker engine, found again by its labels; every read asks the engine.
 * CachingDockerRuntime (caching-docker.runtime.ts) is the same with its listings and inspections kept.
 */
export class DockerRuntime extends EngineRuntime {
  readonly kind = 'docker' as const;

  /** Made, started and inspected; when one of its name exists (another API replica made it), that one. */
  async start(spec: WorkloadSpec): Promise<WorkerInfo> {
    const labels = workloadLabels(this.config.instance, spec, await this.specHash(spec));
    let container: Docker.Container;
    try {
      container = await this.docker.createContainer(containerOptions(this.config, spec, labels));
    } catch (error) {
      const existing = statusOf(error) === 409 ? await this.find(workloadOf(spec)) : null;
      if (existing) return existing;
      throw this.translate(`create the ${spec.role} container`, error);
    }
    try {
      await container.start();
      return describe(await container.inspect());
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

  /** One list call, then each container inspected (at most 8 at once: the engine is shared). */
  async list(role: WorkloadRole, options: ListOptions = {}): Promise<WorkerInfo[]> {
    const containers = (await this.installation(options)).filter((c) => roleOf(c.Labels) === role);
    const found = await mapConcurrently(containers, 8, async (c) => {
      // The engine locks a container being created or started until that ends (seconds, on a busy machine):
      // its inspection would wait. The list says all there is yet (never restarted).
      if (c.State === 'created') return fromListing(c);
      const info = await this.inspect(c);
      return info ? describe(info) : null;
    });
    return found.filter((worker) => worker !== null);
  }

  async find(workload: Workload): Promise<WorkerInfo | null> {
    const inspected = await this.inspectWorkload(workload);
    return inspected ? describe(inspected) : null;
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

  /** A die event names the container, its exit code and the instant: one exit key for every replica. */
  watch(listener: (event: WorkerEvent) => void): () => void {
    return this.followEvents((kind, workload, event) => {
      const id = event.Actor?.ID;
      const nanos = eventNanos(event);
      if (kind !== 'exit' || !id || nanos === undefined) return listener({ kind, workload });
      const exit = exitOfEvent(event, workload, { workerId: id, key: `${id}@${nanos}` });
      listener({ kind, workload, exit });
    });
  }

  /** Every container of this installation, whatever its role (`options` is for CachingDockerRuntime). */
  protected installation(_options: ListOptions = {}): Promise<Docker.ContainerInfo[]> {
    return this.listContainers({});
  }

  /** The container's inspection; null when it is gone. */
  protected async inspect(container: Docker.ContainerInfo): Promise<Docker.ContainerInspectInfo | null> {
    try {
      return await this.docker.getContainer(container.Id).inspect();
    } catch (error) {
      if (statusOf(error) === 404) return null;
      throw this.translate(`inspect the ${roleOf(container.Labels)} container`, error);
    }
  }

  protected async everyInstallationsLabels(): Promise<Record<string, string>[]> {
    return (await this.listContainers({}, false)).map((c) => c.Labels);
  }

  private async inspectWorkload(workload: Workload): Promise<Docker.ContainerInspectInfo | null> {
    const [first] = await this.listContainers(selector(this.config.instance, workload));
    return first ? this.inspect(first) : null;
  }

  /** Not the task containers of Swarm services, which carry the same labels: they are the swarm runtime's. */
  protected override async listContainers(labels: Record<string, string>, own = true) {
    const containers = await super.listContainers(labels, own);
    return containers.filter((c) => c.Labels?.[SWARM_SERVICE_LABEL] === undefined);
  }

  /** Stops gracefully when asked, then removes; already stopped (304), gone (404) or being removed (409): done. */
  private async removeContainer(id: string, graceful = false): Promise<void> {
    const container = this.docker.getContainer(id);
    if (graceful) await this.tolerating('stop the worker', [304, 404], () => container.stop({ t: 5 }));
    await this.tolerating('remove the worker', [404, 409], () => container.remove({ force: true }));
  }
}

function describe(info: Docker.ContainerInspectInfo): WorkerInfo {
  const { State: state, Config: config } = info;
  return {
    ...fromLabels(config.Labels ?? {}),
    workerId: info.Id,
    name: info.Name.replace(/^\//, ''),
    state: state.Restarting ? 'restarting' : toState(state.Status),
    exitCode: state.Running ? null : state.ExitCode,
    restarts: info.RestartCount,
    image: config.Image,
    startedAt: state.StartedAt && !state.StartedAt.startsWith('0001') ? state.StartedAt : null,
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

function toState(status: string): WorkerState {
  const known = ['created', 'running', 'restarting', 'exited', 'dead'];
  return known.includes(status) ? (status as WorkerState) : 'unknown';
}
