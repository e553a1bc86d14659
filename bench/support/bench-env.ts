/**
 * What the benchmarks share: scratch databases (pairwatch_bench_*), the benchmark Redis database, the built API
 * run as its own process (as `npm run start:api` runs it, logs included), and the statistics they print.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { Agent, request } from 'node:http';
import { closeSync, existsSync, openSync, readFileSync, readSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client } from 'pg';
import { freePort } from '../../test/support/faults/util';
import { processCpuMs } from './cpu-ledger';

export const ADMIN_DATABASE_URL =
  process.env.BENCH_ADMIN_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
/** Redis logical database of the benchmarks (the e2e suites use others). */
export const BENCH_REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/14';

const ROOT = resolve(__dirname, '../..');

export function databaseUrl(name: string): string {
  const url = new URL(ADMIN_DATABASE_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

async function admin(sql: string): Promise<void> {
  const client = new Client({ connectionString: ADMIN_DATABASE_URL });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

function checkScratchName(name: string): void {
  if (!/^pairwatch_bench_[a-z0-9_]+$/.test(name)) throw new Error(`not a scratch database name: ${name}`);
}

/** Creates the scratch database afresh, or keeps it when `keep` and it exists. */
export async function scratchDatabase(name: string, keep = false): Promise<string> {
  checkScratchName(name);
  if (!keep) await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin(`CREATE DATABASE ${name}`).catch((error: Error) => {
    if (!(keep && /already exists/.test(error.message))) throw error;
  });
  return databaseUrl(name);
}

export async function dropScratchDatabase(name: string): Promise<void> {
  checkScratchName(name);
  await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
}

/** The API's entry point: BENCH_API_MAIN (e.g. an older build, to measure "before"), else package.json's start:api. */
function apiMain(): string {
  if (process.env.BENCH_API_MAIN) return resolve(process.env.BENCH_API_MAIN);
  const scripts = (
    JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }
  ).scripts;
  const match = /^node\s+(\S+)/.exec(scripts['start:api'] ?? '');
  if (!match) throw new Error('package.json has no "start:api": node <entry> script');
  return join(ROOT, match[1]);
}

/** The API logs each stored alert as a JSON line with this message. */
const ALERT_LOG_MARKER = '"msg":"alert"';

export interface BenchApi {
  url: string;
  /** The API process's pid. */
  pid: number;
  /** CPU time the API process has used so far (user + system), in ms; Linux only (/proc), else NaN. */
  cpuMs(kind?: 'user' | 'system' | 'all'): number;
  /** How many "alert" lines (one per stored alert) the API has logged on stdout since it started. */
  alertLogLines(): number;
  /** The lines the API has logged on stdout so far that contain `marker`, parsed as JSON. */
  logged(marker: string): Array<Record<string, unknown>>;
  stop(): Promise<void>;
}

/**
 * Runs the built API (`npm run build` first) against the scratch database and the benchmark Redis database,
 * with info-level logs written to a file, as a deployment would write them to its log pipe. `env` adds to
 * (or overrides) its environment, e.g. WEBHOOK_ALLOWED_HOSTS, or a Docker runtime and the relay for
 * bench/scale.bench.ts.
 */
export async function startApi(
  databaseUrlValue: string,
  name: string,
  env: Record<string, string> = {},
  readyTimeoutMs = 60_000,
): Promise<BenchApi> {
  const main = apiMain();
  if (!existsSync(main))
    throw new Error(`the API is not built (${main} is missing): run "npm run build" first`);
  const port = await freePort();
  const logPath = join(tmpdir(), `pairwatch-${name}-${process.pid}.log`);
  const logFd = openSync(logPath, 'w');
  let stderr = '';
  const nodeArgs = process.env.BENCH_API_NODE_ARGS?.split(/\s+/).filter(Boolean) ?? [];
  const child: ChildProcess = spawn(process.execPath, [...nodeArgs, main], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      PORT: String(port),
      DATABASE_URL: databaseUrlValue,
      REDIS_URL: BENCH_REDIS_URL,
      // No containers: the benchmarks start no monitors, and the process runtime needs no engine.
      WORKER_RUNTIME: 'process',
      // No relay either: it would listen on RELAY_PORT and outlive the benchmark's API.
      UPHOLD_RELAY: 'off',
      PAIRWATCH_INSTANCE: `bench-${name}`,
      UPHOLD_API_URL: 'http://127.0.0.1:9',
      LOG_LEVEL: 'info',
      // A fixed benchmark key: the API refuses to start without one.
      SECRETS_KEY: Buffer.alloc(32, 9).toString('base64'),
      ...env,
    },
    stdio: ['ignore', logFd, 'pipe'],
  });
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    if (child.exitCode !== null)
      throw new Error(`the API exited with ${child.exitCode}: ${stderr.slice(-2000)}`);
    const up = await fetch(`${url}/health`).then(
      () => true,
      () => false,
    );
    if (up) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`the API did not answer within ${readyTimeoutMs} ms: ${stderr.slice(-2000)}`);
    }
    await sleep(200);
  }
  // Counts as the log grows, reading each byte once (a burst writes tens of megabytes).
  const readFd = openSync(logPath, 'r');
  const buffer = Buffer.alloc(1 << 20);
  let offset = 0;
  let tail = '';
  let alertLines = 0;
  const alertLogLines = (): number => {
    for (let read = 1; read > 0;) {
      read = readSync(readFd, buffer, 0, buffer.length, offset);
      offset += read;
      const lines = (tail + buffer.toString('latin1', 0, read)).split('\n');
      tail = lines.pop() ?? '';
      for (const line of lines) if (line.includes(ALERT_LOG_MARKER)) alertLines += 1;
    }
    return alertLines;
  };
  const cpuMs = (kind: 'user' | 'system' | 'all' = 'all'): number => processCpuMs(child.pid ?? -1, kind);
  const logged = (marker: string): Array<Record<string, unknown>> =>
    readFileSync(logPath, 'utf8')
      .split('\n')
      .filter((line) => line.includes(marker))
      .flatMap((line) => {
        try {
          return [JSON.parse(line) as Record<string, unknown>];
        } catch {
          return [];
        }
      });
  return {
    url,
    pid: child.pid ?? -1,
    cpuMs,
    alertLogLines,
    logged,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
      closeSync(logFd);
      closeSync(readFd);
      // BENCH_KEEP_LOG=1 keeps the API's log for a look afterwards.
      if (process.env.BENCH_KEEP_LOG) console.log(`the API's log: ${logPath}`);
      else unlinkSync(logPath);
    },
  };
}

/**
 * A full garbage collection now, where the benchmark runs with --expose-gc: a benchmark that built its input
 * (tens of megabytes) collects it before the clock starts, not while it measures. A no-op without the flag.
 */
export function collectGarbage(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

export const sleep = (ms: number): Promise<void> => new Promise((done) => setTimeout(done, ms));

/** Waits for `probe` to be true, polling every `everyMs`, failing after `timeoutMs`. */
export async function until(
  what: string,
  probe: () => Promise<boolean>,
  timeoutMs: number,
  everyMs = 2,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** The q-th quantile (0..1) of the samples, nearest rank. */
export function quantile(samples: readonly number[], q: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/** The middle sample (the mean of the two middle ones for an even count). */
export function median(samples: readonly number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export const fmt = (value: number, digits = 0): string =>
  value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

/** Milliseconds since `start` (performance.now()). */
export const elapsedMs = (start: number): number => performance.now() - start;

/** One GET through `agent`, timed from the request to the last byte of the answer; rejects unless 200. */
export function timedGet(url: string, agent: Agent, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const req = request(url, { agent, headers }, (res) => {
      const status = res.statusCode;
      res.on('data', () => undefined);
      res.on('end', () => {
        if (status !== 200) reject(new Error(`GET ${url} answered ${status}`));
        else resolve(elapsedMs(start));
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}
