/**
 * Where a machine's CPU went over a stretch of time: named processes (by pid) and the whole machine, from
 * /proc (Linux). A benchmark takes a reading before and after what it measures and prints the difference, so a
 * figure bound by CPU shows who spent it, this benchmark's own process included.
 */
import { readFileSync } from 'node:fs';

/** USER_HZ: /proc counts CPU time in hundredths of a second on every Linux this runs on. */
const TICK_MS = 10;

/** A process's CPU so far (user, system or both), in ms; NaN once it is gone. */
export function processCpuMs(pid: number, kind: 'user' | 'system' | 'all' = 'all'): number {
  return statCpuMs(`/proc/${pid}/stat`, kind);
}

/**
 * The CPU so far of a process's main thread alone (the thread whose id is the pid: a Node process's JavaScript
 * thread), in ms; the rest of the process's CPU is its other threads' (V8's garbage collection and compiler
 * helpers, libuv's pool). NaN once it is gone.
 */
export function mainThreadCpuMs(pid: number, kind: 'user' | 'system' | 'all' = 'all'): number {
  return statCpuMs(`/proc/${pid}/task/${pid}/stat`, kind);
}

function statCpuMs(path: string, kind: 'user' | 'system' | 'all'): number {
  try {
    // Fields 14 and 15 of a stat file (after the parenthesised name): utime and stime.
    const text = readFileSync(path, 'utf8');
    const fields = text.slice(text.lastIndexOf(') ') + 2).split(' ');
    const [user, system] = [Number(fields[11]) * TICK_MS, Number(fields[12]) * TICK_MS];
    return kind === 'user' ? user : kind === 'system' ? system : user + system;
  } catch {
    return Number.NaN;
  }
}

/** The whole machine's busy and idle CPU so far, in ms summed over its cores (idle includes I/O wait). */
function machineCpuMs(): { busy: number; idle: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0];
  const [user, nice, system, idle, iowait, irq, softirq, steal] = line.split(/\s+/).slice(1).map(Number);
  return { busy: (user + nice + system + irq + softirq + steal) * TICK_MS, idle: (idle + iowait) * TICK_MS };
}

export interface CpuSpent {
  /** CPU ms of each named group of processes. */
  byName: Map<string, number>;
  /** The machine's busy CPU ms, all processes and the kernel. */
  busy: number;
  /** Its idle CPU ms. */
  idle: number;
}

/** Starts a reading of the named processes (pids read now) and the machine; `stop()` returns what they spent. */
export function cpuLedger(groups: Record<string, readonly number[]>): { stop(): CpuSpent } {
  const read = () =>
    new Map(
      Object.entries(groups).map(([name, pids]) => [name, pids.map((pid) => processCpuMs(pid))] as const),
    );
  const before = read();
  const machineBefore = machineCpuMs();
  return {
    stop() {
      const after = read();
      const machine = machineCpuMs();
      const byName = new Map<string, number>();
      for (const [name, values] of after) {
        const start = before.get(name) ?? [];
        byName.set(
          name,
          values.reduce((sum, value, i) => sum + (value - start[i] || 0), 0),
        );
      }
      return { byName, busy: machine.busy - machineBefore.busy, idle: machine.idle - machineBefore.idle };
    },
  };
}
