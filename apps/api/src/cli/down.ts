import { Logger, LoggerService } from '@nestjs/common';
import { ConfigError, loadDownConfig } from '../config/app.config';
import type Docker from 'dockerode';
import { engineClients } from '../runtime/docker-engine';
import { DockerRuntime } from '../runtime/docker.runtime';
import { ProcessRuntime } from '../runtime/process.runtime';
import { SwarmRuntime } from '../runtime/swarm.runtime';
import {
  RuntimeUnavailableError,
  WorkerInfo,
  WorkerRuntime,
  workloadOfInfo,
} from '../runtime/worker-runtime';

/**
 * `npm run down`: stops and removes the workers (and relay) of this installation — the one PAIRWATCH_INSTANCE
 * names, or the one made from DATABASE_URL when it is not set, as the API does — or, with `--all`, of every
 * installation on this machine and engine: worker processes (WORKER_RUNTIME=process) found by their state
 * files, then, when a Docker engine answers, Swarm services (when it manages a swarm) and containers. All
 * through the runtimes' own list() and stop(), so a pid is only signalled while it still runs that monitor's
 * worker. Monitors stay recorded as they are.
 */

/** One kind of worker `npm run down` stops. */
export interface DownTarget {
  /** The installations with workers of this kind. */
  instances: () => Promise<string[]>;
  /** The runtime that sees (and stops) one installation's workers. */
  runtimeFor: (instance: string) => WorkerRuntime;
  /** Which of the workers listed count as stopped once stop() succeeds (a dead process is only cleaned up). */
  counts: (worker: WorkerInfo) => boolean;
}

export interface DownResult {
  stopped: number;
  failed: Array<{ worker: WorkerInfo; error: Error }>;
}

/**
 * Stops every worker and relay of the target, of one installation or of all; a failure is reported, not
 * thrown. Relays count as workers here.
 */
export async function stopWorkers(target: DownTarget, onlyInstance: string | undefined): Promise<DownResult> {
  const result: DownResult = { stopped: 0, failed: [] };
  const instances = onlyInstance !== undefined ? [onlyInstance] : await target.instances();
  for (const instance of instances) {
    const runtime = target.runtimeFor(instance);
    const workers = (await Promise.all([runtime.list('worker'), runtime.list('relay')])).flat();
    const outcomes = await Promise.allSettled(
      workers.map((worker) => runtime.stop(workloadOfInfo(worker), worker.workerId)),
    );
    outcomes.forEach((outcome, i) => {
      if (outcome.status === 'rejected') {
        const error = outcome.reason instanceof Error ? outcome.reason : new Error(String(outcome.reason));
        result.failed.push({ worker: workers[i], error });
      } else if (target.counts(workers[i])) {
        result.stopped += 1;
      }
    });
  }
  return result;
}

export interface DownOptions {
  /** The installation whose workers are stopped; undefined: every installation's (`--all`). */
  onlyInstance: string | undefined;
  processes: DownTarget;
  /** Containers; `ping` says whether an engine answers (RuntimeUnavailableError when none does). */
  containers: DownTarget & { ping: () => Promise<void>; endpoint: () => Promise<string> };
  /**
   * Swarm services, removed before the containers (a task container removed alone is started again by Swarm);
   * `ping` throws RuntimeUnavailableError when the engine manages no swarm.
   */
  services?: DownTarget & { ping: () => Promise<void> };
  log: (line: string) => void;
}

/** Everything `npm run down` does; the exit code. */
export async function down(options: DownOptions): Promise<number> {
  const { log } = options;
  const failures: string[] = [];
  const report = (kind: string, result: DownResult) => {
    for (const { worker, error } of result.failed) {
      failures.push(kind);
      const whose = worker.monitorId ? `monitor ${worker.monitorId}` : 'the relay';
      log(`WARNING: the ${kind} ${worker.name} (${whose}) could not be stopped: ${error.message}`);
    }
  };

  const processes = await stopWorkers(options.processes, options.onlyInstance);
  if (processes.stopped > 0) log(`stopped ${processes.stopped} worker process(es)`);
  report('worker process', processes);

  let containers: DownResult = { stopped: 0, failed: [] };
  let engine = true;
  try {
    await options.containers.ping();
  } catch (error) {
    if (!(error instanceof RuntimeUnavailableError)) throw error;
    engine = false;
    log(`no Docker engine at ${await options.containers.endpoint()}: only worker processes were looked for`);
  }
  let services: DownResult = { stopped: 0, failed: [] };
  if (engine && options.services && (await isSwarmManager(options.services))) {
    services = await stopWorkers(options.services, options.onlyInstance);
    if (services.stopped > 0) log(`removed ${services.stopped} Swarm service(s)`);
    report('Swarm service', services);
  }
  if (engine) {
    containers = await stopWorkers(options.containers, options.onlyInstance);
    if (containers.stopped > 0) log(`stopped and removed ${containers.stopped} worker container(s)`);
    report('worker container', containers);
  }

  if (failures.length > 0) {
    log('ERROR: some workers could not be stopped (see above)');
    return 1;
  }
  if (processes.stopped + services.stopped + containers.stopped === 0) {
    log(
      options.onlyInstance === undefined
        ? 'no pairwatch workers are running'
        : `no workers of installation "${options.onlyInstance}" are running (\`npm run down -- --all\` stops every installation's)`,
    );
  }
  return 0;
}

async function isSwarmManager(services: { ping: () => Promise<void> }): Promise<boolean> {
  try {
    await services.ping();
    return true;
  } catch (error) {
    if (error instanceof RuntimeUnavailableError) return false;
    throw error;
  }
}

/** `npm run down [-- --all]`: whether every installation's workers are stopped; an unknown argument is an error. */
export function parseDownArgs(args: readonly string[]): { all: boolean } {
  let all = false;
  for (const arg of args) {
    if (arg === '--all') all = true;
    else throw new ConfigError(`unknown argument ${JSON.stringify(arg)}: npm run down [-- --all]`);
  }
  return { all };
}

/** The runtimes' own log lines, as the script's: warnings and errors only, on stderr. */
export class DownLogger implements LoggerService {
  constructor(private readonly write: (line: string) => void) {}

  log(): void {}

  warn(message: unknown): void {
    this.write(`WARNING: ${text(message)}`);
  }

  error(message: unknown): void {
    this.write(`ERROR: ${text(message)}`);
  }
}

function text(message: unknown): string {
  if (typeof message === 'string') return message;
  if (message instanceof Error) return message.message;
  if (message !== null && typeof message === 'object' && 'msg' in message) {
    const { msg, ...rest } = message;
    return Object.keys(rest).length > 0 ? `${String(msg)} ${JSON.stringify(rest)}` : String(msg);
  }
  return JSON.stringify(message);
}

async function main(): Promise<number> {
  const log = (line: string) => process.stderr.write(`[down] ${line}\n`);
  Logger.overrideLogger(new DownLogger(log));
  let loaded: ReturnType<typeof loadDownConfig>;
  try {
    loaded = loadDownConfig(process.env, parseDownArgs(process.argv.slice(2)));
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    log(`ERROR: ${error.message}`);
    return 1;
  }
  const { config, onlyInstance } = loaded;
  const processRuntime = (instance: string) =>
    new ProcessRuntime({ instance, workerScript: config.workerScript, hostPath: config.hostPath });
  // Short call timeouts: an engine that does not answer within them is taken for none.
  const { calls, events } = engineClients(10_000);
  const dockerRuntime = (instance: string) => new DockerRuntime({ ...config, instance }, calls, events);
  const anyDocker = dockerRuntime(config.instance);
  const swarmRuntime = (instance: string) => new SwarmRuntime({ ...config, instance }, calls, { events });
  const anySwarm = swarmRuntime(config.instance);
  log(
    onlyInstance === undefined
      ? 'stopping the workers of every installation (--all)'
      : `stopping the workers of installation "${onlyInstance}"`,
  );
  return down({
    onlyInstance,
    log,
    processes: {
      instances: () => processRuntime(config.instance).instances(),
      runtimeFor: processRuntime,
      // An exited worker is only cleaned up: it was not running.
      counts: (worker) => worker.state !== 'exited',
    },
    services: {
      ping: () => anySwarm.ping(),
      instances: () => anySwarm.instances(),
      runtimeFor: swarmRuntime,
      counts: () => true,
    },
    containers: {
      ping: () => anyDocker.ping(),
      endpoint: () => engineEndpoint(calls),
      instances: () => anyDocker.instances(),
      runtimeFor: dockerRuntime,
      counts: () => true,
    },
  });
}

/** Where a client connects (DOCKER_HOST as docker-modem read it, or the default socket it finds), for messages. */
async function engineEndpoint(docker: Docker): Promise<string> {
  const { socketPath, protocol, host, port } = docker.modem as unknown as Record<string, unknown>;
  const socket: unknown =
    typeof socketPath === 'function' ? await (socketPath as () => unknown)() : socketPath;
  if (typeof socket === 'string') return `unix://${socket}`;
  const scheme = typeof protocol === 'string' ? protocol : 'http';
  return `${scheme}://${typeof host === 'string' ? host : 'localhost'}:${Number(port)}`;
}

if (require.main === module) {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`[down] ERROR: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
