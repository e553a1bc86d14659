/**
 * The CPU a worker's start costs with an hour of ticks to replay (issue 19's start figure), outside Docker: the
 * bundled worker (dist/worker/main.js, as the image runs it) started as a child process against Redis and the fake
 * ticker, ten rules (the rules bench's), with an hour of ticks in its recent-tick stream or none, alternated. Per
 * start: the CPU of every thread of the process (/proc/<pid>/task/<tid>/schedstat, nanoseconds) from spawn to its
 * first live tick, and the wall time from its "worker started" line to that tick. Medians of BENCH_PROBE_RUNS.
 *
 *   npm run build:worker && BENCH_REDIS_URL=redis://127.0.0.1:6379/12 npx ts-node -r tsconfig-paths/register \
 *     --transpile-only bench/replay-cpu.probe.ts [worker main.js ...]
 *
 * Each argument is a worker bundle (default dist/worker/main.js); several are alternated start by start.
 * BENCH_PROBE_NODE_ARGS: extra node flags (e.g. --cpu-prof --cpu-prof-dir=/tmp/prof).
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import Redis from 'ioredis';
import {
  parseRulesInput,
  parseWorkerState,
  standaloneRedis,
  toWorkerEnv,
  workerStateKey,
} from '@pairwatch/contracts';
import { FakeUpholdServer } from '../apps/fake-ticker/src/fake-uphold.server';
import { BENCH_REDIS_URL, fmt, median, until } from './support/bench-env';
import { series, storeTicks, TEN_RULES_INPUT } from './support/rules-fixtures';

const RUNS = Number(process.env.BENCH_PROBE_RUNS ?? 7);
const HOUR = 3600;
const NODE_ARGS = (process.env.BENCH_PROBE_NODE_ARGS ?? '').split(' ').filter(Boolean);

/** CPU of every thread of `pid` so far, ms. */
function cpuMs(pid: number): number {
  let ns = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // the thread ended
    }
  }
  return ns / 1e6;
}

async function main(): Promise<void> {
  const bundles = (process.argv.length > 2 ? process.argv.slice(2) : ['dist/worker/main.js']).map((b) =>
    resolve(b),
  );
  const parsed = parseRulesInput(TEN_RULES_INPUT, { intervalMs: 1000, now: Date.now() });
  if (!parsed.ok) throw new Error('rules');
  const ticker = new FakeUpholdServer();
  ticker.setQuote('BTC-USD', { ask: '60000.50', bid: '59999.50' });
  const tickerUrl = (await ticker.start(0, '127.0.0.1')).url;
  const redis = new Redis(BENCH_REDIS_URL);
  await redis.flushdb();
  const results = new Map<string, { cpu: number[]; live: number[] }>();
  for (const [b, replay] of bundles.flatMap((b) => [false, true].map((r) => [b, r] as const)))
    results.set(`${b} ${replay ? 'hour' : 'none'}`, { cpu: [], live: [] });
  try {
    for (let run = 0; run < RUNS; run++) {
      for (const bundle of bundles) {
        for (const replay of [false, true]) {
          const monitorId = randomUUID();
          if (replay) await storeTicks(redis, monitorId, series(HOUR, Date.now() - HOUR * 1000, 10 + run));
          const env = toWorkerEnv({
            monitorId,
            pair: 'BTC-USD',
            intervalMs: 1000,
            rules: parsed.rules,
            upholdApiUrl: tickerUrl,
            redis: standaloneRedis(BENCH_REDIS_URL),
            requestTimeoutMs: 5000,
            logLevel: 'info',
          });
          const t0 = Date.now();
          const child = spawn(process.execPath, [...NODE_ARGS, bundle], {
            env: { ...env, PATH: process.env.PATH ?? '' },
            stdio: ['ignore', 'pipe', 'inherit'],
          });
          let out = '';
          child.stdout.on('data', (d: Buffer) => (out += d.toString()));
          let cpu = 0;
          let tickAt = 0;
          await until(
            'first live tick',
            async () => {
              const state = parseWorkerState(await redis.hgetall(workerStateKey(monitorId)));
              if (state.ok && state.state.lastTickAt) {
                cpu = cpuMs(child.pid!);
                tickAt = Date.parse(state.state.lastTickAt);
              }
              return tickAt >= t0;
            },
            30_000,
            2,
          );
          child.kill('SIGTERM');
          await new Promise((r) => child.once('exit', r));
          const line = out.split('\n').find((l) => l.includes('"worker started"'));
          const started = line ? Date.parse(/"time":"([^"]+)"/.exec(line)![1]) : NaN;
          if (replay && !out.includes('replayed stored ticks')) throw new Error('no replay logged');
          const r = results.get(`${bundle} ${replay ? 'hour' : 'none'}`)!;
          r.cpu.push(cpu);
          r.live.push(tickAt - started);
        }
      }
    }
    for (const [name, r] of results) {
      console.log(
        `${name}: CPU to first tick median ${fmt(median(r.cpu), 1)} ms (${r.cpu.map((x) => fmt(x)).join(', ')}); ` +
          `"worker started" → tick median ${fmt(median(r.live))} ms`,
      );
    }
  } finally {
    await ticker.stop();
    await redis.flushdb();
    redis.disconnect();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
