import type Docker from 'dockerode';
import { waitFor } from '../common/concurrency';
import type { RelayAddress } from '../config/relay-address';
import {
  EngineEvent,
  EngineRuntime,
  EngineRuntimeConfig,
  exitOfEvent,
  readLogTail,
  statusOf,
  SWARM_SERVICE_LABEL,
  SWARM_TASK_LABEL,
} from './docker-engine';
import {
  fromLabels,
  keyValueLines,
  roleOf,
  selector,
  workloadLabels,
  workloadName,
  workloadPolicy,
} from './workload';
import {
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
const MIN_API = [1, 41];

/** How long start() waits for a first task running, stop() for the tasks gone, and how often they look. */
const TIMING = { startTimeoutMs: 15_000, stopTimeoutMs: 12_000, pollMs: 250 };

/** A swarm task as GET /tasks answers it (the fields used here). */
export interface SwarmTask {
  ID: string;
  ServiceID?: string;
  CreatedAt?: string;
  DesiredState?: string;
  Status?: {
    Timestamp?: string;
    State?: string;
    Message?: string;
    Err?: string;
    ContainerStatus?: { ContainerID?: string; ExitCode?: number };
  };
}

/** Task states after which the task's container no longer runs. */
const TERMINAL = new Set(['complete', 'shutdown', 'failed', 'rejected', 'orphaned', 'remove']);
/** Ended by a failure: each one makes Swarm's restart policy start a new task (until MaxAttempts). */
const FAILED = new Set(['failed', 'rejected', 'orphaned']);
/** Ended by the worker itself (not by the orchestrator shutting it down): a death of the worker. */
const DIED = new Set(['failed', 'rejected', 'complete']);
/** A task in one of these states got as far as running the worker. */
const RAN = new Set(['running', 'complete', 'failed']);
/** Desired states of the task that fills the slot now (`ready`: waiting out the restart delay). */
const LIVE_DESIRED = new Set('new pending assigned accepted preparing ready starting running'.split(' '));

/** The policy (workload.ts) as a single-replica service spec of the worker image. */
function serviceSpec(
  config: EngineRuntimeConfig,
  spec: WorkloadSpec,
  image: string,
  labels: Record<string, string>,
): Docker.ServiceSpec {
  const policy = workloadPolicy(config, spec.role);
  const { limits, logs } = policy;
  // A pair never has two workers: an update (or rollback) stops the old task before starting the new.
  const update = { Parallelism: 1, Order: 'stop-first', FailureAction: 'pause' };
  return {
    Name: workloadName(spec, config.instance, 'service'),
    Labels: labels,
    TaskTemplate: {
      ContainerSpec: {
        Image: image,
        ...(policy.command ? { Command: policy.command } : {}),
        // On the task containers too, so that container events and `docker ps` carry them.
        Labels: labels,
        Env: keyValueLines(spec.env),
        User: policy.user,
        ReadOnly: policy.readOnlyRoot,
        CapabilityDrop: policy.dropCapabilities,
        // Dropped without a word by Engine API 1.41 (docs/SWARM.md#hardening-what-swarm-can-and-cannot-set).
        Privileges: { NoNewPrivileges: policy.noNewPrivileges } as Docker.Privileges,
        StopSignal: policy.stopSignal,
        StopGracePeriod: policy.stopGraceSeconds * 1e9,
      },
      // No CPU weight on a service (policy.cpuShares): Swarm has reservations and limits only; nor a CFS period
      // (policy.cpuPeriodUs): NanoCPUs over the default 100 ms (docs/RUNTIMES.md "CPU limit").
      Resources: {
        Limits: { NanoCPUs: limits.nanoCpus, MemoryBytes: limits.memoryBytes, Pids: limits.pids },
      },
      RestartPolicy: { Condition: 'on-failure', MaxAttempts: limits.maxRestarts, Delay: 1_000_000_000 },
      LogDriver: { Name: 'json-file', Options: { 'max-size': logs.maxSize, 'max-file': logs.maxFile } },
      ...(policy.network ? { Networks: [{ Target: policy.network }] } : {}),
    },
    Mode: { Replicated: { Replicas: 1 } },
    UpdateConfig: update,
    RollbackConfig: update,
  };
}

/** One single-replica service per workload on a Docker Swarm (docs/SWARM.md); its tasks tell state and exits. */
export class SwarmRuntime extends EngineRuntime {
  readonly kind = 'swarm' as const;
  private readonly timing: typeof TIMING;
  private apiVersionChecked = false;
  /** The manager this API talks to (from GET /info): where a host-network relay is pinned, and its address. */
  private manager: { id: string; addr: string } | undefined;

  constructor(
    config: EngineRuntimeConfig,
    docker: Docker,
    options: Partial<typeof TIMING> & { events?: Docker } = {},
    private readonly relayAddress?: RelayAddress,
  ) {
    super(config, docker, options.events);
    this.timing = { ...TIMING, ...options };
  }

  /** The engine answers, and it is a manager of an active swarm (services can only be managed there). */
  override async ping(): Promise<void> {
    await super.ping();
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
    const state = swarm.LocalNodeState ?? 'unknown';
    if (state === 'active' && swarm.ControlAvailable === true) {
      if (swarm.NodeID && swarm.NodeAddr) {
        this.manager = { id: swarm.NodeID, addr: swarm.NodeAddr };
        this.relayAddress?.pin(swarm.NodeAddr);
      }
      return;
    }
    throw new RuntimeUnavailableError(
      state === 'locked'
        ? 'the swarm is locked: unlock it with "docker swarm unlock"'
        : state === 'active'
          ? 'this engine is a Swarm worker node, not a manager: point DOCKER_HOST at a manager'
          : `this engine is not a Swarm manager (swarm state ${state}${swarm.Error ? `: ${swarm.Error}` : ''}): ` +
            'run "docker swarm init" or point DOCKER_HOST at a manager',
    );
  }

  override async ensureReady(): Promise<void> {
    await this.ping();
    if (!this.apiVersionChecked) {
      const { ApiVersion } = await this.call('ask the Docker engine its version', () =>
        this.docker.version(),
      );
      const [major, minor] = ApiVersion.split('.').map(Number);
      if (major !== MIN_API[0] ? major < MIN_API[0] : minor < MIN_API[1]) {
        throw new RuntimeUnavailableError(
          `the Docker engine speaks API ${ApiVersion}; WORKER_RUNTIME=swarm needs ${MIN_API.join('.')} ` +
            `(Docker 20.10) or later, which keeps the services' dropped capabilities and pids limit`,
        );
      }
      this.apiVersionChecked = true;
    }
    await this.image();
  }

  /** A worker's service, then its first task running; the relay on ingress, or on the host network at the manager. */
  async start(spec: WorkloadSpec): Promise<WorkerInfo> {
    const image = await this.image();
    const onHost = this.config.workerNetwork === 'host';
    if (spec.role === 'relay' && onHost) await this.knowManager();
    const labels = workloadLabels(this.config.instance, spec, await this.specHash(spec));
    const service = serviceSpec(this.config, spec, pinnedImage(this.config.workerImage, image), labels);
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
      const status = statusOf(error);
      // 409: a service of this name exists (another API replica made it): that one is answered.
      const found = status === 409 ? await this.find(workload) : null;
      if (found) return found;
      // Any other 4xx: the engine refuses the spec as configured (e.g. WORKER_NETWORK is a local network).
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

  /** Removes the workload's services, then waits (bounded) until their tasks and containers are gone. */
  async stop(workload: Workload, workerId?: string): Promise<void> {
    const labels = selector(this.config.instance, workload);
    const services = (await this.listServices(labels)).filter(
      (s) => workerId === undefined || s.ID === workerId,
    );
    await Promise.all(services.map((service) => this.removeService(service.ID)));
    // Tasks of a service made again after the removal (a restart racing this stop) are not ours to wait for.
    const ours = (id: string | undefined) =>
      id !== undefined && (!services.length || services.some((s) => s.ID === id));
    let left = { tasks: 0, containers: 0 };
    const { stopTimeoutMs, pollMs } = this.timing;
    const gone = await waitFor(stopTimeoutMs, pollMs, async () => {
      const [tasks, containers] = await Promise.all([this.listTasks(labels), this.listContainers(labels)]);
      left = {
        tasks: tasks.filter((t) => !TERMINAL.has(t.Status?.State ?? '') && ours(t.ServiceID)).length,
        containers: containers.filter((c) => ours(c.Labels[SWARM_SERVICE_LABEL])).length,
      };
      return left.tasks + left.containers === 0 || undefined;
    });
    if (gone) return;
    this.logger.warn(
      `service of ${describeWorkload(workload)} removed, but ${left.tasks} task(s) and ${left.containers} ` +
        `container(s) were still there after ${stopTimeoutMs} ms; Swarm will finish removing them`,
    );
  }

  async list(role: WorkloadRole): Promise<WorkerInfo[]> {
    if (role === 'relay' && this.config.workerNetwork === 'host') await this.knowManager();
    const labels = role === 'relay' ? selector(this.config.instance, RELAY) : {};
    const [all, tasks] = await Promise.all([this.listServices(labels), this.listTasks(labels)]);
    const services = all.filter((service) => roleOf(service.Spec?.Labels) === role);
    return services.map((service) => describeService(service, tasks));
  }

  async find(workload: Workload): Promise<WorkerInfo | null> {
    const found = await this.serviceWithTasks(workload);
    return found ? describeService(found.service, found.tasks) : null;
  }

  /** The most recent task of the workload's service that it ended itself (failed, rejected or exited 0). */
  async lastExit(workload: Workload): Promise<WorkerExit | null> {
    const found = await this.serviceWithTasks(workload);
    const [last] = newestFirst(found?.tasks.filter((t) => DIED.has(t.Status?.State ?? '')) ?? []);
    if (!found || !last) return null;
    const exitedAt = last.Status?.Timestamp ?? last.CreatedAt;
    const said = `swarm said: ${taskError(last)}`;
    // dockerode has GET /tasks/{id}/logs (Engine API 1.29+); its type definitions do not.
    const task = this.docker.getTask(last.ID) as Docker.Task & { logs(options: object): Promise<unknown> };
    const logTail = await readLogTail(task, undefined, `; ${said}`);
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
   * The task containers' events on this engine (other nodes' deaths show at the next reconcile); a death keyed by
   * its task id, as lastExit() keys it, with its log lines read first (Swarm may remove the container soon).
   */
  watch(listener: (event: WorkerEvent) => void): () => void {
    return this.followEvents((kind, workload, event) => {
      // Only Swarm's task containers: not the containers of a Docker runtime sharing the label values.
      if (!event.Actor?.Attributes?.[SWARM_TASK_LABEL]) return;
      if (kind !== 'exit') return listener({ kind, workload });
      void this.exitFromEvent(event, workload).then((exit) => listener({ kind, workload, exit }));
    });
  }

  protected async everyInstallationsLabels(): Promise<(Record<string, string> | undefined)[]> {
    return (await this.listServices({}, false)).map((s) => s.Spec?.Labels);
  }

  private async exitFromEvent(event: EngineEvent, workload: Workload): Promise<WorkerExit> {
    const { ID: containerId = '', Attributes: attributes = {} } = event.Actor ?? {};
    const logTail = await readLogTail(
      this.docker.getContainer(containerId),
      '(no logs: the container was removed)',
    );
    const identity = {
      workerId: attributes[SWARM_SERVICE_LABEL] ?? containerId,
      key: attributes[SWARM_TASK_LABEL],
    };
    // Never an empty tail: the supervisor would fill it from lastExit(), which may be an older task.
    return {
      ...exitOfEvent(event, workload, identity),
      logTail: logTail || '(the worker wrote no log lines)',
    };
  }

  /** Reads which manager this is (once), so that the relay's address is known before any spec is made. */
  private async knowManager(): Promise<void> {
    if (!this.manager) await this.ping();
    if (!this.manager)
      throw new RuntimeUnavailableError('the Swarm manager did not say its node id and address');
  }

  /**
   * Until the first task runs. A task rejected before any ran (no such image or network on the node): the
   * service is removed and the reason thrown. One still pending at the deadline (no node with room) is Swarm's.
   */
  private async awaitFirstTask(serviceId: string, workload: Workload): Promise<WorkerInfo> {
    let info: WorkerInfo | undefined;
    const { startTimeoutMs, pollMs } = this.timing;
    const running = await waitFor(startTimeoutMs, pollMs, async () => {
      const found = await this.serviceWithTasks(workload);
      if (!found || found.service.ID !== serviceId) {
        throw new Error(
          `the worker service ${serviceId} of ${describeWorkload(workload)} disappeared as it started`,
        );
      }
      info = describeService(found.service, found.tasks);
      if (info.state === 'running') return info;
      const rejected = found.tasks.find((t) => t.Status?.State === 'rejected');
      if (rejected && !found.tasks.some((t) => RAN.has(t.Status?.State ?? ''))) {
        await this.removeService(serviceId).catch(() => undefined);
        throw new RuntimeUnavailableError(`Swarm could not start the worker: ${taskError(rejected)}`);
      }
      return undefined;
    });
    if (running) return running;
    this.logger.warn(
      `the worker service of ${describeWorkload(workload)} has no running task after ${startTimeoutMs} ms ` +
        `(${info!.state}); Swarm keeps trying`,
    );
    return info!;
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

  /** pairwatch's services with these labels, of this installation unless `own` is false. */
  private async listServices(labels: Record<string, string>, own = true): Promise<Docker.Service[]> {
    const filters = this.filters(labels, own);
    return this.call('list worker services', () => this.docker.listServices({ filters }));
  }

  /** Tasks by their service's labels: unlike the `service` filter, this also finds tasks of a removed service. */
  private listTasks(labels: Record<string, string>): Promise<SwarmTask[]> {
    const filters = this.filters(labels);
    return this.call('list worker tasks', () => this.docker.listTasks({ filters }) as Promise<SwarmTask[]>);
  }

  private removeService(id: string): Promise<void> {
    return this.tolerating('remove the worker service', [404], () => this.docker.getService(id).remove());
  }
}

function describeWorkload(workload: Workload): string {
  return workload.role === 'relay' ? 'the relay' : `monitor ${workload.key}`;
}

/** One service as a WorkerInfo, from its own among `tasks`: the state is that of the task filling the slot now. */
export function describeService(service: Docker.Service, tasks: SwarmTask[]): WorkerInfo {
  const template: Docker.ContainerTaskSpec | undefined = service.Spec?.TaskTemplate;
  const ordered = newestFirst(tasks.filter((t) => t.ServiceID === service.ID));
  const current = ordered.find((t) => LIVE_DESIRED.has(t.DesiredState ?? ''));
  const ended = ordered.filter((t) => TERMINAL.has(t.Status?.State ?? ''));
  const failures = ended.filter((t) => FAILED.has(t.Status?.State ?? '')).length;
  const actual = current?.Status?.State ?? '';
  let state: WorkerState = ordered.length === 0 ? 'created' : 'exited';
  if (actual === 'running') state = 'running';
  else if (current) state = TERMINAL.has(actual) || failures > 0 ? 'restarting' : 'created';
  const running = state === 'running' ? current : undefined;
  // Each failure made Swarm start a new task, except the last one when it gave up. Swarm keeps only a few old
  // tasks (TaskHistoryRetentionLimit, 5), so once it gave up (after exactly MaxAttempts) the count is that.
  const maxAttempts = template?.RestartPolicy?.MaxAttempts;
  const gaveUp = !current && FAILED.has(ended[0]?.Status?.State ?? '');
  const counted = current ? failures : Math.max(0, failures - 1);
  return {
    ...fromLabels(service.Spec?.Labels ?? {}),
    workerId: service.ID,
    name: service.Spec?.Name ?? '',
    state,
    exitCode: running ? null : (ended[0]?.Status?.ContainerStatus?.ExitCode ?? null),
    restarts: gaveUp && maxAttempts ? Math.max(counted, maxAttempts) : counted,
    image: template?.ContainerSpec?.Image ?? '',
    startedAt: running?.Status?.Timestamp ?? null,
  };
}

/** WORKER_IMAGE pinned by its repository digest, or a local build by its id (docs/SWARM.md, "The worker image"). */
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
  const key = (timestamp: string | undefined) => {
    const match = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z$/.exec(timestamp ?? '');
    return match ? `${match[1]}.${(match[2] ?? '').padEnd(9, '0')}` : '';
  };
  return [...tasks].sort((a, b) => key(b.CreatedAt).localeCompare(key(a.CreatedAt)));
}

function taskError(task: SwarmTask): string {
  return task.Status?.Err ?? task.Status?.Message ?? task.Status?.State ?? 'nothing';
}
