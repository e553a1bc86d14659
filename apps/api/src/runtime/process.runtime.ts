import { Logger, OnModuleDestroy } from '@nestjs/common';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { BackgroundLoop } from '../common/background-loop';
import { relayContainerName } from '../config/relay-address';
import type { AppConfig, WorkerLimits } from '../config/app.config';
import { ProcessStateStore, ProcessWorkerRecord, readLogTail } from './process-state';
import {
  Child,
  childEnv,
  exitCodeOf,
  isWorkerProcess,
  spawnDetached,
  stopChild,
  stopPid,
} from './process-table';
import { computeSpecHash, UUID_PATTERN, workerContainerName, workerProcessName } from './workload';
import {
  RELAY_KEY,
  RuntimeUnavailableError,
  Workload,
  WorkloadRole,
  WorkloadSpec,
  WorkerEvent,
  WorkerExit,
  WorkerInfo,
  WorkerRuntime,
} from './worker-runtime';

/** Timings of the process runtime. */
export const PROCESS_WORKER = {
  /** stop(): how long a workload has after SIGTERM before SIGKILL (a worker itself needs at most 2 s). */
  stopTimeoutMs: 5000,
  /** How long to wait for a SIGKILLed workload to disappear before stop() gives up. */
  killTimeoutMs: 2000,
  /** How often workloads this API did not start itself are checked for life. */
  pollIntervalMs: 1000,
  logCheckEveryMs: 30_000,
} as const;

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
  /** The Node binary that runs workloads; default the one running the API. */
  nodePath?: string;
  stopTimeoutMs?: number;
  pollIntervalMs?: number;
}

/** A workload as this API knows it: its record, and its process while it is a live child of this API. */
interface Tracked {
  record: ProcessWorkerRecord;
  child?: Child;
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
  return { role: key === RELAY_KEY ? 'relay' : 'worker', key };
}

/** The recorded death of a workload, as the supervisor keeps it. */
function exitOf(record: ProcessWorkerRecord): WorkerExit | null {
  const { exit } = record;
  if (!exit) return null;
  const { key, exitCode, exitedAt, logTail } = exit;
  const workerId = `process:${record.pid}`;
  return {
    workload: workloadOfKey(record.monitorId),
    workerId,
    key,
    exitCode,
    exitedAt: new Date(exitedAt),
    logTail,
  };
}

/**
 * Each workload as a process of its own, for a machine with no Docker engine: the driver. The process table
 * (process-table.ts) starts, recognises and stops the processes; the state store (process-state.ts) keeps a
 * file per workload, so that a restarted API, or `npm run down`, finds them again. A workload outlives the
 * API that started it. The runtime never restarts a workload by itself: the supervisor replaces dead ones
 * and applies the crash-loop rule. Of the limits, only memory applies (as a V8 heap cap); there is no
 * isolation from the host.
 */
export class ProcessRuntime extends WorkerRuntime implements OnModuleDestroy {
  readonly kind = 'process' as const;
  readonly workerScript: string;
  readonly relayScript: string;
  readonly stateDir: string;
  private readonly logger = new Logger(ProcessRuntime.name);
  private readonly store: ProcessStateStore;
  private readonly nodePath: string;
  private readonly nodeArgs: string[];
  private readonly stopTimeoutMs: number;
  private readonly tracked = new Map<string, Tracked>();
  private readonly stopping = new Set<string>();
  private readonly locks = new Map<string, Promise<unknown>>();
  private readonly listeners = new Set<(event: WorkerEvent) => void>();
  private readonly fingerprints = new Map<string, { key: string; value: string }>();
  /** Watches adopted workloads (no exit event comes for them) and keeps log files bounded. */
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
    this.nodePath = config.nodePath ?? process.execPath;
    const memoryMb = config.workerLimits ? Math.floor(config.workerLimits.memoryBytes / 1024 / 1024) : 0;
    this.nodeArgs = memoryMb > 0 ? [`--max-old-space-size=${Math.max(16, Math.floor(memoryMb * 0.75))}`] : [];
    this.stopTimeoutMs = config.stopTimeoutMs ?? PROCESS_WORKER.stopTimeoutMs;
    this.poller = new BackgroundLoop({
      name: 'process workloads',
      everyMs: config.pollIntervalMs ?? PROCESS_WORKER.pollIntervalMs,
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
    const key = spec.role === 'relay' ? RELAY_KEY : spec.monitor.monitorId;
    const pair = spec.role === 'relay' ? '' : spec.monitor.pair;
    if (spec.role === 'worker') workerContainerName(pair, key); // refuses an unchecked pair or id
    return this.exclusive(key, async () => {
      await this.ensureReady();
      const current = await this.resolve(key);
      if (current && !current.record.exit) return this.describe(current.record);
      // An exited workload, or nothing: start a fresh one (its files replace the old ones).
      this.tracked.delete(key);
      const script = spec.role === 'relay' ? this.relayScript : this.workerScript;
      const specHash = await this.specHash(spec);
      const env = {
        ...childEnv(spec, this.config.hostPath),
        ...(spec.role === 'relay' ? { PAIRWATCH_ROLE: 'relay' } : {}),
      };
      const child = await spawnDetached(
        this.nodePath,
        [...this.nodeArgs, script],
        env,
        this.store.logPath(key),
      );
      child.process.on('error', (error) => this.logger.warn(`${spec.role} process ${key}: ${error.message}`));
      const { instance } = this.config;
      const startedAt = new Date().toISOString();
      const record: ProcessWorkerRecord = {
        version: 1,
        monitorId: key,
        pair,
        instance,
        pid: child.process.pid!,
        script,
        specHash,
        startedAt,
      };
      const tracked: Tracked = { record, child };
      this.tracked.set(key, tracked);
      child.process.once('exit', (code, signal) => {
        tracked.child = undefined;
        if (this.closed || this.stopping.has(key) || this.tracked.get(key) !== tracked) return;
        this.noteDeath(tracked, exitCodeOf(code, signal));
      });
      try {
        this.store.write(record);
      } catch (error) {
        this.stopping.add(key);
        await this.kill(tracked).finally(() => this.stopping.delete(key));
        this.tracked.delete(key);
        throw new RuntimeUnavailableError(
          `could not record the worker in ${this.stateDir}: ${(error as Error).message}`,
        );
      }
      this.poller.start();
      this.logger.log({ msg: `${spec.role} process started`, key, pair, pid: record.pid });
      this.emit(key, 'started');
      return this.describe(record);
    });
  }

  /** One state file per workload: `workerId` only names which one was meant. */
  async stop(workload: Workload, _workerId?: string): Promise<void> {
    if (!this.known(workload)) return;
    const key = workload.key;
    await this.exclusive(key, async () => {
      this.stopping.add(key);
      try {
        const current = await this.resolve(key);
        if (!current) return;
        if (!current.record.exit) this.markStopping(current.record);
        await this.kill(current);
        this.store.remove(key, current.record.pid);
        this.tracked.delete(key);
        this.emit(key, 'removed');
      } finally {
        this.stopping.delete(key);
      }
    });
  }

  async list(role: WorkloadRole): Promise<WorkerInfo[]> {
    const keys =
      role === 'relay' ? [RELAY_KEY] : new Set([...this.tracked.keys(), ...this.store.workerKeys()]);
    const found = await Promise.all(
      [...keys].filter((k) => (k === RELAY_KEY) === (role === 'relay')).map((k) => this.resolve(k)),
    );
    return found.filter((t): t is Tracked => t !== null).map((t) => this.describe(t.record));
  }

  /**
   * Every installation with state files in the state directory, this one's or not: what `npm run down`
   * stops when no PAIRWATCH_INSTANCE is given.
   */
  instances(): Promise<string[]> {
    const records = this.store.keys().map((key) => this.store.readQuietly(key));
    return Promise.resolve([...new Set(records.filter((r) => r !== null).map((r) => r.instance))]);
  }

  async find(workload: Workload): Promise<WorkerInfo | null> {
    const current = this.known(workload) ? await this.resolve(workload.key) : null;
    return current ? this.describe(current.record) : null;
  }

  /** Changes when the program (its content), the Node version or the environment changes. */
  async specHash(spec: WorkloadSpec): Promise<string> {
    const script = spec.role === 'relay' ? this.relayScript : this.workerScript;
    return computeSpecHash(await this.programFingerprint(script), spec);
  }

  async lastExit(workload: Workload): Promise<WorkerExit | null> {
    const current = this.known(workload) ? await this.resolve(workload.key) : null;
    return current ? exitOf(current.record) : null;
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

  /** Only a monitor id or RELAY_KEY names a state file. */
  private known(workload: Workload): boolean {
    return workload.role === 'relay' ? workload.key === RELAY_KEY : UUID_PATTERN.test(workload.key);
  }

  /**
   * A watched workload is gone. When its state file still describes it, it died: the exit is noted (in memory
   * and in the file) and the watchers told. When the file is gone, marked as stopping or describes another
   * process, someone stopped or replaced it (another API, `npm run down`): it is only forgotten.
   */
  private noteDeath(tracked: Tracked, exitCode: number | null): void {
    const { monitorId: key, pid } = tracked.record;
    const onDisk = this.store.readQuietly(key);
    if (!onDisk || onDisk.pid !== pid || onDisk.stopping) {
      if (this.tracked.get(key) === tracked) this.tracked.delete(key);
      this.logger.log({ msg: 'worker process stopped from elsewhere', key, pid });
      this.emit(key, 'removed');
      return;
    }
    // Another API watching the same process may have noted this death first: keep its key, so the death is
    // recorded once; the exit code is known only to the API whose child it was.
    const noted = onDisk.exit;
    const exitedAt = noted?.exitedAt ?? new Date().toISOString();
    tracked.record = {
      ...tracked.record,
      exit: {
        key: noted?.key ?? `process:${pid}@${exitedAt}`,
        exitCode: exitCode ?? noted?.exitCode ?? null,
        exitedAt,
        logTail: readLogTail(this.store.logPath(key)) || noted?.logTail || '',
      },
    };
    try {
      this.store.write(tracked.record);
    } catch (error) {
      this.logger.warn(`could not note the exit of workload ${key}: ${(error as Error).message}`);
    }
    this.logger.warn({
      msg: 'worker process exited',
      key,
      pid,
      exitCode: exitCode ?? 'unknown (not a child of this API)',
    });
    this.emit(key, 'exit', exitOf(tracked.record) ?? undefined);
  }

  /**
   * The workload as known now: a child, an adopted live process, or an exited one; null when there is none.
   * A state file of another instance is not ours; one of a dead pid no API saw die is removed.
   */
  private async resolve(key: string): Promise<Tracked | null> {
    const known = this.tracked.get(key);
    if (known) {
      if (known.child || known.record.exit) return known;
      if (await isWorkerProcess(known.record.pid, known.record.script, key)) return known;
      if (!this.stopping.has(key) && this.tracked.get(key) === known) this.noteDeath(known, null);
      return this.tracked.get(key) ?? null;
    }
    const record = this.store.read(key);
    if (!record || record.instance !== this.config.instance) return null;
    if (!record.exit && !(await isWorkerProcess(record.pid, record.script, key))) {
      // Died while no API watched it: there is nothing to report it by, so it is simply gone.
      if (!this.tracked.has(key)) {
        this.logger.log(`removing the state of workload ${key}: pid ${record.pid} is gone`);
        this.store.remove(key, record.pid);
      }
      return this.tracked.get(key) ?? null;
    }
    const raced = this.tracked.get(key);
    if (raced) return raced;
    const adopted: Tracked = { record };
    this.tracked.set(key, adopted);
    if (!record.exit) {
      this.logger.log({ msg: 'adopted a running worker process', key, pid: record.pid });
      this.poller.start();
    }
    return adopted;
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

  /** Stops the workload's live process: its child, or by pid while the pid still runs it. */
  private async kill({ child, record }: Tracked): Promise<void> {
    const { pid, script, monitorId: key } = record;
    const killMs = PROCESS_WORKER.killTimeoutMs;
    const killed = child
      ? await stopChild(child, this.stopTimeoutMs, killMs)
      : !record.exit &&
        (await stopPid(pid, () => isWorkerProcess(pid, script, key), this.stopTimeoutMs, killMs));
    if (killed) this.logger.warn(`worker pid ${pid} ignored SIGTERM for ${this.stopTimeoutMs} ms: killed`);
  }

  private async poll(): Promise<void> {
    if (this.closed) return;
    for (const [key, tracked] of this.tracked) {
      if (tracked.child || tracked.record.exit || this.stopping.has(key)) continue;
      await this.resolve(key);
    }
    if (Date.now() - this.lastLogCheck >= PROCESS_WORKER.logCheckEveryMs) {
      this.lastLogCheck = Date.now();
      for (const [key, tracked] of this.tracked) if (!tracked.record.exit) this.store.trimLog(key);
    }
  }

  private async programFingerprint(script: string): Promise<string> {
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
    const key = `${stat.mtimeMs}:${stat.size}:${stat.ino}`;
    let fingerprint = this.fingerprints.get(script);
    if (fingerprint?.key !== key) {
      const digest = createHash('sha256')
        .update(await fsp.readFile(script))
        .digest('hex');
      const value = `sha256:${digest} node ${process.version} ${this.nodeArgs.join(' ')}`.trimEnd();
      fingerprint = { key, value };
      this.fingerprints.set(script, fingerprint);
    }
    return fingerprint.value;
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
      exitCode: record.exit ? record.exit.exitCode : null,
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
