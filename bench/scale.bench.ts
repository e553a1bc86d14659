/**
 * Many monitors on one machine (issue 8, part 5): the built API as its own process, the real Docker engine
 * (one worker container per monitor, the relay in its container, WORKER_NETWORK=host), the fake ticker with
 * N synthetic pairs over three currencies. It measures
 *
 * - the time from the first POST /monitors until 100 and until N monitors are created (BENCH_CONCURRENCY POSTs
 *   at a time), and until each of those sets has ticked once (the worker's lastTickAt in GET /monitors);
 * - GET /monitors and GET /health at N monitors, p50 / p99 of sequential requests, beside the baseline of the
 *   same run: the Postgres query of the monitors and a Redis PING, from this process;
 * - one reconcile pass at N monitors (the supervisor's own "reconcile pass" debug line, durationMs);
 * - each worker's and the relay's memory: the container's cgroup (usage minus inactive file cache, as
 *   `docker stats` shows it, and rss), median and max over the workers.
 *
 *   npm run build && flock /work/wt/bench.lock npm run bench:scale
 *   BENCH_MONITORS=300 BENCH_CONCURRENCY=10 BENCH_REQUESTS=200 BENCH_INTERVAL_MS=5000 (defaults);
 *   WORKER_IMAGE (pairwatch-worker:latest); BENCH_API_MAIN=<another build's main.js> measures that build.
 *
 * Scratch database pairwatch_bench_scale (dropped afterwards), Redis database 8 (BENCH_REDIS_URL; emptied),
 * containers labelled pairwatch.instance=bench-scale: every one is removed at the end, and on failure.
 */
import { readFileSync } from 'node:fs';
import Docker from 'dockerode';
import Redis from 'ioredis';
import { Client } from 'pg';
import { FakeUpholdServer } from '../apps/fake-ticker/src/fake-uphold.server';
import { syntheticPairs } from '../apps/fake-ticker/src/fake-ticker.config';
import { seedQuote } from '../apps/fake-ticker/src/random-walk';
import { removeContainers } from '../test/support/docker';
import { freePort } from '../test/support/faults/util';
import {
  BENCH_REDIS_URL,
  BenchApi,
  dropScratchDatabase,
  elapsedMs,
  fmt,
  median,
  quantile,
  scratchDatabase,
  sleep,
  startApi,
  until,
} from './support/bench-env';

const MONITORS = Number(process.env.BENCH_MONITORS ?? process.env.N ?? 300);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 10);
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 200);
const INTERVAL_MS = Number(process.env.BENCH_INTERVAL_MS ?? 5000);
const WORKER_IMAGE = process.env.WORKER_IMAGE ?? 'pairwatch-worker:latest';
const CURRENCIES = ['USD', 'EUR', 'BTC'];
const DATABASE = 'pairwatch_bench_scale';
const INSTANCE = 'bench-scale';
/** The first milestone the issue names. */
const FIRST = Math.min(100, MONITORS);

const docker = new Docker();

interface MonitorBody {
  id: string;
  pair: string;
  status: string;
  worker: { state: string; lastTickAt: string | null } | null;
}

/** Every container of the benchmark's installation (workers and relay). */
function ownContainers(): Promise<Docker.ContainerInfo[]> {
  return docker.listContainers({ all: true, filters: { label: [`pairwatch.instance=${INSTANCE}`] } });
}

/** Removes this benchmark's containers (see removeContainers); answers how many. */
const removeOwnContainers = (): Promise<number> => removeContainers([`pairwatch.instance=${INSTANCE}`]);

/** A container's memory as `docker stats` counts it (usage − inactive file cache) and its rss, in MiB. */
function containerMemory(id: string): { usage: number; rss: number } {
  const base = `/sys/fs/cgroup/memory/docker/${id}`;
  const stat = Object.fromEntries(
    readFileSync(`${base}/memory.stat`, 'utf8')
      .trim()
      .split('\n')
      .map((line) => line.split(' ') as [string, string])
      .map(([key, value]) => [key, Number(value)]),
  );
  const usage = Number(readFileSync(`${base}/memory.usage_in_bytes`, 'utf8'));
  const mib = (bytes: number) => bytes / (1024 * 1024);
  return { usage: mib(usage - (stat.total_inactive_file ?? 0)), rss: mib(stat.total_rss ?? stat.rss ?? 0) };
}

async function json<T>(url: string, init?: RequestInit): Promise<{ status: number; body: T }> {
  const response = await fetch(url, init);
  return { status: response.status, body: (await response.json()) as T };
}

/** Sequential GETs, each answer read to its end; ms per request. */
async function timeRequests(url: string, n: number): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const start = performance.now();
    const response = await fetch(url);
    await response.arrayBuffer();
    samples.push(elapsedMs(start));
    if (response.status !== 200 && !url.endsWith('/health'))
      throw new Error(`GET ${url} answered ${response.status}`);
  }
  return samples;
}

async function timeCalls(n: number, call: () => Promise<unknown>): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const start = performance.now();
    await call();
    samples.push(elapsedMs(start));
  }
  return samples;
}

const pct = (samples: number[]) =>
  `p50 ${fmt(quantile(samples, 0.5), 1)} ms   p99 ${fmt(quantile(samples, 0.99), 1)} ms`;

async function main(): Promise<void> {
  const pairs = syntheticPairs(MONITORS, CURRENCIES);
  const ticker = new FakeUpholdServer();
  for (const pair of pairs) ticker.setQuote(pair, seedQuote(pair));
  const tickerUrl = (await ticker.start(0, '127.0.0.1')).url;
  const url = await scratchDatabase(DATABASE);
  const redis = new Redis(BENCH_REDIS_URL);
  await redis.flushdb();
  const leftovers = await removeOwnContainers();
  if (leftovers > 0) console.log(`removed ${leftovers} container(s) an earlier run left`);

  let api: BenchApi | undefined;
  const cleanUp = async () => {
    await api?.stop().catch(() => undefined);
    api = undefined;
    const removed = await removeOwnContainers();
    console.log(`cleanup: removed ${removed} container(s) (label pairwatch.instance=${INSTANCE})`);
  };
  const onSignal = () => void cleanUp().finally(() => process.exit(130));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const db = new Client({ connectionString: url });
  const relayPort = await freePort();
  try {
    api = await startApi(url, 'scale', {
      WORKER_RUNTIME: 'docker',
      WORKER_NETWORK: 'host',
      WORKER_IMAGE,
      UPHOLD_RELAY: 'on',
      RELAY_PORT: String(relayPort),
      UPHOLD_API_URL: tickerUrl,
      PAIRWATCH_INSTANCE: INSTANCE,
      MONITOR_CREATE_LIMIT_PER_MIN: '1000000',
      // The supervisor's pass line is at debug level.
      LOG_LEVEL: 'debug',
    });
    await db.connect();
    const base = api.url;
    await until(
      'the relay to be up',
      async () => (await json<{ relay: { status: string } }>(`${base}/health`)).body.relay.status === 'up',
      60_000,
      200,
    );

    // ---- creation, ten POSTs at a time ----
    const created: MonitorBody[] = new Array<MonitorBody>(pairs.length);
    const createdAt: number[] = new Array<number>(pairs.length);
    let next = 0;
    const start = performance.now();
    // A 503 ("nothing was created": the relay's pair check did not answer in time on a loaded machine) is
    // asked again after a second, as a client would; how many there were is printed.
    let refused503 = 0;
    const poster = async () => {
      for (let i = next++; i < pairs.length; i = next++) {
        for (;;) {
          const res = await json<MonitorBody>(`${base}/monitors`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ pair: pairs[i], intervalMs: INTERVAL_MS, thresholdPercent: 5 }),
          });
          if (res.status === 503 && refused503 < pairs.length) {
            refused503 += 1;
            await sleep(1000);
            continue;
          }
          if (res.status !== 201)
            throw new Error(`POST ${pairs[i]} answered ${res.status}: ${JSON.stringify(res.body)}`);
          created[i] = res.body;
          createdAt[i] = elapsedMs(start);
          break;
        }
      }
    };
    // Ticks are watched from GET /monitors while the monitors are being created.
    const tickedAt = new Map<string, number>();
    let creating = true;
    let failed = false;
    const watcher = (async () => {
      while (!failed && (creating || tickedAt.size < pairs.length)) {
        const { body } = await json<MonitorBody[]>(`${base}/monitors`);
        const now = elapsedMs(start);
        for (const m of body) if (m.worker?.lastTickAt && !tickedAt.has(m.id)) tickedAt.set(m.id, now);
        if (elapsedMs(start) > 600_000) throw new Error(`only ${tickedAt.size} monitors ticked in 600 s`);
        await sleep(250);
      }
    })();
    watcher.catch(() => undefined); // awaited below; this keeps an early failure from being "unhandled"
    try {
      await Promise.all(Array.from({ length: CONCURRENCY }, poster));
    } catch (error) {
      failed = true;
      await watcher.catch(() => undefined);
      throw error;
    } finally {
      creating = false;
    }
    const sortedCreated = [...createdAt].sort((a, b) => a - b);
    const createdFirst = sortedCreated[FIRST - 1];
    const createdAll = sortedCreated[pairs.length - 1];
    await watcher;
    // The first 100 created (by the time their POST answered), all ticking.
    const firstIds = created
      .map((m, i) => ({ id: m.id, at: createdAt[i] }))
      .sort((a, b) => a.at - b.at)
      .slice(0, FIRST)
      .map((m) => m.id);
    const tickedFirst = Math.max(...firstIds.map((id) => tickedAt.get(id)!));
    const tickedAll = Math.max(...tickedAt.values());

    // ---- requests at N monitors, beside their baselines in the same run ----
    await timeRequests(`${base}/monitors`, 20); // warm-up
    await timeRequests(`${base}/health`, 20);
    const list = await timeRequests(`${base}/monitors`, REQUESTS);
    const health = await timeRequests(`${base}/health`, REQUESTS);
    const sql = await timeCalls(REQUESTS, () =>
      db.query("SELECT * FROM monitors WHERE status IN ('starting', 'running') ORDER BY created_at DESC"),
    );
    const ping = await timeCalls(REQUESTS, () => redis.ping());
    const engineList = await timeCalls(REQUESTS, () => ownContainers());
    // What GET /health asks besides Postgres and Redis: the engine's ping and the relay's /healthz.
    const enginePing = await timeCalls(REQUESTS, () => docker.ping());
    const relayHealthz = await timeRequests(`http://127.0.0.1:${relayPort}/healthz`, REQUESTS);
    const { body: healthBody } = await json<Record<string, unknown>>(`${base}/health`);

    // ---- one reconcile pass at N monitors (the periodic one, RECONCILE_INTERVAL_MS) ----
    const passesBefore = api.logged('"msg":"reconcile pass"').length;
    const passStart = Date.now();
    let pass: Record<string, unknown> | undefined;
    await until(
      `a reconcile pass over ${MONITORS} monitors`,
      () => {
        const passes = api!.logged('"msg":"reconcile pass"').slice(passesBefore);
        pass = passes.find((p) => p.monitors === MONITORS);
        return Promise.resolve(pass !== undefined);
      },
      120_000,
      250,
    );
    const passWaitMs = Date.now() - passStart;

    // ---- memory ----
    const containers = await ownContainers();
    const workers = containers.filter((c) => c.Labels['pairwatch.role'] !== 'relay');
    const relays = containers.filter((c) => c.Labels['pairwatch.role'] === 'relay');
    const workerMemory = workers.map((c) => containerMemory(c.Id));
    const relayMemory = relays.map((c) => containerMemory(c.Id));
    const running = workers.filter((c) => c.State === 'running').length;

    const s = (ms: number) => `${fmt(ms / 1000, 1)} s`;
    console.log(
      `scale: ${MONITORS} monitors at ${INTERVAL_MS} ms over ${CURRENCIES.join(', ')} (${CONCURRENCY} POSTs at a time), ` +
        `image ${WORKER_IMAGE}, relay on, Docker runtime, load average ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`,
    );
    console.log(
      `  created:   ${FIRST} in ${s(createdFirst)}, ${MONITORS} in ${s(createdAll)} (from the first POST)`,
    );
    console.log(`  POSTs answered 503 and asked again: ${refused503}`);
    console.log(
      `  ticking:   ${FIRST} in ${s(tickedFirst)} (target ≤ 30 s), ${MONITORS} in ${s(tickedAll)} (target ≤ 120 s)`,
    );
    console.log(`  GET /monitors at ${MONITORS}: ${pct(list)}   (target p50 ≤ 50 ms)`);
    console.log(`    baseline, the monitors' SQL from this process: ${pct(sql)}`);
    console.log(`    baseline, the engine's container list (one call) from this process: ${pct(engineList)}`);
    console.log(`  GET /health at ${MONITORS}:   ${pct(health)}   (target ≤ 20 ms)`);
    console.log(`    baseline, a Redis PING from this process: ${pct(ping)}`);
    console.log(`    the engine's ping from this process: ${pct(enginePing)}`);
    console.log(`    the relay's /healthz from this process: ${pct(relayHealthz)}`);
    console.log(
      `  reconcile pass at ${String(pass?.monitors)} monitors / ${String(pass?.workers)} workers: ${String(pass?.durationMs)} ms ` +
        `(gathering the facts ${String(pass?.gatherMs)} ms, ${String(pass?.steps)} steps; target ≤ 1000 ms; waited ${s(passWaitMs)} for it)`,
    );
    console.log(
      `  worker memory (${workerMemory.length} containers, ${running} running): median ${fmt(median(workerMemory.map((m) => m.usage)), 1)} MiB, ` +
        `max ${fmt(Math.max(...workerMemory.map((m) => m.usage)), 1)} MiB (rss median ${fmt(median(workerMemory.map((m) => m.rss)), 1)}, ` +
        `max ${fmt(Math.max(...workerMemory.map((m) => m.rss)), 1)} MiB; target ≤ 30 MiB each)`,
    );
    console.log(
      `  relay memory: ${relayMemory.map((m) => `${fmt(m.usage, 1)} MiB (rss ${fmt(m.rss, 1)})`).join(', ') || 'no relay'} (target ≤ 64 MiB)`,
    );
    console.log(`  /health at the end: ${JSON.stringify(healthBody.monitors)}`);
    console.log(`  the API process's CPU time over the run: ${fmt(api.cpuMs() / 1000, 1)} s`);
  } finally {
    await db.end().catch(() => undefined);
    await cleanUp();
    await ticker.stop();
    await redis.flushdb();
    redis.disconnect();
    await dropScratchDatabase(DATABASE);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
