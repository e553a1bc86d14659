import { Logger, OnModuleDestroy } from '@nestjs/common';
import { ChildProcess, execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import * as path from 'node:path';
import type { AppConfig, WorkerLimits } from '../config/app.config';
import { relayContainerName } from '../config/relay-address';
import {
  STATE_FILE_PATTERN,
  UUID_PATTERN,
  computeSpecHash,
  tailLines,
  workerContainerName,
  workerProcessName,
} from './workload';
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

/** Timings and sizes of the process runtime. */
export const PROCESS_WORKER = {
  /** stop(): how long a worker has after SIGTERM before SIGKILL (the worker itself needs at most 2 s). */
  stopTimeoutMs: 5000,
  /** How long to wait for a SIGKILLed worker to disappear before stop() gives up. */
  killTimeoutMs: 2000,
  /** How often workers this API did not start itself are checked for life. */
  pollIntervalMs: 1000,
  /** Lines kept for WorkerExit.logTail. */
  logTailLines: 50,
  /** A worker's log file is cut back to its last logKeepBytes when it grows past logMaxBytes. */
  logMaxBytes: 1024 * 1024,
  logKeepBytes: 64 * 1024,
  logCheckEveryMs: 30_000,
} as const;

export interface ProcessRuntimeConfig extends Pick<AppConfig, 'instance'> {
  /** The bundled worker program; default dist/worker/main.js under the repository root. */
  workerScript?: string;
  /** The bundled relay program; default relay.js beside the worker program. */
  relayScript?: string;
  /** One <monitorId>.json (and .log) per worker; default .pairwatch/process-workers under the repository root. */
  stateDir?: string;
  /** Only the memory limit applies to a plain process: it caps the worker's V8 heap. */
  workerLimits?: WorkerLimits;
  /** The PATH handed on to workers (AppConfig.hostPath); none when unset. */
  hostPath?: string;
  /** The Node binary that runs workers; default the one running the API. */
  nodePath?: string;
  stopTimeoutMs?: number;
  pollIntervalMs?: number;
}

/** What a worker's state file holds: enough to find it again after an API restart, and to know it is ours. */
export interface ProcessWorkerRecord {
  version: 1;
  monitorId: string;
  pair: string;
  instance: string;
  pid: number;
  /** The script the worker was started with: a pid only counts as this worker while it runs that script. */
  script: string;
  specHash: string;
  startedAt: string;
  /** Set once the worker has died while an API watched it. */
  exit?: { key: string; exitCode: number | null; exitedAt: string; logTail: string };
  /** Set when a stop began (by an API or `npm run down`): its death is then a removal, not a crash. */
  stopping?: string;
}

interface Tracked {
  record: ProcessWorkerRecord;
  /** Present while the worker is a live child of this API. */
  child?: ChildProcess;
  /** Settles when the child exits (children only). */
  exited?: Promise<void>;
}

const HAS_PROC = fs.existsSync('/proc/self/cmdline');

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

export function defaultWorkerScript(root = findRepoRoot()): string {
  return path.join(root, 'dist', 'worker', 'main.js');
}

export function defaultStateDir(root = findRepoRoot()): string {
  return path.join(root, '.pairwatch', 'process-workers');
}

/**
 * The environment line that tells a worker process (its MONITOR_ID) or the relay apart from any other
 * process running the same script.
 */
export function identityLine(key: string): string {
  return key === RELAY_KEY ? 'PAIRWATCH_ROLE=relay' : `MONITOR_ID=${key}`;
}

/** The worker's environment: exactly its own variables plus the API's PATH; nothing else of the API's leaks in. */
export function childEnv(spec: WorkloadSpec, hostPath: string | undefined): Record<string, string> {
  return { ...(hostPath !== undefined ? { PATH: hostPath } : {}), ...spec.env };
}

/** A signal death as a shell reports it: 128 + the signal's number. */
export function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number | null {
  if (code !== null) return code;
  const number = signal ? osConstants.signals[signal] : undefined;
  return number !== undefined ? 128 + number : null;
}

/** True when no process has this pid any more (a zombie counts as gone: it runs nothing). */
export async function processGone(pid: number): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
  if (!HAS_PROC) return false;
  try {
    const stat = await fsp.readFile(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

/**
 * True only when `pid` is alive and is a Node process running `script` — and, where its environment can be
 * read, the worker of `monitorId`. A pid the system reused for anything else is never taken for a worker.
 */
export async function isWorkerProcess(pid: number, script: string, key: string): Promise<boolean> {
  if (!Number.isInteger(pid) || pid <= 1 || pid === process.pid) return false;
  if (await processGone(pid)) return false;
  if (!HAS_PROC) {
    const args = await psArgs(pid);
    return args !== null && /node/i.test(path.basename(args.split(' ')[0])) && args.includes(script);
  }
  let args: string[];
  try {
    args = (await fsp.readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').filter((a) => a !== '');
  } catch {
    return false;
  }
  if (args.length < 2 || !/node/i.test(path.basename(args[0])) || !args.slice(1).includes(script))
    return false;
  try {
    const environ = (await fsp.readFile(`/proc/${pid}/environ`, 'utf8')).split('\0');
    return environ.includes(identityLine(key));
  } catch (error) {
    // Another user's process: its command line must do (we could not signal it anyway).
    return (error as NodeJS.ErrnoException).code === 'EACCES';
  }
}

function psArgs(pid: number): Promise<string | null> {
  return new Promise((resolve) => {
    execFile('ps', ['-o', 'args=', '-p', String(pid)], (error, stdout) => {
      const text = String(stdout ?? '').trim();
      resolve(error || text === '' ? null : text);
    });
  });
}

/** The last lines of a log file, read from its last 64 kB. */
export function readLogTail(file: string, lines: number = PROCESS_WORKER.logTailLines): string {
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, 'r');
    const size = fs.fstatSync(fd).size;
    const length = Math.min(size, PROCESS_WORKER.logKeepBytes);
    const buffer = Buffer.alloc(length);
    fs.readSync(fd, buffer, 0, length, size - length);
    let text = buffer.toString('utf8');
    if (length < size) text = text.slice(text.indexOf('\n') + 1); // drop the cut first line
    return tailLines(text, lines);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? '' : `(log unavailable: ${(error as Error).message})`;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** True when `promise` settles within `ms`; the timer never outlives the answer. */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise.then(() => true),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

async function waitUntilGone(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await processGone(pid)) return true;
    if (Date.now() >= deadline) return false;
    await sleep(50);
  }
}

/** The recorded death of a worker, as the supervisor keeps it. */
function exitOf(record: ProcessWorkerRecord): WorkerExit | null {
  const { exit } = record;
  if (!exit) return null;
  return {
    workload: workloadOfKey(record.monitorId),
    workerId: `process:${record.pid}`,
    key: exit.key,
    exitCode: exit.exitCode,
    exitedAt: new Date(exit.exitedAt),
    logTail: exit.logTail,
  };
}

function workloadOfKey(key: string): Workload {
  return { role: key === RELAY_KEY ? 'relay' : 'worker', key };
}

function isRecord(value: unknown, monitorId: string): value is ProcessWorkerRecord {
  const r = value as Partial<ProcessWorkerRecord> | null;
  return (
    typeof r === 'object' &&
    r !== null &&
    r.version === 1 &&
    r.monitorId === monitorId &&
    typeof r.pair === 'string' &&
    typeof r.instance === 'string' &&
    Number.isInteger(r.pid) &&
    (r.pid ?? 0) > 1 &&
    typeof r.script === 'string' &&
    path.isAbsolute(r.script) &&
    typeof r.specHash === 'string' &&
    typeof r.startedAt === 'string'
  );
}

/**
 * Each monitor's worker as a child process of the API, for a machine with no Docker engine. A state file per
 * worker (pid, pair, spec hash) lets a restarted API, or `npm run down`, find the workers again; their output
 * goes to a log file beside it, so a worker outlives the API that started it (a pipe would break with the
 * API) and its last lines are there for the failure reason. The runtime never restarts a worker by itself:
 * the supervisor replaces dead ones and applies the crash-loop rule. Of the limits, only memory applies
 * (as a V8 heap cap); there is no isolation from the host.
 */
export class ProcessRuntime extends WorkerRuntime implements OnModuleDestroy {
  readonly kind = 'process' as const;
  readonly workerScript: string;
  readonly relayScript: string;
  readonly stateDir: string;
  private readonly logger = new Logger(ProcessRuntime.name);
  private readonly nodePath: string;
  private readonly nodeArgs: string[];
  private readonly stopTimeoutMs: number;
  private readonly pollIntervalMs: number;
  private readonly tracked = new Map<string, Tracked>();
  private readonly stopping = new Set<string>();
  private readonly locks = new Map<string, Promise<unknown>>();
  private readonly listeners = new Set<(event: WorkerEvent) => void>();
  private readonly fingerprints = new Map<string, { key: string; value: string }>();
  private timer: NodeJS.Timeout | undefined;
  private polling = false;
  private lastLogCheck = 0;
  private closed = false;

  constructor(private readonly config: ProcessRuntimeConfig) {
    super();
    const root = config.workerScript && config.stateDir ? undefined : findRepoRoot();
    this.workerScript = path.resolve(config.workerScript ?? defaultWorkerScript(root));
    this.relayScript = path.resolve(
      config.relayScript ?? path.join(path.dirname(this.workerScript), 'relay.js'),
    );
    this.stateDir = path.resolve(config.stateDir ?? defaultStateDir(root));
    this.nodePath = config.nodePath ?? process.execPath;
    const memoryMb = config.workerLimits ? Math.floor(config.workerLimits.memoryBytes / 1024 / 1024) : 0;
    this.nodeArgs = memoryMb > 0 ? [`--max-old-space-size=${Math.max(16, Math.floor(memoryMb * 0.75))}`] : [];
    this.stopTimeoutMs = config.stopTimeoutMs ?? PROCESS_WORKER.stopTimeoutMs;
    this.pollIntervalMs = config.pollIntervalMs ?? PROCESS_WORKER.pollIntervalMs;
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

  /** A worker, or the relay (`relay.json` and `relay.log` in the state directory), as a child process. */
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
      const tracked = await this.spawnProcess(key, pair, script, spec, await this.specHash(spec));
      this.logger.log({ msg: `${spec.role} process started`, key, pair, pid: tracked.record.pid });
      this.emit(this.eventOf(key, 'started'));
      return this.describe(tracked.record);
    });
  }

  /** One state file per workload: `workerId` only names which one was meant. */
  async stop(workload: Workload, _workerId?: string): Promise<void> {
    if (!this.known(workload)) return;
    const monitorId = workload.key;
    await this.exclusive(monitorId, async () => {
      this.stopping.add(monitorId);
      try {
        const current = await this.resolve(monitorId);
        if (!current) return;
        if (!current.record.exit) this.markStopping(current.record);
        if (current.child) await this.stopChild(current);
        else if (!current.record.exit) await this.stopPid(current.record);
        this.removeFiles(monitorId, current.record.pid);
        this.tracked.delete(monitorId);
        this.emit(this.eventOf(monitorId, 'removed'));
      } finally {
        this.stopping.delete(monitorId);
      }
    });
  }

  async list(role: WorkloadRole): Promise<WorkerInfo[]> {
    // The relay is tracked beside the workers, but it is not one.
    const ids = new Set([...this.tracked.keys(), ...(await this.stateFileIds()), RELAY_KEY]);
    for (const id of ids) if ((id === RELAY_KEY) !== (role === 'relay')) ids.delete(id);
    const found = await Promise.all([...ids].map((id) => this.resolve(id)));
    return found.filter((t): t is Tracked => t !== null).map((t) => this.describe(t.record));
  }

  /**
   * Every installation with worker state files in the state directory, this one's or not: what
   * `npm run down` stops when no PAIRWATCH_INSTANCE is given.
   */
  async instances(): Promise<string[]> {
    const records = await Promise.all(
      [...(await this.stateFileIds()), RELAY_KEY].map((id) => this.readRecord(id).catch(() => null)),
    );
    return [...new Set(records.filter((r) => r !== null).map((r) => r.instance))];
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

  /** Only a monitor id or RELAY_KEY names a state file. */
  private known(workload: Workload): boolean {
    return workload.role === 'relay' ? workload.key === RELAY_KEY : UUID_PATTERN.test(workload.key);
  }

  watch(listener: (event: WorkerEvent) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** The API is going away: stop watching, but leave the workers running (`npm run down` stops them). */
  onModuleDestroy(): void {
    this.closed = true;
    clearInterval(this.timer);
    this.timer = undefined;
    this.listeners.clear();
  }

  /** The monitor ids that have a state file. */
  private async stateFileIds(): Promise<string[]> {
    let names: string[] = [];
    try {
      names = await fsp.readdir(this.stateDir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    return names.flatMap((file) => STATE_FILE_PATTERN.exec(file)?.[1] ?? []);
  }

  private statePath(monitorId: string): string {
    return path.join(this.stateDir, `${monitorId}.json`);
  }

  private logPath(monitorId: string): string {
    return path.join(this.stateDir, `${monitorId}.log`);
  }

  /** Starts a worker (keyed by its monitor id) or the relay (RELAY_KEY) and records it. */
  private async spawnProcess(
    monitorId: string,
    pair: string,
    script: string,
    spec: WorkloadSpec,
    specHash: string,
  ): Promise<Tracked> {
    const identity = monitorId === RELAY_KEY ? { PAIRWATCH_ROLE: 'relay' } : {};
    const { O_WRONLY, O_CREAT, O_TRUNC, O_APPEND } = fs.constants;
    // Append mode, so the file can be cut back while the worker writes to it.
    let logFd: number;
    try {
      logFd = fs.openSync(this.logPath(monitorId), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0o600);
    } catch (error) {
      throw new RuntimeUnavailableError(`cannot open the worker's log file: ${(error as Error).message}`);
    }
    let child: ChildProcess;
    try {
      child = spawn(this.nodePath, [...this.nodeArgs, script], {
        env: { ...childEnv(spec, this.config.hostPath), ...identity },
        cwd: path.dirname(script),
        stdio: ['ignore', logFd, logFd],
        // Its own process group, and not tied to the API: the worker outlives an API restart.
        detached: true,
      });
    } finally {
      fs.closeSync(logFd);
    }
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    try {
      await new Promise<void>((resolve, reject) => {
        child.once('spawn', resolve);
        child.once('error', reject);
      });
    } catch (error) {
      throw new RuntimeUnavailableError(`could not start the worker process: ${(error as Error).message}`);
    }
    child.on('error', (error) =>
      this.logger.warn(`worker process of monitor ${monitorId}: ${error.message}`),
    );
    child.unref();
    const record: ProcessWorkerRecord = {
      version: 1,
      monitorId,
      pair,
      instance: this.config.instance,
      pid: child.pid!,
      script,
      specHash,
      startedAt: new Date().toISOString(),
    };
    const tracked: Tracked = { record, child, exited };
    this.tracked.set(monitorId, tracked);
    child.once('exit', (code, signal) => this.onChildExit(tracked, code, signal));
    try {
      this.writeRecord(record);
    } catch (error) {
      this.stopping.add(monitorId);
      await this.stopChild(tracked).finally(() => this.stopping.delete(monitorId));
      this.tracked.delete(monitorId);
      throw new RuntimeUnavailableError(
        `could not record the worker in ${this.stateDir}: ${(error as Error).message}`,
      );
    }
    this.ensurePolling();
    return tracked;
  }

  private onChildExit(tracked: Tracked, code: number | null, signal: NodeJS.Signals | null): void {
    tracked.child = undefined;
    const { monitorId } = tracked.record;
    if (this.closed || this.stopping.has(monitorId) || this.tracked.get(monitorId) !== tracked) return;
    this.noteDeath(tracked, exitCodeOf(code, signal), new Date());
  }

  /**
   * A watched worker is gone. When its state file still describes it, it died: the exit is noted (in memory
   * and in the file) and the watchers told. When the file is gone, marked as stopping or describes another
   * worker, someone stopped or replaced it (another API, `npm run down`): it is only forgotten.
   */
  private noteDeath(tracked: Tracked, exitCode: number | null, exitedAt: Date): void {
    const { monitorId, pid } = tracked.record;
    const onDisk = this.readRecordSync(monitorId);
    if (!onDisk || onDisk.pid !== pid || onDisk.stopping) {
      if (this.tracked.get(monitorId) === tracked) this.tracked.delete(monitorId);
      this.logger.log({ msg: 'worker process stopped from elsewhere', monitorId, pid });
      this.emit(this.eventOf(monitorId, 'removed'));
      return;
    }
    // Another API watching the same worker may have noted this death first: keep its key, so the death is
    // recorded once; the exit code is known only to the API whose child it was.
    const noted = onDisk.exit;
    tracked.record = {
      ...tracked.record,
      exit: {
        key: noted?.key ?? `process:${pid}@${exitedAt.toISOString()}`,
        exitCode: exitCode ?? noted?.exitCode ?? null,
        exitedAt: noted?.exitedAt ?? exitedAt.toISOString(),
        logTail: readLogTail(this.logPath(monitorId)) || noted?.logTail || '',
      },
    };
    try {
      this.writeRecord(tracked.record);
    } catch (error) {
      this.logger.warn(
        `could not note the exit of monitor ${monitorId}'s worker: ${(error as Error).message}`,
      );
    }
    this.logger.warn({
      msg: 'worker process exited',
      monitorId,
      pid,
      exitCode: exitCode ?? 'unknown (not a child of this API)',
    });
    this.emit(this.eventOf(monitorId, 'exit', exitOf(tracked.record) ?? undefined));
  }

  /**
   * The monitor's worker as known now: a child, an adopted live worker, or an exited one; null when there
   * is none. A state file of another instance is not ours; one of a dead pid no API saw die is removed.
   */
  private async resolve(monitorId: string): Promise<Tracked | null> {
    const known = this.tracked.get(monitorId);
    if (known) {
      if (known.child || known.record.exit) return known;
      if (await isWorkerProcess(known.record.pid, known.record.script, monitorId)) return known;
      if (!known.record.exit && !this.stopping.has(monitorId) && this.tracked.get(monitorId) === known) {
        this.noteDeath(known, null, new Date());
      }
      return this.tracked.get(monitorId) ?? null;
    }
    const record = await this.readRecord(monitorId);
    if (!record || record.instance !== this.config.instance) return null;
    if (!record.exit && !(await isWorkerProcess(record.pid, record.script, monitorId))) {
      // Died while no API watched it: there is nothing to report it by, so it is simply gone.
      if (!this.tracked.has(monitorId)) {
        this.logger.log(`removing the state of monitor ${monitorId}'s worker: pid ${record.pid} is gone`);
        this.removeFiles(monitorId, record.pid);
      }
      return this.tracked.get(monitorId) ?? null;
    }
    const raced = this.tracked.get(monitorId);
    if (raced) return raced;
    const adopted: Tracked = { record };
    this.tracked.set(monitorId, adopted);
    if (!record.exit) {
      this.logger.log({ msg: 'adopted a running worker process', monitorId, pid: record.pid });
      this.ensurePolling();
    }
    return adopted;
  }

  /** Tells other watchers of the state file that this worker's coming death is a stop. */
  private markStopping(record: ProcessWorkerRecord): void {
    try {
      if (this.readRecordSync(record.monitorId)?.pid === record.pid) {
        this.writeRecord({ ...record, stopping: new Date().toISOString() });
      }
    } catch (error) {
      this.logger.warn(`could not mark worker pid ${record.pid} as stopping: ${(error as Error).message}`);
    }
  }

  private async stopChild(tracked: Tracked): Promise<void> {
    const { child, exited } = tracked;
    if (!child || !exited) return;
    child.kill('SIGTERM');
    if (await settlesWithin(exited, this.stopTimeoutMs)) return;
    this.logger.warn(`worker pid ${child.pid} ignored SIGTERM for ${this.stopTimeoutMs} ms: SIGKILL`);
    child.kill('SIGKILL');
    const gone = await settlesWithin(exited, PROCESS_WORKER.killTimeoutMs);
    if (!gone) throw new Error(`worker pid ${child.pid} did not exit after SIGKILL`);
  }

  /** Stops a worker this API did not start: by pid, and only while the pid still runs that worker. */
  private async stopPid(record: ProcessWorkerRecord): Promise<void> {
    const { pid, script, monitorId } = record;
    const ours = () => isWorkerProcess(pid, script, monitorId);
    if (!(await ours())) return;
    this.signal(pid, 'SIGTERM');
    if (await waitUntilGone(pid, this.stopTimeoutMs)) return;
    if (!(await ours())) return;
    this.logger.warn(`worker pid ${pid} ignored SIGTERM for ${this.stopTimeoutMs} ms: SIGKILL`);
    this.signal(pid, 'SIGKILL');
    if (!(await waitUntilGone(pid, PROCESS_WORKER.killTimeoutMs))) {
      throw new Error(`worker pid ${pid} did not exit after SIGKILL`);
    }
  }

  private signal(pid: number, signal: NodeJS.Signals): void {
    try {
      process.kill(pid, signal);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ESRCH') {
        throw new Error(`cannot signal worker pid ${pid}: ${(error as Error).message}`);
      }
    }
  }

  /** Watches adopted workers (no exit event comes for them) and keeps log files bounded. */
  private ensurePolling(): void {
    if (this.timer || this.closed) return;
    this.timer = setInterval(() => void this.poll(), this.pollIntervalMs);
    this.timer.unref();
  }

  private async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      for (const [monitorId, tracked] of this.tracked) {
        if (tracked.child || tracked.record.exit || this.stopping.has(monitorId)) continue;
        await this.resolve(monitorId);
      }
      if (Date.now() - this.lastLogCheck >= PROCESS_WORKER.logCheckEveryMs) {
        this.lastLogCheck = Date.now();
        for (const [monitorId, tracked] of this.tracked) {
          if (!tracked.record.exit) this.trimLog(this.logPath(monitorId));
        }
      }
    } catch (error) {
      this.logger.warn(`checking worker processes failed: ${(error as Error).message}`);
    } finally {
      this.polling = false;
    }
  }

  /** Cuts a log past logMaxBytes back to its last lines (a line or two written meanwhile may be lost). */
  private trimLog(file: string): void {
    try {
      if (fs.statSync(file).size <= PROCESS_WORKER.logMaxBytes) return;
      const tail = readLogTail(file, Number.MAX_SAFE_INTEGER);
      fs.writeFileSync(file, `${tail}\n`);
    } catch {
      // gone meanwhile
    }
  }

  private async programFingerprint(script: string): Promise<string> {
    let stat: fs.Stats;
    try {
      stat = await fsp.stat(script);
    } catch {
      await this.ping();
      throw new RuntimeUnavailableError(
        `cannot read the ${script === this.relayScript ? 'relay' : 'worker'} program ${script}; ` +
          'build it with "npm run build:worker"',
      );
    }
    const key = `${stat.mtimeMs}:${stat.size}:${stat.ino}`;
    let fingerprint = this.fingerprints.get(script);
    if (fingerprint?.key !== key) {
      const digest = createHash('sha256')
        .update(await fsp.readFile(script))
        .digest('hex');
      fingerprint = {
        key,
        value: `sha256:${digest} node ${process.version} ${this.nodeArgs.join(' ')}`.trimEnd(),
      };
      this.fingerprints.set(script, fingerprint);
    }
    return fingerprint.value;
  }

  private async readRecord(monitorId: string): Promise<ProcessWorkerRecord | null> {
    let text: string;
    try {
      text = await fsp.readFile(this.statePath(monitorId), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
    return this.parseRecord(monitorId, text);
  }

  private readRecordSync(monitorId: string): ProcessWorkerRecord | null {
    try {
      return this.parseRecord(monitorId, fs.readFileSync(this.statePath(monitorId), 'utf8'));
    } catch {
      return null;
    }
  }

  private parseRecord(monitorId: string, text: string): ProcessWorkerRecord | null {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (isRecord(parsed, monitorId)) return parsed;
    this.logger.warn(`ignoring the unreadable worker state file ${this.statePath(monitorId)}`);
    return null;
  }

  /** Atomic: a reader sees the old file or the new one, never half of one. */
  private writeRecord(record: ProcessWorkerRecord): void {
    const file = this.statePath(record.monitorId);
    const temporary = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(temporary, `${JSON.stringify(record, null, 2)}\n`, { mode: 0o600 });
    fs.renameSync(temporary, file);
  }

  /** Removes the worker's state and log, unless they already describe another worker of the monitor. */
  private removeFiles(monitorId: string, pid: number): void {
    const onDisk = this.readRecordSync(monitorId);
    if (onDisk && onDisk.pid !== pid) return;
    for (const file of [this.statePath(monitorId), this.logPath(monitorId)]) {
      try {
        fs.unlinkSync(file);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
          this.logger.warn(`could not remove ${file}: ${(error as Error).message}`);
        }
      }
    }
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

  private eventOf(key: string, kind: WorkerEvent['kind'], exit?: WorkerExit): WorkerEvent {
    return { kind, workload: workloadOfKey(key), exit };
  }

  private emit(event: WorkerEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (error) {
        this.logger.warn(`a worker event listener failed: ${(error as Error).message}`);
      }
    }
  }

  /** One start or stop at a time per monitor. */
  private exclusive<T>(monitorId: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.locks.get(monitorId) ?? Promise.resolve();
    const next = previous.then(fn, fn);
    const settled = next.catch(() => undefined);
    this.locks.set(monitorId, settled);
    void settled.then(() => {
      if (this.locks.get(monitorId) === settled) this.locks.delete(monitorId);
    });
    return next;
  }
}
