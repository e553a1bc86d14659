/**
 * What the relay saves upstream (issue 8): N pairs (default 300 over USD, EUR, BTC) at one interval against
 * the fake ticker, relay off then relay on, in the same run:
 *
 * - upstream requests a minute, counted by the fake ticker (every request of both endpoints) over a window;
 * - the age of the price each worker evaluated: the fake stamps every pair's price with the time it was set
 *   (ask = that instant in epoch ms, re-stamped every BENCH_STAMP_MS), and each worker's own report
 *   (`pairwatch:worker:{id}` in Redis, lastTickAt and lastPrice) gives when the worker evaluated which
 *   price: age = lastTickAt − lastPrice (of which up to BENCH_STAMP_MS is the stamp's own granularity);
 * - the ratio relay on / relay off.
 *
 * The relay is its real program (dist/worker/relay.js, what the image and the process runtime run) as a child
 * process; the workers are the real worker (WorkerApp: poller, ticker client, detector, Redis publisher), N of
 * them inside this process to keep the run light: the requests they make and the reports they write are the
 * ones N worker containers make.
 *
 *   npm run build && flock /work/wt/bench.lock npm run bench:upstream
 *   BENCH_PAIRS=300 BENCH_INTERVAL_MS=5000 BENCH_WINDOW_MS=60000 BENCH_STAMP_MS=100 (defaults);
 *   BENCH_RELAY_SCRIPT=<another build's relay.js> measures that relay.
 *
 * Redis database 8 (BENCH_REDIS_URL; emptied before and after).
 */
import { ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import Redis from 'ioredis';
import {
  legacyMoveRule,
  parseWorkerEnv,
  parseWorkerState,
  standaloneRedis,
  toRelayEnv,
  toWorkerEnv,
  workerStateKey,
} from '@pairwatch/contracts';
import { FakeUpholdServer } from '../apps/fake-ticker/src/fake-uphold.server';
import { syntheticPairs } from '../apps/fake-ticker/src/fake-ticker.config';
import {
  AlertPublisher,
  createWorkerRedis,
  IoRedisTransactions,
  publisherOptions,
} from '../apps/worker/src/alert-publisher';
import { UpholdTickerClient } from '../apps/worker/src/uphold-ticker.client';
import { WorkerApp } from '../apps/worker/src/worker.app';
import { createWorkerLogger } from '../apps/worker/src/worker.logger';
import { freePort } from '../test/support/faults/util';
import { BENCH_REDIS_URL, fmt, quantile, sleep, until } from './support/bench-env';

const PAIRS = Number(process.env.BENCH_PAIRS ?? 300);
const INTERVAL_MS = Number(process.env.BENCH_INTERVAL_MS ?? 5000);
const WINDOW_MS = Number(process.env.BENCH_WINDOW_MS ?? 60_000);
const STAMP_MS = Number(process.env.BENCH_STAMP_MS ?? 100);
const RATE_LIMIT_PER_MIN = 250;
const CURRENCIES = ['USD', 'EUR', 'BTC'];
/** The relay program measured: this tree's build, or another build's relay.js (BENCH_RELAY_SCRIPT). */
const RELAY_SCRIPT = resolve(process.env.BENCH_RELAY_SCRIPT ?? resolve(__dirname, '../dist/worker/relay.js'));

interface Phase {
  requestsPerMin: number;
  byEndpoint: Record<string, number>;
  ages: number[];
  rateLimited: number;
}

/** The fake's price of `pair` at `now`: the instant itself, so that a price tells when it was set. */
function stamp(ticker: FakeUpholdServer, pairs: readonly string[]): void {
  const now = Date.now();
  for (const pair of pairs) ticker.setQuote(pair, { ask: String(now), bid: String(now - 1) });
}

async function startRelay(upstreamUrl: string): Promise<{ url: string; stop(): Promise<void> }> {
  if (!existsSync(RELAY_SCRIPT)) throw new Error(`${RELAY_SCRIPT} is missing: run "npm run build" first`);
  const port = await freePort();
  const env = toRelayEnv({
    host: '127.0.0.1',
    port,
    upholdApiUrl: upstreamUrl,
    rateLimitPerMin: RATE_LIMIT_PER_MIN,
    requestTimeoutMs: 5000,
    logLevel: 'warn',
  });
  const child: ChildProcess = spawn(process.execPath, [RELAY_SCRIPT], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  const url = `http://127.0.0.1:${port}`;
  await until(
    'the relay to answer /healthz',
    () =>
      fetch(`${url}/healthz`).then(
        (r) => r.ok,
        () => false,
      ),
    30_000,
    100,
  );
  return {
    url,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** N real workers in this process, polling `tickerUrl`; resolves once every one has reported a tick. */
async function runPhase(
  name: string,
  ticker: FakeUpholdServer,
  pairs: readonly string[],
  tickerUrl: string,
  redis: Redis,
): Promise<Phase> {
  const logger = createWorkerLogger({ level: 'warn', service: `bench-${name}` });
  const workers = pairs.map((pair) => {
    const settings = parseWorkerEnv(
      toWorkerEnv({
        monitorId: randomUUID(),
        pair,
        intervalMs: INTERVAL_MS,
        // No alert: prices move by the stamp, a few parts in 10^10 per interval.
        rules: [legacyMoveRule({ thresholdPercent: '5' })],
        upholdApiUrl: tickerUrl,
        redis: standaloneRedis(BENCH_REDIS_URL),
        requestTimeoutMs: 5000,
        logLevel: 'warn',
      }),
    );
    const connection = createWorkerRedis(settings.redis, logger, `bench-worker:${settings.monitorId}`);
    const publisher = new AlertPublisher(
      new IoRedisTransactions(connection),
      publisherOptions(settings, logger),
    );
    const client = new UpholdTickerClient({
      baseUrl: settings.upholdApiUrl,
      requestTimeoutMs: settings.requestTimeoutMs,
      intervalMs: settings.intervalMs,
    });
    const app = new WorkerApp({ settings, ticker: client, publisher, logger });
    return { id: settings.monitorId, app, done: app.run() };
  });
  const readStates = async () => {
    const pipeline = redis.pipeline();
    for (const w of workers) pipeline.hgetall(workerStateKey(w.id));
    const results = (await pipeline.exec()) ?? [];
    return results.map(([, hash]) => parseWorkerState(hash as Record<string, string>));
  };
  try {
    // Warm-up: every worker has ticked once, and a whole interval more has passed (the relay's lists fill).
    await until(
      `all ${workers.length} ${name} workers to report a tick`,
      async () => (await readStates()).every((s) => s.ok && s.state.lastTickAt !== undefined),
      120_000,
      500,
    );
    await sleep(INTERVAL_MS);

    const since = ticker.stats().now;
    const seen = new Set<string>();
    const ages: number[] = [];
    let rateLimited = 0;
    const end = Date.now() + WINDOW_MS;
    while (Date.now() < end) {
      const states = await readStates();
      states.forEach((parsed, i) => {
        if (!parsed.ok || !parsed.state.lastTickAt || !parsed.state.lastPrice) return;
        if (parsed.state.status === 'rate-limited') rateLimited += 1;
        const key = `${workers[i].id}@${parsed.state.lastTickAt}`;
        if (seen.has(key)) return;
        seen.add(key);
        ages.push(Date.parse(parsed.state.lastTickAt) - Number(parsed.state.lastPrice));
      });
      await sleep(Math.min(1000, INTERVAL_MS / 4));
    }
    const stats = ticker.stats(since);
    const minutes = (stats.now - since) / 60_000;
    return {
      requestsPerMin: stats.requests / minutes,
      byEndpoint: {
        pair: stats.byEndpoint.pair.requests / minutes,
        list: stats.byEndpoint.list.requests / minutes,
      },
      ages,
      rateLimited,
    };
  } finally {
    for (const w of workers) w.app.requestStop();
    await Promise.all(workers.map((w) => w.done));
  }
}

async function main(): Promise<void> {
  const pairs = syntheticPairs(PAIRS, CURRENCIES);
  const ticker = new FakeUpholdServer();
  stamp(ticker, pairs);
  const stamper = setInterval(() => stamp(ticker, pairs), STAMP_MS);
  const { url: tickerUrl } = await ticker.start(0, '127.0.0.1');
  const redis = new Redis(BENCH_REDIS_URL);
  await redis.flushdb();
  let relay: { url: string; stop(): Promise<void> } | undefined;
  try {
    const off = await runPhase('relay-off', ticker, pairs, tickerUrl, redis);
    await redis.flushdb();
    relay = await startRelay(tickerUrl);
    const on = await runPhase('relay-on', ticker, pairs, relay.url, redis);

    const line = (name: string, p: Phase) =>
      `  ${name}: ${fmt(p.requestsPerMin, 1)} upstream requests/min (pair endpoint ${fmt(p.byEndpoint.pair, 1)}, ` +
      `lists ${fmt(p.byEndpoint.list, 1)}); price age p50 ${fmt(quantile(p.ages, 0.5))} ms, ` +
      `p99 ${fmt(quantile(p.ages, 0.99))} ms, max ${fmt(quantile(p.ages, 1))} ms over ${fmt(p.ages.length)} ticks` +
      (p.rateLimited > 0 ? `; ${p.rateLimited} rate-limited reports seen` : '');
    console.log(
      `upstream: ${PAIRS} pairs over ${CURRENCIES.join(', ')} at ${INTERVAL_MS} ms, counted at the fake ticker over ` +
        `${fmt(WINDOW_MS / 1000)} s after a warm-up; relay = ${RELAY_SCRIPT} as a child process, workers = ` +
        `the worker program (WorkerApp) ×${PAIRS} in the benchmark's process; price stamps every ${STAMP_MS} ms`,
    );
    console.log(line('relay off (baseline, one request per pair per interval)', off));
    console.log(line('relay on ', on));
    console.log(
      `  ratio on / off: ${fmt(on.requestsPerMin / off.requestsPerMin, 4)} = 1/${fmt(off.requestsPerMin / on.requestsPerMin, 0)} ` +
        `(target ≤ 1/100); price age p99 with the relay ${fmt(quantile(on.ages, 0.99))} ms (target ≤ ${INTERVAL_MS} ms)`,
    );
  } finally {
    clearInterval(stamper);
    await relay?.stop();
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
