import { Logger, OnModuleDestroy } from '@nestjs/common';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { BackgroundLoop } from '../common/background-loop';
import { relayContainerName } from '../config/relay-address';
import type { AppConfig, WorkerLimits } from '../config/app.config';
import { ProcessStateStore, ProcessWorkerRecord, readLogTail } from './process-state';
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

export interface ProcessRuntimeConfig extends Pick<AppConfig, 'instance'> {
  /** The bundled worker program; default dist/worker/main.js under the repository root. */
  workerScript?: string;
  /** The bundled relay program; default relay.js beside the worker program. */
  relayScript?: string;
  /** One <key>.json (and .log) per workload; default .pairwatch/process-workers under the repository root. */
  stateDir?: string;
  /** Only the memory limit applies to a plain process: it caps the V8 heap. */
  workerLimits?: WorkerLimits;
  /** The PATH handed on to workloads (AppConfig.hostPath); none when unset. */
  hostPath?: string;
  /** stop(): SIGTERM, then SIGKILL after this long; default 5 s (a worker needs at most 2 s). */
  stopTimeoutMs?: number;
  /** How often workloads this API did not start (no exit event comes for them) are checked; default 1 s. */
  pollIntervalMs?: number;
}

/**
 * The repository root: the nearest directory above `start` whose package.json is pairwatch's. Works from the
 * sources (apps/api/src/runtime, under ts-jest) and from the build (dist/apps/api/runtime).
 */
export function findRepoRoot(start: string = __dirname): string {
  for (let dir = path.resolve(start); ; dir = path.dirname(dir)) {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: unknown };
      if (pkg.name === 'pairwatch') return dir;
    } catch {
      // no package.json here, or not JSON: look further up
    }
    if (path.dirname(dir) === dir) return process.cwd();
  }
}

function workloadOfKey(key: string): Workload {
  return key === RELAY_KEY ? RELAY : workerOf(key);
}

function exitOf({ exit, monitorId, pid }: ProcessWorkerRecord): WorkerExit | null {
  if (!exit) return null;
  const { key, exitCode, exitedAt, logTail } = exit;
  return {
    workload: workloadOfKey(monitorId),
    workerId: `process:${pid}`,
    key,
    exitCode,
    exitedAt: new Date(exitedAt),
    logTail,
  };
}

/**
 * Each workload as a process of its own, for a machine with no Docker engine: the driver, over the process
 * table (process-table.ts) and the state store (process-state.ts). A workload outlives the API that started
 * it; the runtime never restarts one (the supervisor does). Of the limits only memory applies, as a V8 heap
 * cap; there is no isolation from the host.
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
  /** The workloads this API knows, by key: those it started, live ones it adopted, exited ones. */
  private readonly known = new Map<string, ProcessWorkerRecord>();
  /** The pids of its own live children: their exit comes as an event, the others' are polled for. */
  private readonly children = new Set<number>();
  private readonly stopping = new Set<string>();
  private readonly locks = new Map<string, Promise<unknown>>();
  private readonly listeners = new Set<(event: WorkerEvent) => void>();
  private readonly fingerprints = new Map<string, { stamp: string; value: string }>();
  /** Watches adopted workloads for their death, and keeps log files bounded. */
  private readonly poller: BackgroundLoop;
  private lastLogCheck = 0;
  private closed = false;

  constructor(private readonly config: ProcessRuntimeConfig) {
    super();
    const root = config.workerScript && config.stateDir ? '' : findRepoRoot();
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
    return this.exclusive(key, async () => {
      await this.ensureReady();
      const current = await this.resolve(key);
      if (current && !current.exit) return this.describe(current);
      this.known.delete(key); // an exited workload, or none: a fresh one replaces its files
      const script = this.scriptOf(spec.role);
      const specHash = await this.specHash(spec);
      const args = [...this.nodeArgs, script];
      const env = childEnv(spec, this.config.hostPath);
      const child = await spawnDetached(process.execPath, args, env, this.store.logPath(key));
      const pid = child.pid!;
      child.on('error', (error) => this.logger.warn(`${spec.role} process ${key}: ${error.message}`));
      const record: ProcessWorkerRecord = {
        version: 1,
        monitorId: key,
        pair,
        instance: this.config.instance,
        pid,
        script,
        specHash,
        startedAt: new Date().toISOString(),
      };
      this.known.set(key, record);
      this.children.add(pid);
      child.once('exit', (code, signal) => {
        this.children.delete(pid);
        const current = this.known.get(key);
        if (this.closed || this.stopping.has(key) || current?.pid !== pid) return;
        this.noteDeath(current, exitCodeOf(code, signal));
      });
      try {
        this.store.write(record);
      } catch (error) {
        await this.halt(key);
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
    await this.exclusive(key, () => this.halt(key));
  }

  async list(role: WorkloadRole): Promise<WorkerInfo[]> {
    const keys = new Set(role === 'relay' ? [RELAY_KEY] : [...this.known.keys(), ...this.store.keys()]);
    if (role === 'worker') keys.delete(RELAY_KEY);
    const found = await Promise.all([...keys].map((key) => this.resolve(key)));
    return found.flatMap((record) => (record ? [this.describe(record)] : []));
  }

  /** Every installation with state files here, this one's or not: what `npm run down -- --all` stops. */
  instances(): Promise<string[]> {
    const records = this.store.keys().map((key) => this.store.readQuietly(key));
    return Promise.resolve([...new Set(records.flatMap((record) => (record ? [record.instance] : [])))]);
  }

  async find({ key }: Workload): Promise<WorkerInfo | null> {
    const current = await this.resolve(key);
    return current ? this.describe(current) : null;
  }

  /** Changes when the program (its content), the Node version or flags, or the environment changes. */
  async specHash(spec: WorkloadSpec): Promise<string> {
    return computeSpecHash(await this.fingerprint(this.scriptOf(spec.role)), spec);
  }

  async lastExit({ key }: Workload): Promise<WorkerExit | null> {
    const current = await this.resolve(key);
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
   * A watched workload is gone. When its state file still describes it, it died: the exit is noted (in memory
   * and in the file) and the watchers told. When the file is gone, marked as stopping or describes another
   * process, someone stopped or replaced it (another API, `npm run down`): it is only forgotten.
   */
  private noteDeath(record: ProcessWorkerRecord, exitCode: number | null): void {
    const { monitorId: key, pid } = record;
    const onDisk = this.store.readQuietly(key);
    if (!onDisk || onDisk.pid !== pid || onDisk.stopping) {
      if (this.known.get(key) === record) this.known.delete(key);
      this.logger.log({ msg: 'worker process stopped from elsewhere', key, pid });
      this.emit(key, 'removed');
      return;
    }
    // Another API watching the same process may have noted this death first: its key stands, so the death is
    // recorded once; the exit code is known only to the API whose child it was.
    const noted = onDisk.exit;
    const exitedAt = noted?.exitedAt ?? new Date().toISOString();
    const exit = {
      key: noted?.key ?? `process:${pid}@${exitedAt}`,
      exitCode: exitCode ?? noted?.exitCode ?? null,
      exitedAt,
      logTail: readLogTail(this.store.logPath(key)) || noted?.logTail || '',
    };
    const dead = { ...record, exit };
    this.known.set(key, dead);
    try {
      this.store.write(dead);
    } catch (error) {
      this.logger.warn(`could not note the exit of workload ${key}: ${(error as Error).message}`);
    }
    this.logger.warn({ msg: 'worker process exited', key, pid, exitCode: exitCode ?? 'unknown' });
    this.emit(key, 'exit', exitOf(dead) ?? undefined);
  }

  /**
   * The workload as known now: a child, an adopted live process, or an exited one; null when there is none.
   * Only a monitor id or RELAY_KEY names a state file; one of another instance is not ours; one of a dead pid
   * no API saw die is removed.
   */
  private async resolve(key: string): Promise<ProcessWorkerRecord | null> {
    if (key !== RELAY_KEY && !UUID_PATTERN.test(key)) return null;
    const known = this.known.get(key);
    const record = known ?? this.store.read(key);
    if (!record || record.instance !== this.config.instance) return null;
    const { pid, script, exit } = record;
    const live = !exit && (this.children.has(pid) || (await isWorkerProcess(pid, script, key)));
    const now = this.known.get(key);
    if (now !== known) return now ?? null; // started, stopped or noted meanwhile: that stands
    if (known) {
      if (!exit && !live && !this.stopping.has(key)) this.noteDeath(known, null);
      return this.known.get(key) ?? null;
    }
    if (!exit && !live) {
      this.logger.log(`removing the state of workload ${key}: pid ${pid} is gone`);
      this.store.remove(key, pid);
      return null;
    }
    this.known.set(key, record);
    if (live) {
      this.logger.log({ msg: 'adopted a running worker process', key, pid });
      this.poller.start();
    }
    return record;
  }

  /** Tells other watchers of the state file that this process's coming death is a stop. */
  private markStopping(record: ProcessWorkerRecord): void {
    try {
      if (this.store.readQuietly(record.monitorId)?.pid === record.pid) {
        this.store.write({ ...record, stopping: new Date().toISOString() });
      }
    } catch (error) {
      this.logger.warn(`could not mark worker pid ${record.pid} as stopping: ${(error as Error).message}`);
    }
  }

  /** Stops the workload's process (while its pid still runs it) and removes its files: its death is no exit. */
  private async halt(key: string): Promise<void> {
    this.stopping.add(key);
    try {
      const current = await this.resolve(key);
      if (!current) return;
      const { pid, script, exit } = current;
      if (!exit) this.markStopping(current);
      const ours = () => isWorkerProcess(pid, script, key);
      if (!exit && (await stopPid(pid, ours, this.stopTimeoutMs, KILL_TIMEOUT_MS))) {
        this.logger.warn(`worker pid ${pid} ignored SIGTERM for ${this.stopTimeoutMs} ms: killed`);
      }
      if (this.known.get(key) === current) this.known.delete(key);
      this.store.remove(key, pid);
      this.emit(key, 'removed');
    } finally {
      this.stopping.delete(key);
    }
  }

  private async poll(): Promise<void> {
    for (const [key, record] of this.known) {
      if (!record.exit && !this.children.has(record.pid) && !this.stopping.has(key)) await this.resolve(key);
    }
    if (Date.now() - this.lastLogCheck >= LOG_CHECK_EVERY_MS) {
      this.lastLogCheck = Date.now();
      for (const [key, record] of this.known) if (!record.exit) this.store.trimLog(key);
    }
  }

  /** The program's content, the Node version and flags: what the spec hash stands for besides the env. */
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

  /** One start or stop at a time per workload. */
  private exclusive<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const next = (this.locks.get(key) ?? Promise.resolve()).then(fn, fn);
    const settled = next.catch(() => undefined);
    this.locks.set(key, settled);
    void settled.then(() => {
      if (this.locks.get(key) === settled) this.locks.delete(key);
    });
    return next;
  }
}
