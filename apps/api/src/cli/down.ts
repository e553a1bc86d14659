import { Logger, LoggerService } from '@nestjs/common';
import { ConfigError, loadDownConfig } from '../config/app.config';
import { engineClients, engineEndpoint } from '../runtime/docker-engine';
import { DockerRuntime } from '../runtime/docker.runtime';
import { ProcessRuntime } from '../runtime/process.runtime';
import {
  RuntimeUnavailableError,
  WorkerInfo,
  WorkerRuntime,
  workloadOfInfo,
} from '../runtime/worker-runtime';

/**
 * `npm run down`: stops and removes every worker (and relay) pairwatch started — worker processes (WORKER_RUNTIME=process)
 * found by their state files, then worker containers when a Docker engine answers — through the runtimes'
 * own list() and stop(), so a pid is only signalled while it still runs that monitor's worker. Set
 * PAIRWATCH_INSTANCE to stop only one installation's workers. Monitors stay recorded as they are.
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
  onlyInstance: string | undefined;
  processes: DownTarget;
  /** Containers; `ping` says whether an engine answers (RuntimeUnavailableError when none does). */
  containers: DownTarget & { ping: () => Promise<void>; endpoint: () => Promise<string> };
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
  if (engine) {
    containers = await stopWorkers(options.containers, options.onlyInstance);
    if (containers.stopped > 0) log(`stopped and removed ${containers.stopped} worker container(s)`);
    report('worker container', containers);
  }

  if (failures.length > 0) {
    log('ERROR: some workers could not be stopped (see above)');
    return 1;
  }
  if (processes.stopped + containers.stopped === 0) log('no pairwatch workers are running');
  return 0;
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
    loaded = loadDownConfig();
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
  return down({
    onlyInstance,
    log,
    processes: {
      instances: () => processRuntime(config.instance).instances(),
      runtimeFor: processRuntime,
      // An exited worker is only cleaned up: it was not running.
      counts: (worker) => worker.state !== 'exited',
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
