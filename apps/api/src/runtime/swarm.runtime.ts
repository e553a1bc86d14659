import type Docker from 'dockerode';
import type { RelayAddress } from '../config/relay-address';
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
  RELAY,
  RuntimeUnavailableError,
  Workload,
  WorkloadRole,
  WorkloadSpec,
  WorkerEvent,
  WorkerExit,
  WorkerInfo,
  WorkerState,
  workloadOf,
} from './worker-runtime';

/** The oldest Engine API that keeps CapabilityDrop and Resources.Limits.Pids on a service (Docker 20.10). */
export const MIN_SWARM_API_VERSION = '1.41';

export interface SwarmRuntimeOptions {
  /** How long start() waits for the first task to run before answering with what it has. */
  startTimeoutMs?: number;
  /** How long stop() waits for the service's tasks and containers to be gone. */
  stopTimeoutMs?: number;
  pollMs?: number;
  /** The client that follows the event stream, which must not time out (default: the same client). */
  events?: Docker;
}

/** A swarm task as GET /tasks answers it (the fields used here). */
export interface SwarmTask {
  ID: string;
  ServiceID?: string;
  Slot?: number;
  NodeID?: string;
  CreatedAt?: string;
  DesiredState?: string;
  Status?: {
    Timestamp?: string;
    State?: string;
    Message?: string;
    Err?: string;
    ContainerStatus?: { ContainerID?: string; PID?: number; ExitCode?: number };
  };
}

/** dockerode has GET /tasks/{id}/logs (Engine API 1.29+), its type definitions do not. */
type TaskHandle = Docker.Task & { logs(options: object): Promise<unknown> };

/** Swarm's label on a task's container naming the task (SWARM_SERVICE_LABEL names its service). */
const SWARM_TASK_LABEL = 'com.docker.swarm.task.id';

/** Task states after which the task's container no longer runs. */
const TERMINAL = new Set(['complete', 'shutdown', 'failed', 'rejected', 'orphaned', 'remove']);
/** Ended by a failure: each one makes Swarm's restart policy start a new task (until MaxAttempts). */
const FAILED = new Set(['failed', 'rejected', 'orphaned']);
/** Ended by the worker itself (not by the orchestrator shutting it down): a death of the worker. */
const DIED = new Set(['failed', 'rejected', 'complete']);
/** A task in one of these states got as far as running the worker. */
const RAN = new Set(['running', 'complete', 'failed']);
/** Desired states of the task that fills the slot now (`ready`: waiting out the restart delay). */
const LIVE_DESIRED = new Set([
  'new',
  'pending',
  'assigned',
  'accepted',
  'preparing',
  'ready',
  'starting',
  'running',
]);

/** The policy (workload.ts) as a single-replica service spec of the worker image. */
export function serviceSpec(
  config: EngineRuntimeConfig,
  spec: WorkloadSpec,
  image: string,
  labels: Record<string, string>,
): Docker.ServiceSpec {
  const policy = workloadPolicy(config, spec.role);
  const { limits } = policy;
  return {
    Name: workloadName(spec, config.instance, 'service'),
    Labels: labels,
    TaskTemplate: {
      ContainerSpec: {
        Image: image,
        ...(policy.command ? { Command: policy.command } : {}),
        // On the task containers too, so that container events and `docker ps` carry them.
        Labels: labels,
        Env: envLines(spec.env),
        User: policy.user,
        ReadOnly: policy.readOnlyRoot,
        CapabilityDrop: policy.dropCapabilities,
        // Kept by engines whose API has it (newer than 20.10); Engine API 1.41 drops it without a word, so
        // there only dockerd's own --no-new-privileges gives it (docs/SWARM.md).
        Privileges: { NoNewPrivileges: policy.noNewPrivileges } as Docker.Privileges,
        StopSignal: policy.stopSignal,
        StopGracePeriod: policy.stopGraceSeconds * 1e9,
      },
      // No CPU weight on a service (policy.cpuShares): Swarm has reservations and limits only.
      Resources: {
        Limits: { NanoCPUs: limits.nanoCpus, MemoryBytes: limits.memoryBytes, Pids: limits.pids },
      },
      RestartPolicy: { Condition: 'on-failure', MaxAttempts: limits.maxRestarts, Delay: 1_000_000_000 },
      LogDriver: {
        Name: 'json-file',
        Options: { 'max-size': policy.logs.maxSize, 'max-file': policy.logs.maxFile },
      },
      ...(policy.network ? { Networks: [{ Target: policy.network }] } : {}),
    },
    Mode: { Replicated: { Replicas: 1 } },
    // A pair never has two workers: an update (or rollback) stops the old task before starting the new.
    UpdateConfig: { Parallelism: 1, Order: 'stop-first', FailureAction: 'pause' },
    RollbackConfig: { Parallelism: 1, Order: 'stop-first', FailureAction: 'pause' },
  };
}

/**
 * One single-replica service per workload on a Docker Swarm: the multi-machine path. The service and its
 * task containers carry the same labels as the Docker runtime's containers; Swarm's restart policy
 * (on-failure, bounded) brings a dying workload back, and its task history feeds the state, restart count
 * and last exit the supervisor reads.
 */
export class SwarmRuntime extends EngineRuntime {
  readonly kind = 'swarm' as const;
  private readonly startTimeoutMs: number;
  private readonly stopTimeoutMs: number;
  private readonly pollMs: number;
  private apiVersionChecked = false;
  /** The manager this API talks to (from GET /info): where a host-network relay is pinned, and its address. */
  private manager: { id: string; addr: string } | undefined;

  constructor(
    config: EngineRuntimeConfig,
    docker: Docker,
    options: SwarmRuntimeOptions = {},
    /** Told the manager's address, where a host-network relay is pinned. */
    private readonly relayAddress?: RelayAddress,
  ) {
    super(config, docker, options.events);
    this.startTimeoutMs = options.startTimeoutMs ?? 15_000;
    this.stopTimeoutMs = options.stopTimeoutMs ?? 12_000;
    this.pollMs = options.pollMs ?? 250;
  }

  /** The engine answers, and it is a manager of an active swarm (services can only be managed there). */
  async ping(): Promise<void> {
    await this.call('reach the Docker engine', () => this.docker.ping());
    const info = (await this.call('ask the Docker engine about its swarm', () => this.docker.info())) as {
      Swarm?: {
        LocalNodeState?: string;
        ControlAvailable?: boolean;
        Error?: string;
        NodeID?: string;
        NodeAddr?: string;
      };
    };
    const swarm = info.Swarm ?? {};
    if (swarm.LocalNodeState === 'active' && swarm.ControlAvailable === true) {
      if (swarm.NodeID && swarm.NodeAddr) {
        this.manager = { id: swarm.NodeID, addr: swarm.NodeAddr };
        this.relayAddress?.pin(swarm.NodeAddr);
      }
      return;
    }
    if (swarm.LocalNodeState === 'locked') {
      throw new RuntimeUnavailableError('the swarm is locked: unlock it with "docker swarm unlock"');
    }
    if (swarm.LocalNodeState === 'active') {
      throw new RuntimeUnavailableError(
        'this engine is a Swarm worker node, not a manager: point DOCKER_HOST at a manager',
      );
    }
    const state = swarm.LocalNodeState ?? 'unknown';
    throw new RuntimeUnavailableError(
      `this engine is not a Swarm manager (swarm state ${state}${swarm.Error ? `: ${swarm.Error}` : ''}): ` +
        'run "docker swarm init" or point DOCKER_HOST at a manager',
    );
  }

  async ensureReady(): Promise<void> {
    await this.ping();
    await this.checkApiVersion();
    await this.image();
  }

  /**
   * A worker: its service, then (bounded) its first task running. The relay: its port is published on the
   * ingress routing mesh, so that every node answers on it; on an overlay WORKER_NETWORK it also answers to
   * its service name. On the host network it is pinned to the manager this API talks to: workers on every
   * node reach it at that manager's swarm address (RelayAddress), with no routing mesh in between.
   */
  async start(spec: WorkloadSpec): Promise<WorkerInfo> {
    const image = await this.image();
    const onHost = this.config.workerNetwork === 'host';
    if (spec.role === 'relay' && onHost) await this.knowManager();
    const labels = workloadLabels(this.config.instance, spec, computeSpecHash(image.id, spec));
    const service = serviceSpec(this.config, spec, image.reference, labels);
    if (spec.role === 'relay' && onHost) {
      service.TaskTemplate!.Placement = { Constraints: [`node.id==${this.manager!.id}`] };
    } else if (spec.role === 'relay') {
      const port = { Protocol: 'tcp' as const, TargetPort: spec.port, PublishedPort: spec.port };
      service.EndpointSpec = { Ports: [{ ...port, PublishMode: 'ingress' }] };
    }
    const workload = workloadOf(spec);
    let serviceId: string;
    try {
      // No registry credentials: dockerode's one-argument form would send the whole spec (environment
      // included) as the X-Registry-Auth header, and the engine would keep it with the service.
      serviceId = (await this.docker.createService(undefined as unknown as Docker.AuthConfig, service)).id;
    } catch (error) {
      // 409: a service of this name exists (another API replica made it): that one is answered.
      if (statusOf(error) === 409) {
        const found = await this.find(workload);
        if (found) return found;
      }
      // 400/403/404: the engine refuses the spec as configured, e.g. WORKER_NETWORK is a local network
      // (services take only swarm-scoped ones): nothing can run until the configuration changes.
      const status = statusOf(error);
      if (status !== undefined && status >= 400 && status < 500 && status !== 409) {
        throw new RuntimeUnavailableError(
          `Swarm refused the ${spec.role} service: ${(error as Error).message}`,
        );
      }
      throw this.translate(`create the ${spec.role} service`, error);
    }
    if (spec.role === 'relay') return describeService({ ID: serviceId, Spec: service } as Docker.Service, []);
    return this.awaitFirstTask(serviceId, workload);
  }

  /** Reads which manager this is (once), so that the relay's address is known before any spec is made. */
  private async knowManager(): Promise<void> {
    if (!this.manager) await this.ping();
    if (!this.manager)
      throw new RuntimeUnavailableError('the Swarm manager did not say its node id and address');
  }

  /** Removes the workload's services, then waits (bounded) until their tasks have stopped and containers are gone. */
  async stop(workload: Workload, workerId?: string): Promise<void> {
    const labels = selector(this.config.instance, workload);
    const services = (await this.listServices(labels)).filter(
      (s) => workerId === undefined || s.ID === workerId,
    );
    await Promise.all(services.map((service) => this.removeService(service.ID)));
    const deadline = Date.now() + this.stopTimeoutMs;
    for (;;) {
      const [tasks, containers] = await Promise.all([
        this.listTasks(labels),
        this.call('list worker containers', () =>
          this.docker.listContainers({ all: true, filters: { label: labelFilter(labels) } }),
        ),
      ]);
      const running = tasks.filter((task) => !TERMINAL.has(task.Status?.State ?? ''));
      // Tasks of a service made again after the removal (a restart racing this stop) are not ours to wait for.
      const ours = (serviceId: string | undefined) =>
        serviceId !== undefined && (services.length === 0 || services.some((s) => s.ID === serviceId));
      const left = services.length > 0 ? running.filter((t) => ours(t.ServiceID)) : running;
      const ownContainers = containers.filter((c) => ours(c.Labels[SWARM_SERVICE_LABEL]));
      if (left.length === 0 && ownContainers.length === 0) return;
      if (Date.now() >= deadline) {
        this.logger.warn(
          `service of ${describeWorkload(workload)} removed, but ${left.length} task(s) and ${ownContainers.length} ` +
            `container(s) were still there after ${this.stopTimeoutMs} ms; Swarm will finish removing them`,
        );
        return;
      }
      await sleep(this.pollMs);
    }
  }

  async list(role: WorkloadRole): Promise<WorkerInfo[]> {
    if (role === 'relay' && this.config.workerNetwork === 'host') await this.knowManager();
    const labels = role === 'relay' ? selector(this.config.instance, RELAY) : {};
    const [all, tasks] = await Promise.all([this.listServices(labels), this.listTasks(labels)]);
    const services = all.filter((service) => roleOf(service.Spec?.Labels) === role);
    return services.map((service) =>
      describeService(
        service,
        tasks.filter((t) => t.ServiceID === service.ID),
      ),
    );
  }

  /**
   * Every installation (label pairwatch.instance) with services on this swarm, this one's or not: what
   * `npm run down -- --all` removes.
   */
  async instances(): Promise<string[]> {
    const label = labelFilter({ [LABELS.managed]: 'true' });
    const services = await this.call('list worker services', () =>
      this.docker.listServices({ filters: { label } }),
    );
    return [
      ...new Set(services.map((s) => s.Spec?.Labels?.[LABELS.instance]).filter((i): i is string => !!i)),
    ];
  }

  async find(workload: Workload): Promise<WorkerInfo | null> {
    const found = await this.serviceWithTasks(workload);
    return found ? describeService(found.service, found.tasks) : null;
  }

  async specHash(spec: WorkloadSpec): Promise<string> {
    return computeSpecHash((await this.image()).id, spec);
  }

  /** The most recent task of the workload's service that it ended itself (failed, rejected or exited 0). */
  async lastExit(workload: Workload): Promise<WorkerExit | null> {
    const found = await this.serviceWithTasks(workload);
    if (!found) return null;
    const [last] = newestFirst(found.tasks.filter((t) => DIED.has(t.Status?.State ?? '')));
    if (!last) return null;
    const exitedAt = last.Status?.Timestamp ?? last.CreatedAt;
    const said = `swarm said: ${taskError(last)}`;
    const logTail = await readLogTail(this.docker.getTask(last.ID) as TaskHandle, undefined, `; ${said}`);
    return {
      workload,
      workerId: found.service.ID,
      key: last.ID,
      exitCode: last.Status?.ContainerStatus?.ExitCode ?? null,
      exitedAt: exitedAt ? new Date(exitedAt) : new Date(),
      logTail: logTail || `(no logs: the task's container is gone; ${said})`,
    };
  }

  /**
   * Follows the engine's container events for the task containers (they carry the ContainerSpec labels).
   * A task container's death is reported with the exit it was, keyed by the task id as lastExit() keys it,
   * and with the container's last log lines (read before the event is passed on, as Swarm may remove the
   * container soon after). Only the engine the API talks to reports events: deaths on other nodes show at
   * the next reconcile.
   */
  watch(listener: (event: WorkerEvent) => void): () => void {
    return followWorkloadEvents(
      this.events,
      this.config.instance,
      (kind, workload, event) => {
        // Only Swarm's task containers: not the containers of a Docker runtime sharing the label values.
        if (!event.Actor?.Attributes?.[SWARM_TASK_LABEL]) return;
        if (kind !== 'exit') return listener({ kind, workload });
        void this.exitFromEvent(event, workload).then((exit) => listener({ kind, workload, exit }));
      },
      this.logger,
    );
  }

  private async exitFromEvent(event: EngineEvent, workload: Workload): Promise<WorkerExit> {
    const attributes = event.Actor?.Attributes ?? {};
    const containerId = event.Actor?.ID ?? '';
    const nanos = eventNanos(event);
    const code = Number(attributes.exitCode);
    const logTail = await readLogTail(
      this.docker.getContainer(containerId),
      '(no logs: the container was removed)',
    );
    return {
      workload,
      workerId: attributes[SWARM_SERVICE_LABEL] ?? containerId,
      key: attributes[SWARM_TASK_LABEL],
      exitCode: Number.isInteger(code) && attributes.exitCode !== undefined ? code : null,
      exitedAt: nanos !== undefined ? new Date(Math.floor(nanos / 1e6)) : new Date(),
      // Never empty: the supervisor would fill an empty tail from lastExit(), which may be an older task.
      logTail: logTail || '(the worker wrote no log lines)',
    };
  }

  /**
   * Waits (bounded) until the service's first task runs. A task the swarm rejected before it ever ran
   * (no such image on the node, a network that does not exist) means workers cannot run here: the service is
   * removed and the reason thrown. A task still pending at the deadline (no node with room) is left to Swarm.
   */
  private async awaitFirstTask(serviceId: string, workload: Workload): Promise<WorkerInfo> {
    const deadline = Date.now() + this.startTimeoutMs;
    for (;;) {
      const found = await this.serviceWithTasks(workload);
      if (!found || found.service.ID !== serviceId) {
        throw new Error(
          `the worker service ${serviceId} of ${describeWorkload(workload)} disappeared as it started`,
        );
      }
      const info = describeService(found.service, found.tasks);
      if (info.state === 'running') return info;
      const rejected = found.tasks.find((t) => t.Status?.State === 'rejected');
      const ran = found.tasks.some((t) => RAN.has(t.Status?.State ?? ''));
      if (rejected && !ran) {
        const reason = taskError(rejected);
        await this.removeService(serviceId).catch(() => undefined);
        throw new RuntimeUnavailableError(`Swarm could not start the worker: ${reason}`);
      }
      if (Date.now() >= deadline) {
        this.logger.warn(
          `the worker service of ${describeWorkload(workload)} has no running task after ${this.startTimeoutMs} ms ` +
            `(${info.state}); Swarm keeps trying`,
        );
        return info;
      }
      await sleep(this.pollMs);
    }
  }

  private async serviceWithTasks(
    workload: Workload,
  ): Promise<{ service: Docker.Service; tasks: SwarmTask[] } | null> {
    const labels = selector(this.config.instance, workload);
    const [service] = await this.listServices(labels);
    if (!service) return null;
    const tasks = await this.listTasks(labels);
    return { service, tasks: tasks.filter((t) => t.ServiceID === service.ID) };
  }

  /**
   * What the services run: the image pinned so that the engine never asks a registry for a tag. An image
   * that came from a registry is pinned by its repository digest (every node pulls the same bytes); a local
   * build, which no registry knows, by its image id (each node must have that image).
   */
  private async image(): Promise<{ id: string; reference: string }> {
    const inspected = await inspectWorkerImage(this.docker, this.config.workerImage, this.logger);
    return { id: inspected.Id, reference: pinnedImage(this.config.workerImage, inspected) };
  }

  private async checkApiVersion(): Promise<void> {
    if (this.apiVersionChecked) return;
    const version = await this.call('ask the Docker engine its version', () => this.docker.version());
    if (compareVersions(version.ApiVersion, MIN_SWARM_API_VERSION) < 0) {
      throw new RuntimeUnavailableError(
        `the Docker engine speaks API ${version.ApiVersion}; WORKER_RUNTIME=swarm needs ${MIN_SWARM_API_VERSION} ` +
          `(Docker 20.10) or later, which keeps the services' dropped capabilities and pids limit`,
      );
    }
    this.apiVersionChecked = true;
  }

  private async listServices(labels: Record<string, string>): Promise<Docker.Service[]> {
    const label = labelFilter({ ...selector(this.config.instance), ...labels });
    return this.call('list worker services', () => this.docker.listServices({ filters: { label } }));
  }

  /** Tasks by their service's labels: unlike the `service` filter, this also finds tasks of a removed service. */
  private async listTasks(labels: Record<string, string>): Promise<SwarmTask[]> {
    const label = labelFilter({ ...selector(this.config.instance), ...labels });
    return (await this.call('list worker tasks', () =>
      this.docker.listTasks({ filters: { label } }),
    )) as SwarmTask[];
  }

  /** "Already gone" (404) is success. */
  private async removeService(id: string): Promise<void> {
    try {
      await this.docker.getService(id).remove();
    } catch (error) {
      if (statusOf(error) !== 404) throw this.translate('remove the worker service', error);
    }
  }
}

function describeWorkload(workload: Workload): string {
  return workload.role === 'relay' ? 'the relay' : `monitor ${workload.key}`;
}

/** What describeService reads of a service's task template (dockerode types it as a union). */
interface ServiceTemplate {
  ContainerSpec?: { Image?: string };
  RestartPolicy?: { MaxAttempts?: number };
}

function templateOf(spec: { TaskTemplate?: unknown } | undefined): ServiceTemplate | undefined {
  return spec?.TaskTemplate as ServiceTemplate | undefined;
}

/** One service and its tasks as a WorkerInfo: the state is that of the task filling the slot now. */
export function describeService(service: Docker.Service, tasks: SwarmTask[]): WorkerInfo {
  const template = templateOf(service.Spec);
  const ordered = newestFirst(tasks);
  const current = ordered.find((t) => LIVE_DESIRED.has(t.DesiredState ?? ''));
  const ended = ordered.filter((t) => TERMINAL.has(t.Status?.State ?? ''));
  const failures = ended.filter((t) => FAILED.has(t.Status?.State ?? '')).length;
  let state: WorkerState;
  if (current) {
    const actual = current.Status?.State ?? '';
    if (actual === 'running') state = 'running';
    else if (TERMINAL.has(actual) || failures > 0) state = 'restarting';
    else state = 'created';
  } else {
    state = ordered.length === 0 ? 'created' : 'exited';
  }
  const running = state === 'running' ? current : undefined;
  return {
    ...fromLabels(service.Spec?.Labels ?? {}),
    workerId: service.ID,
    name: service.Spec?.Name ?? '',
    state,
    exitCode: running ? null : (ended[0]?.Status?.ContainerStatus?.ExitCode ?? null),
    restarts: restartsOf(current, ended, failures, template?.RestartPolicy?.MaxAttempts),
    image: template?.ContainerSpec?.Image ?? '',
    startedAt: running?.Status?.Timestamp ?? null,
  };
}

/**
 * Each failure made Swarm start a new task, except the last one when it gave up. Swarm keeps only a few
 * old tasks (TaskHistoryRetentionLimit, 5 by default), so the count is completed from the restart policy
 * once Swarm has given up: it gives up after exactly MaxAttempts restarts.
 */
function restartsOf(
  current: SwarmTask | undefined,
  ended: SwarmTask[],
  failures: number,
  maxAttempts: number | undefined,
): number {
  if (current) return failures;
  const gaveUp = FAILED.has(ended[0]?.Status?.State ?? '');
  const counted = Math.max(0, failures - 1);
  return gaveUp && maxAttempts ? Math.max(counted, maxAttempts) : counted;
}

/** The image reference a service should run; see SwarmRuntime.image(). */
export function pinnedImage(
  configured: string,
  inspected: Pick<Docker.ImageInspectInfo, 'Id' | 'RepoDigests'>,
): string {
  if (configured.includes('@sha256:')) return configured;
  const repository = configured.replace(/:[^/:]+$/, '');
  const digest = (inspected.RepoDigests ?? []).find((d) => d.split('@')[0] === repository);
  return digest ?? inspected.Id;
}

/** Newest first by creation time; Swarm's timestamps have up to 9 fractional digits, trailing zeros cut. */
function newestFirst(tasks: SwarmTask[]): SwarmTask[] {
  return [...tasks].sort((a, b) => timeKey(b.CreatedAt).localeCompare(timeKey(a.CreatedAt)));
}

function timeKey(timestamp: string | undefined): string {
  const match = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z$/.exec(timestamp ?? '');
  return match ? `${match[1]}.${(match[2] ?? '').padEnd(9, '0')}` : '';
}

function taskError(task: SwarmTask): string {
  return task.Status?.Err ?? task.Status?.Message ?? task.Status?.State ?? 'nothing';
}

function compareVersions(a: string, b: string): number {
  const [a1, a2] = a.split('.').map(Number);
  const [b1, b2] = b.split('.').map(Number);
  return a1 !== b1 ? a1 - b1 : a2 - b2;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
