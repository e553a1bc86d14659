import { Logger, OnModuleDestroy } from '@nestjs/common';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { BackgroundLoop } from '../common/background-loop';
import { KeyedQueue } from '../common/concurrency';
import { projectRoot } from '../common/project-root';
import { relayContainerName } from '../config/relay-address';
import type { AppConfig } from '../config/app.config';
import { ProcessStateStore, ProcessWorkerRecord } from './process-state';
import { childEnv, exitCodeOf, isWorkerProcess, spawnDetached, stopPid } from './process-table';
import { computeSpecHash, UUID_PATTERN, workerContainerName, workerProcessName } from './workload';
import {
  RELAY,
  RELAY_KEY,
  RuntimeUnavailableError,
  Workload,
  WorkloadRole,
  WorkloadSpec,
  WorkerEvent,
  WorkerExit,
  WorkerInfo,
  WorkerRuntime,
  workerOf,
  workloadOf,
} from './worker-runtime';

/** After SIGKILL, how long a workload may take to disappear before stop() fails. */
const KILL_TIMEOUT_MS = 2000;
/** How often the poller cuts back log files that grew too long. */
const LOG_CHECK_EVERY_MS = 30_000;

/** Of WORKER_LIMITS only the memory applies to a plain process: it caps the V8 heap. */
export interface ProcessRuntimeConfig
  extends
    Pick<AppConfig, 'instance'>,
    Partial<Pick<AppConfig, 'workerScript' | 'workerLimits' | 'hostPath'>> {
  /** The bundled relay program; default relay.js beside the worker program (default dist/worker/main.js). */
  relayScript?: string;
  /** One <key>.json (and .log) per workload; default .pairwatch/process-workers under the repository root. */
  stateDir?: string;
  /** stop(): SIGTERM, then SIGKILL after this long; default 5 s (a worker needs at most 2 s). */
  stopTimeoutMs?: number;
  /** How often workloads this API did not start (no exit event comes for them) are checked; default 1 s. */
  pollIntervalMs?: number;
}

function workloadOfKey(key: string): Workload {
  return key === RELAY_KEY ? RELAY : workerOf(key);
}

function exitOf({ exit, monitorId, pid }: ProcessWorkerRecord): WorkerExit | null {
  if (!exit) return null;
  return {
    ...exit,
    workload: workloadOfKey(monitorId),
    workerId: `process:${pid}`,
    exitedAt: new Date(exit.exitedAt),
  };
}

/**
 * Each workload as a process of its own, for a machine with no Docker engine: the driver, over the process
 * table (process-table.ts) and the state files (process-state.ts), which are the truth about a workload. A
 * workload outlives the API that started it, is never restarted by it (the supervisor does that) and is not
 * isolated from the host.
 */
export class ProcessRuntime extends WorkerRuntime implements OnModuleDestroy {
  readonly kind = 'process' as const;
  readonly workerScript: string;
  readonly relayScript: string;
  readonly stateDir: string;
  private readonly logger = new Logger(ProcessRuntime.name);
  private readonly store: ProcessStateStore;
  private readonly nodeArgs: string[];
  private readonly stopTimeoutMs: number;
  /** The live workloads this API saw, by key: their death is an exit (unless stopped), told to the watchers. */
  private readonly watched = new Map<string, ProcessWorkerRecord>();
  /** The pids of its own live children: their exit comes as an event, the others' are polled for. */
  private readonly children = new Set<number>();
  /** One start, stop or look at a time per workload. */
  private readonly locks = new KeyedQueue();
  private readonly listeners = new Set<(event: WorkerEvent) => void>();
  private readonly fingerprints = new Map<string, { stamp: string; value: string }>();
  /** Watches adopted workloads for their death, and keeps log files bounded. */
  private readonly poller: BackgroundLoop;
  private lastLogCheck = 0;
  private closed = false;

  constructor(private readonly config: ProcessRuntimeConfig) {
    super();
    const root = config.workerScript && config.stateDir ? '' : (projectRoot() ?? process.cwd());
    this.workerScript = path.resolve(config.workerScript ?? path.join(root, 'dist', 'worker', 'main.js'));
    this.relayScript = path.resolve(
      config.relayScript ?? path.join(path.dirname(this.workerScript), 'relay.js'),
    );
    this.stateDir = path.resolve(config.stateDir ?? path.join(root, '.pairwatch', 'process-workers'));
    this.store = new ProcessStateStore(this.stateDir);
    const memoryMb = config.workerLimits ? Math.floor(config.workerLimits.memoryBytes / 1024 / 1024) : 0;
    this.nodeArgs = memoryMb > 0 ? [`--max-old-space-size=${Math.max(16, Math.floor(memoryMb * 0.75))}`] : [];
    this.stopTimeoutMs = config.stopTimeoutMs ?? 5000;
    this.poller = new BackgroundLoop({
      name: 'process workloads',
      everyMs: config.pollIntervalMs ?? 1000,
      pass: () => this.poll(),
      logger: this.logger,
    });
  }

  /** The process table is always there; what can be missing is the worker program. */
  async ping(): Promise<void> {
    try {
      await fsp.access(this.workerScript, fs.constants.R_OK);
    } catch {
      throw new RuntimeUnavailableError(
        `the worker program ${this.workerScript} is missing; build it with "npm run build:worker"`,
      );
    }
  }

  async ensureReady(): Promise<void> {
    await this.ping();
    try {
      await fsp.mkdir(this.stateDir, { recursive: true, mode: 0o700 });
    } catch (error) {
      throw new RuntimeUnavailableError(
        `cannot create the worker state directory ${this.stateDir}: ${(error as Error).message}`,
      );
    }
  }

  /** A worker, or the relay (`relay.json` and `relay.log` in the state directory), as a process. */
  async start(spec: WorkloadSpec): Promise<WorkerInfo> {
    const { key } = workloadOf(spec);
    const pair = spec.role === 'relay' ? '' : spec.monitor.pair;
    if (spec.role === 'worker') workerContainerName(pair, key); // refuses an unchecked pair or id
    return this.locks.run(key, async () => {
      await this.ensureReady();
      const current = await this.resolve(key);
      if (current && !current.exit) return this.describe(current);
      const script = this.scriptOf(spec.role);
      const specHash = await this.specHash(spec);
      const env = childEnv(spec, this.config.hostPath);
      const child = await spawnDetached([...this.nodeArgs, script], env, this.store.logPath(key));
      const pid = child.pid!;
      child.on('error', (error) => this.logger.warn(`${spec.role} process ${key}: ${error.message}`));
      const record = {
        version: 1 as const,
        monitorId: key,
        pair,
        instance: this.config.instance,
        pid,
        script,
        specHash,
        startedAt: new Date().toISOString(),
      };
      this.watched.set(key, record);
      this.children.add(pid);
      child.once('exit', (code, signal) => {
        this.children.delete(pid);
        if (!this.closed && this.watched.get(key) === record)
          this.noteDeath(record, exitCodeOf(code, signal));
      });
      try {
        this.store.write(record);
      } catch (error) {
        await this.halt(record);
        throw new RuntimeUnavailableError(
          `could not record the worker in ${this.stateDir}: ${(error as Error).message}`,
        );
      }
      this.poller.start();
      this.logger.log({ msg: `${spec.role} process started`, key, pair, pid });
      this.emit(key, 'started');
      return this.describe(record);
    });
  }

  /** One state file per workload: `workerId` only names which one was meant. */
  async stop({ key }: Workload, _workerId?: string): Promise<void> {
    await this.locks.run(key, async () => {
      const current = await this.resolve(key);
      if (current) await this.halt(current);
    });
  }

  async list(role: WorkloadRole): Promise<WorkerInfo[]> {
    const keys = role === 'relay' ? [RELAY_KEY] : this.store.keys().filter((key) => key !== RELAY_KEY);
    const found = await Promise.all(keys.map((key) => this.locks.run(key, () => this.resolve(key))));
    return found.flatMap((record) => (record ? [this.describe(record)] : []));
  }

  /** Every installation with state files here, this one's or not: what `npm run down -- --all` stops. */
  instances(): Promise<string[]> {
    const records = this.store.keys().map((key) => this.store.read(key));
    return Promise.resolve([...new Set(records.flatMap((record) => (record ? [record.instance] : [])))]);
  }

  async find({ key }: Workload): Promise<WorkerInfo | null> {
    const current = await this.locks.run(key, () => this.resolve(key));
    return current ? this.describe(current) : null;
  }

  /** Changes when the program (its content), the Node version or flags, or the environment changes. */
  async specHash(spec: WorkloadSpec): Promise<string> {
    return computeSpecHash(await this.fingerprint(this.scriptOf(spec.role)), spec);
  }

  async lastExit({ key }: Workload): Promise<WorkerExit | null> {
    const current = await this.locks.run(key, () => this.resolve(key));
    return current ? exitOf(current) : null;
  }

  watch(listener: (event: WorkerEvent) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** The API is going away: stop watching, but leave the workloads running (`npm run down` stops them). */
  async onModuleDestroy(): Promise<void> {
    this.closed = true;
    this.listeners.clear();
    await this.poller.stop();
  }

  private scriptOf(role: WorkloadRole): string {
    return role === 'relay' ? this.relayScript : this.workerScript;
  }

  /**
   * The workload as its state file and the process table tell it now: running (watched from now on), exited,
   * or null when there is none. Only a monitor id or RELAY_KEY names a state file; one of another instance is
   * not ours; a watched one whose pid is gone has died; another whose pid is gone is removed.
   */
  private async resolve(key: string): Promise<ProcessWorkerRecord | null> {
    if (key !== RELAY_KEY && !UUID_PATTERN.test(key)) return null;
    const record = this.store.read(key);
    if (!record || record.instance !== this.config.instance) return null;
    if (record.exit) return record;
    const { pid, script } = record;
    if (this.children.has(pid) || (await isWorkerProcess(pid, script, key))) {
      if (this.watched.get(key)?.pid !== pid) {
        this.logger.log({ msg: 'adopted a running worker process', key, pid });
        this.watched.set(key, record);
        this.poller.start();
      }
      return record;
    }
    if (this.watched.get(key)?.pid === pid) return this.noteDeath(record, null);
    this.logger.log(`removing the state of workload ${key}: pid ${pid} is gone`);
    this.store.remove(key, pid);
    return null;
  }

  /**
   * A watched workload is gone. When its state file still describes it, it died: the exit is written to the
   * file and the watchers told. When the file is gone, marked as stopping or describes another process,
   * someone stopped or replaced it (another API, `npm run down`): it is only forgotten.
   */
  private noteDeath(record: ProcessWorkerRecord, exitCode: number | null): ProcessWorkerRecord | null {
    const { monitorId: key, pid } = record;
    this.watched.delete(key);
    const onDisk = this.store.read(key);
    if (!onDisk || onDisk.pid !== pid || onDisk.stopping) {
      this.logger.log({ msg: 'worker process stopped from elsewhere', key, pid });
      this.emit(key, 'removed');
      return null;
    }
    // Another API watching the same process may have noted this death first: its key stands, so the death is
    // recorded once; the exit code is known only to the API whose child it was.
    const noted = onDisk.exit;
    const exitedAt = noted?.exitedAt ?? new Date().toISOString();
    const exit = {
      key: noted?.key ?? `process:${pid}@${exitedAt}`,
      exitCode: exitCode ?? noted?.exitCode ?? null,
      exitedAt,
      logTail: this.store.logTail(key) || noted?.logTail || '',
    };
    const dead = { ...onDisk, exit };
    try {
      this.store.write(dead);
    } catch (error) {
      this.logger.warn(`could not note the exit of workload ${key}: ${(error as Error).message}`);
    }
    this.logger.warn({ msg: 'worker process exited', key, pid, exitCode: exitCode ?? 'unknown' });
    this.emit(key, 'exit', exitOf(dead) ?? undefined);
    return dead;
  }

  /**
   * Stops the workload's process (while its pid still runs it) and removes its files. Marked as stopping in
   * its state file first, so that other APIs watching it take its death for a removal, as this one does.
   */
  private async halt(record: ProcessWorkerRecord): Promise<void> {
    const { monitorId: key, pid, script, exit } = record;
    this.watched.delete(key);
    if (!exit) {
      try {
        this.store.write({ ...record, stopping: new Date().toISOString() });
      } catch (error) {
        this.logger.warn(`could not mark worker pid ${pid} as stopping: ${(error as Error).message}`);
      }
      const ours = () => isWorkerProcess(pid, script, key);
      if (await stopPid(pid, ours, this.stopTimeoutMs, KILL_TIMEOUT_MS)) {
        this.logger.warn(`worker pid ${pid} ignored SIGTERM for ${this.stopTimeoutMs} ms: killed`);
      }
    }
    this.store.remove(key, pid);
    this.emit(key, 'removed');
  }

  /** Notices the death of watched workloads that are not its children; cuts back logs grown too long. */
  private async poll(): Promise<void> {
    for (const [key, record] of this.watched) {
      if (this.children.has(record.pid)) continue;
      await this.locks.run(key, async () => {
        const { pid, script } = record;
        if (this.watched.get(key) === record && !(await isWorkerProcess(pid, script, key))) {
          this.noteDeath(record, null);
        }
      });
    }
    if (Date.now() - this.lastLogCheck >= LOG_CHECK_EVERY_MS) {
      this.lastLogCheck = Date.now();
      for (const key of this.watched.keys()) this.store.trimLog(key);
    }
  }

  private async fingerprint(script: string): Promise<string> {
    let stat: fs.Stats;
    try {
      stat = await fsp.stat(script);
    } catch {
      await this.ping();
      const what = script === this.relayScript ? 'relay' : 'worker';
      throw new RuntimeUnavailableError(
        `cannot read the ${what} program ${script}; build it with "npm run build:worker"`,
      );
    }
    const stamp = `${stat.mtimeMs}:${stat.size}:${stat.ino}`;
    const cached = this.fingerprints.get(script);
    if (cached?.stamp === stamp) return cached.value;
    const digest = createHash('sha256')
      .update(await fsp.readFile(script))
      .digest('hex');
    const value = `sha256:${digest} node ${process.version} ${this.nodeArgs.join(' ')}`.trimEnd();
    this.fingerprints.set(script, { stamp, value });
    return value;
  }

  private describe(record: ProcessWorkerRecord): WorkerInfo {
    const relay = record.monitorId === RELAY_KEY;
    return {
      role: relay ? 'relay' : 'worker',
      workerId: `process:${record.pid}`,
      monitorId: relay ? '' : record.monitorId,
      pair: record.pair,
      name: relay ? relayContainerName(record.instance) : workerProcessName(record.pair, record.monitorId),
      state: record.exit ? 'exited' : 'running',
      exitCode: record.exit?.exitCode ?? null,
      restarts: 0,
      image: record.script,
      startedAt: record.startedAt,
      specHash: record.specHash,
    };
  }

  private emit(key: string, kind: WorkerEvent['kind'], exit?: WorkerExit): void {
    for (const listener of this.listeners) {
      try {
        listener({ kind, workload: workloadOfKey(key), exit });
      } catch (error) {
        this.logger.warn(`a worker event listener failed: ${(error as Error).message}`);
      }
    }
  }
}
