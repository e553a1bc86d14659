import { ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export const WORKER_MAIN = join(__dirname, '../../../dist/worker/main.js');

export interface WorkerLogLine {
  level: string;
  msg: string;
  time?: string;
  alertId?: string;
  event?: { id?: string };
  [field: string]: unknown;
}

/** What a worker's own log says about the alerts it made. */
export interface WorkerAlertLog {
  /** Alerts it made: published at once, or queued until Redis was back. */
  made: string[];
  /** Dropped from a full queue. */
  dropped: string[];
  /** Still queued when it exited (logged in full). */
  undelivered: string[];
}

/** A real worker (`node dist/worker/main.js`) run by the test, with its JSON log kept. */
export interface WorkerProcess {
  monitorId: string;
  pair: string;
  child: ChildProcess;
  lines(): WorkerLogLine[];
  alerts(): WorkerAlertLog;
  alive(): boolean;
  /** SIGTERM, then waits for the exit (SIGKILL after 5 s); resolves with the exit code. */
  stop(): Promise<number | null>;
}

export function spawnWorker(env: Record<string, string> & { PAIR: string }): WorkerProcess {
  if (!existsSync(WORKER_MAIN)) {
    throw new Error(`the worker bundle ${WORKER_MAIN} is missing: run "npm run build:worker" first`);
  }
  const monitorId = env.MONITOR_ID ?? randomUUID();
  const child = spawn(process.execPath, [WORKER_MAIN], {
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      MONITOR_ID: monitorId,
      INTERVAL_MS: '1000',
      THRESHOLD_PERCENT: '0.5',
      LOG_LEVEL: 'info',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const parsed: WorkerLogLine[] = [];
  let partial = '';
  const onData = (chunk: Buffer): void => {
    const text = partial + chunk.toString('utf8');
    const lines = text.split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      if (!line.trim()) continue;
      try {
        parsed.push(JSON.parse(line) as WorkerLogLine);
      } catch {
        parsed.push({ level: 'raw', msg: line });
      }
    }
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

  return {
    monitorId,
    pair: env.PAIR,
    child,
    lines: () => [...parsed],
    alerts: () => alertsFromLog(parsed),
    alive: () => child.exitCode === null && child.signalCode === null,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        const code = await exited;
        clearTimeout(timer);
        return code;
      }
      return exited;
    },
  };
}

/** Reads a worker's JSON log lines for the alerts it made, dropped, or could not deliver. */
export function alertsFromLog(lines: WorkerLogLine[]): WorkerAlertLog {
  const made: string[] = [];
  const dropped: string[] = [];
  const undelivered: string[] = [];
  for (const line of lines) {
    if (line.msg?.startsWith('price oscillation: alert') && line.alertId) made.push(line.alertId);
    else if (line.msg?.startsWith('alert queue full') && line.event?.id) dropped.push(line.event.id);
    else if (line.msg === 'alert not delivered' && line.event?.id) undelivered.push(line.event.id);
  }
  return { made, dropped, undelivered };
}

/** Parses JSON log text (e.g. `docker logs` of a worker container). */
export function parseLogText(text: string): WorkerLogLine[] {
  const lines: WorkerLogLine[] = [];
  for (const raw of text.split('\n')) {
    const start = raw.indexOf('{');
    if (start < 0) continue;
    try {
      lines.push(JSON.parse(raw.slice(start)) as WorkerLogLine);
    } catch {
      // not a log line
    }
  }
  return lines;
}
