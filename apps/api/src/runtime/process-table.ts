import { ChildProcess, execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import * as path from 'node:path';
import { RELAY_KEY, RuntimeUnavailableError, WorkloadSpec } from './worker-runtime';
import { waitFor } from '../common/concurrency';

/**
 * The process runtime's dealings with the operating system: start a workload's program as a detached process,
 * tell whether a pid still runs that workload, stop it. Nothing here knows about state files or events.
 */

const HAS_PROC = fs.existsSync('/proc/self/cmdline');

/**
 * The workload's environment: exactly its own variables plus the API's PATH, and for the relay its role. A
 * worker's MONITOR_ID, or the relay's PAIRWATCH_ROLE, tells it apart from other processes of the same script.
 */
export function childEnv(spec: WorkloadSpec, hostPath: string | undefined): Record<string, string> {
  const env: Record<string, string> = { ...(hostPath !== undefined ? { PATH: hostPath } : {}), ...spec.env };
  if (spec.role === 'relay') env.PAIRWATCH_ROLE = 'relay';
  return env;
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
 * read, the workload of `key`. A pid the system reused for anything else is never taken for a workload.
 */
export async function isWorkerProcess(pid: number, script: string, key: string): Promise<boolean> {
  if (!Number.isInteger(pid) || pid <= 1 || pid === process.pid) return false;
  if (await processGone(pid)) return false;
  const isNode = (program: string) => /node/i.test(path.basename(program));
  if (!HAS_PROC) {
    const args = await new Promise<string | null>((resolve) =>
      execFile('ps', ['-o', 'args=', '-p', String(pid)], (error, stdout) => {
        const text = String(stdout ?? '').trim();
        resolve(error || text === '' ? null : text);
      }),
    );
    return args !== null && isNode(args.split(' ')[0]) && args.includes(script);
  }
  let args: string[];
  try {
    args = (await fsp.readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').filter((a) => a !== '');
  } catch {
    return false;
  }
  if (args.length < 2 || !isNode(args[0]) || !args.slice(1).includes(script)) return false;
  try {
    const environ = (await fsp.readFile(`/proc/${pid}/environ`, 'utf8')).split('\0');
    return environ.includes(key === RELAY_KEY ? 'PAIRWATCH_ROLE=relay' : `MONITOR_ID=${key}`);
  } catch (error) {
    // Another user's process: its command line must do (we could not signal it anyway).
    return (error as NodeJS.ErrnoException).code === 'EACCES';
  }
}

/**
 * Starts `node ...args` (the script last) detached: its own process group, so it outlives an API restart; its
 * output appended to `logFile` (append mode, so the file can be cut back while it writes).
 */
export async function spawnDetached(
  args: string[],
  env: Record<string, string>,
  logFile: string,
): Promise<ChildProcess> {
  const { O_WRONLY, O_CREAT, O_TRUNC, O_APPEND } = fs.constants;
  try {
    const logFd = fs.openSync(logFile, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0o600);
    let child: ChildProcess;
    try {
      const cwd = path.dirname(args[args.length - 1]);
      child = spawn(process.execPath, args, { env, cwd, stdio: ['ignore', logFd, logFd], detached: true });
    } finally {
      fs.closeSync(logFd);
    }
    await new Promise((resolve, reject) => child.once('spawn', resolve).once('error', reject));
    child.unref();
    return child;
  } catch (error) {
    throw new RuntimeUnavailableError(`could not start the process: ${(error as Error).message}`);
  }
}

/**
 * Stops a workload's process while `ours()` says the pid still runs it: SIGTERM, and SIGKILL after `graceMs`.
 * Answers whether it had to kill.
 */
export async function stopPid(
  pid: number,
  ours: () => Promise<boolean>,
  graceMs: number,
  killMs: number,
): Promise<boolean> {
  if (!(await ours())) return false;
  signal(pid, 'SIGTERM');
  if ((await waitUntilGone(pid, graceMs)) || !(await ours())) return false;
  signal(pid, 'SIGKILL');
  if (!(await waitUntilGone(pid, killMs))) throw new Error(`pid ${pid} did not exit after SIGKILL`);
  return true;
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') {
      throw new Error(`cannot signal pid ${pid}: ${(error as Error).message}`);
    }
  }
}

async function waitUntilGone(pid: number, timeoutMs: number): Promise<boolean> {
  return (await waitFor(timeoutMs, 50, async () => (await processGone(pid)) || undefined)) ?? false;
}
