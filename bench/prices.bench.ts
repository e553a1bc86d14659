/**
 * Recent prices: GET /monitors/:id/prices over HTTP against the built API (its own process, request logs on),
 * for a worker's full stream: an hour at 1 s (3,600 entries, written as a worker writes them: encodePriceTick,
 * XADD MAXLEN = priceStreamCap; BENCH_ENTRY_FORMAT=1 writes the four-field entries of workers before the
 * one-field JSON format instead, to measure an older build or the API reading a not-yet-replaced worker).
 * While it runs, an appender adds a tick to that stream every BENCH_INTERVAL_MS (trimmed to the cap), as the
 * worker would. Two cases of the endpoint: "steady", the same monitor read again and again (what a dashboard
 * does), and "first read", BENCH_COLD_MONITORS monitors with full streams read in turn (more than the API's cache
 * of recent streams holds, so each read finds nothing kept). Beside them in the same run: the XRANGE of a whole
 * stream from a plain ioredis client (what Redis and the network cost), and GET /health/live (what an HTTP
 * round trip to the API costs). At the end the appender stops and the body served must be the stream's values.
 *
 *   npm run build && npm run bench:prices
 *   BENCH_REQUESTS=500 BENCH_ROUNDS=3 BENCH_INTERVAL_MS=1000 BENCH_ENTRY_FORMAT=2 BENCH_COLD_MONITORS=40 (defaults)
 *   BENCH_API_MAIN=<path to another build's main.js> measures that build instead.
 *
 * Scratch database pairwatch_bench_prices (dropped afterwards), Redis database 8 (BENCH_REDIS_URL; emptied).
 */
import { randomUUID } from 'node:crypto';
import { Agent } from 'node:http';
import Redis from 'ioredis';
import { Client } from 'pg';
import {
  encodePriceTick,
  PriceTick,
  priceStreamCap,
  priceTickJson,
  workerPricesKey,
} from '@pairwatch/contracts';
import {
  BENCH_REDIS_URL,
  dropScratchDatabase,
  elapsedMs,
  fmt,
  median,
  quantile,
  scratchDatabase,
  startApi,
  timedGet,
} from './support/bench-env';

const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 500);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const INTERVAL_MS = Number(process.env.BENCH_INTERVAL_MS ?? 1000);
const DATABASE = 'pairwatch_bench_prices';
const TARGET_P50_MS = 10;
const COLD_MONITORS = Number(process.env.BENCH_COLD_MONITORS ?? 40);
const ENTRY_FORMAT = process.env.BENCH_ENTRY_FORMAT ?? '2';
if (ENTRY_FORMAT !== '1' && ENTRY_FORMAT !== '2') throw new Error('BENCH_ENTRY_FORMAT must be 1 or 2');

/** An entry's fields: today's format (encodePriceTick), or format 1 (at, ask, bid, price). */
function entryFields(tick: PriceTick): string[] {
  return ENTRY_FORMAT === '1'
    ? ['at', tick.at, 'ask', tick.ask, 'bid', tick.bid, 'price', tick.price]
    : encodePriceTick(tick);
}

async function fillStream(redis: Redis, monitorId: string): Promise<number> {
  const cap = priceStreamCap(INTERVAL_MS);
  const key = workerPricesKey(monitorId);
  // All within the last hour for the length of the run: the newest a second ago, INTERVAL_MS apart at most.
  const step = Math.min(INTERVAL_MS, (3_300_000 / cap) | 0);
  const now = Date.now();
  const pipeline = redis.pipeline();
  for (let i = 0; i < cap; i++) {
    const ask = (63_000 + ((i * 7) % 500) + 0.45).toFixed(2);
    const bid = (Number(ask) - 1.25).toFixed(2);
    const at = new Date(now - 1000 - (cap - 1 - i) * step).toISOString();
    pipeline.xadd(key, 'MAXLEN', '=', cap, '*', ...entryFields({ at, ask, bid, price: ask }));
  }
  await pipeline.exec();
  return redis.xlen(key);
}

/** Creates a stopped monitor (the endpoint needs the row; no worker is started for it) with a full stream. */
async function createMonitor(db: Client, redis: Redis): Promise<{ id: string; entries: number }> {
  const id = randomUUID();
  await db.query(
    `INSERT INTO monitors (id, pair, interval_ms, threshold_percent, price_field, direction, cooldown_ms, status)
     VALUES ($1, 'BTC-USD', $2, 0.01, 'ask', 'both', 0, 'stopped')`,
    [id, INTERVAL_MS],
  );
  return { id, entries: await fillStream(redis, id) };
}

async function timeAll(n: number, fn: () => Promise<number>): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) times.push(await fn());
  return times;
}

async function main(): Promise<void> {
  const url = await scratchDatabase(DATABASE);
  const redis = new Redis(BENCH_REDIS_URL);
  await redis.flushdb();
  const api = await startApi(url, 'prices');
  const db = new Client({ connectionString: url });
  await db.connect();
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const { id: monitorId, entries } = await createMonitor(db, redis);
    const coldUrls: string[] = [];
    for (let i = 0; i < COLD_MONITORS; i++)
      coldUrls.push(`${api.url}/monitors/${(await createMonitor(db, redis)).id}/prices`);
    const pricesUrl = `${api.url}/monitors/${monitorId}/prices`;
    const key = workerPricesKey(monitorId);
    const served = (await (await fetch(pricesUrl)).json()) as unknown[];
    if (served.length !== entries) throw new Error(`the API served ${served.length} of ${entries} entries`);
    const bytes = JSON.stringify(served).length;
    // The worker goes on: a tick every interval, the stream trimmed to its cap (on a connection of its own).
    const appender = new Redis(BENCH_REDIS_URL);
    let appended = 0;
    const appending = setInterval(() => {
      const ask = (63_000 + (appended % 500) + 0.45).toFixed(2);
      const tick = { at: new Date().toISOString(), ask, bid: (Number(ask) - 1.25).toFixed(2), price: ask };
      void appender
        .xadd(key, 'MAXLEN', '=', priceStreamCap(INTERVAL_MS), '*', ...entryFields(tick))
        .then(() => (appended += 1));
    }, INTERVAL_MS);
    let cold = 0;

    const cases: [string, () => Promise<number>][] = [
      ['GET /monitors/:id/prices, steady (the API)', () => timedGet(pricesUrl, agent)],
      [
        `GET …/prices, first read (${COLD_MONITORS} in turn)`,
        () => timedGet(coldUrls[cold++ % coldUrls.length], agent),
      ],
      [
        'XRANGE of a whole stream (ioredis, Buffers)',
        async () => {
          const start = performance.now();
          // As the API sends it: xrangeBuffer, no decoding of every id, field and value.
          await redis.xrangeBuffer(key, '-', '+');
          return elapsedMs(start);
        },
      ],
      ['GET /health/live (an HTTP round trip)', () => timedGet(`${api.url}/health/live`, agent)],
    ];
    // Warm up (JIT, connections).
    for (const [, fn] of cases) await timeAll(50, fn);
    const results = new Map<string, { p50: number[]; p99: number[] }>(
      cases.map(([label]) => [label, { p50: [], p99: [] }]),
    );
    for (let round = 0; round < ROUNDS; round++) {
      // Alternate the order, so no case always runs on the warmer machine.
      const order = round % 2 === 0 ? cases : [...cases].reverse();
      for (const [label, fn] of order) {
        const times = await timeAll(REQUESTS, fn);
        results.get(label)!.p50.push(quantile(times, 0.5));
        results.get(label)!.p99.push(quantile(times, 0.99));
      }
    }
    clearInterval(appending);
    await appender.quit();
    // The figures mean nothing if the stream changed meanwhile (another process emptying the Redis database).
    const left = await redis.xlen(key);
    if (left !== entries)
      throw new Error(`the stream held ${left} of ${entries} entries at the end: run again`);
    if (appended === 0) throw new Error('the appender added no tick during the run');
    // And the steady reads served the stream as it is now, appended ticks and trimmed ones included.
    const stored = (await redis.xrange(key, '-', '+')).map(([, f]) =>
      f.length === 2 ? f[1] : priceTickJson({ at: f[1], ask: f[3], bid: f[5], price: f[7] }),
    );
    const last = await (await fetch(pricesUrl)).text();
    if (last !== `[${stored.join(',')}]`)
      throw new Error('the API did not serve the stream as Redis holds it');
    console.log(
      `prices: one monitor's stream of ${fmt(entries)} ticks (an hour at ${fmt(INTERVAL_MS)} ms, entry format ${ENTRY_FORMAT}), ` +
        `${fmt(bytes / 1024, 0)} KB of JSON; ${fmt(appended)} ticks appended during the run; ` +
        `${fmt(REQUESTS)} sequential requests × ${ROUNDS} rounds (medians of the rounds' p50 / p99)`,
    );
    for (const [label, { p50, p99 }] of results) {
      console.log(
        `  ${label.padEnd(44)} p50 ${fmt(median(p50), 2).padStart(6)} ms   p99 ${fmt(median(p99), 2).padStart(6)} ms   [p50s ${p50.map((x) => fmt(x, 2)).join(', ')}]`,
      );
    }
    const api50 = median(results.get(cases[0][0])!.p50);
    const redis50 = median(results.get(cases[2][0])!.p50);
    const http50 = median(results.get(cases[3][0])!.p50);
    console.log(
      `  the API (steady) over XRANGE + a round trip: ${fmt(api50 / (redis50 + http50), 2)}×; first read over steady: ` +
        `${fmt(median(results.get(cases[1][0])!.p50) / api50, 2)}×   (target: steady API p50 ≤ ${TARGET_P50_MS} ms: ${api50 <= TARGET_P50_MS ? 'met' : 'NOT met'})`,
    );
  } finally {
    agent.destroy();
    await db.end();
    await api.stop();
    await redis.flushdb();
    redis.disconnect();
    await dropScratchDatabase(DATABASE);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
