/**
 * Ingestion, the whole path: XADD into the alerts stream → the API's own consumer (the built API, running as
 * its own process, logging every stored alert) → rows committed in Postgres. Baseline in the same run:
 * Postgres inserting the same number of rows into the same (truncated) table itself, in one
 * INSERT … SELECT FROM generate_series. Then the latency of each alert at a steady rate: stamped (observedAt)
 * as it is XADDed, observed committed by a LISTENing client (see docs/BENCHMARKS.md).
 *
 *   npm run build && npm run bench:ingest
 *   BENCH_ALERTS=100000 BENCH_ROUNDS=3 BENCH_RATE=1000 BENCH_SECONDS=20 (defaults)
 *   BENCH_API_MAIN=<path to another build's main.js> measures that build instead (e.g. the code before).
 *   BENCH_CLUSTER=1 also sends each round's burst through a second API on a Redis Cluster (three masters with two
 *   replicas each, test/support/redis-topology.ts, started and removed here), and prints its rate against the
 *   standalone API's of the same rounds (issue 21: goal ≥ 0.8).
 *
 * Scratch database pairwatch_bench_ingest (dropped afterwards), Redis database 14 (BENCH_REDIS_URL; emptied).
 */
import { randomUUID } from 'node:crypto';
import Redis from 'ioredis';
import { Client, Notification } from 'pg';
import { ALERTS_CHANNEL, parseNotifiedIds } from '../apps/api/src/alerts/alerts.repository';
import {
  ALERT_EVENT_FIELD,
  ALERTS_CONSUMER_GROUP,
  ALERTS_STREAM,
  type AlertEvent,
} from '@pairwatch/contracts';
import {
  BENCH_REDIS_URL,
  BenchApi,
  collectGarbage,
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
import { cpuLedger, CpuSpent } from './support/cpu-ledger';
import { encodeXadds, sendXadds } from './support/raw-xadd';
import { RedisClusterSet, startRedisCluster } from '../test/support/redis-topology';

const ALERTS = Number(process.env.BENCH_ALERTS ?? 100_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const RATE = Number(process.env.BENCH_RATE ?? 1000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 20);
const DATABASE = 'pairwatch_bench_ingest';
const MONITOR_ID = randomUUID();
/** XADDs written to Redis at once by the burst's producer. */
const XADD_CHUNK = 1000;
const CLUSTER = process.env.BENCH_CLUSTER === '1';

/** Where a burst goes: the API that reads the stream, and the Redis (server, or the stream's master) it reads. */
interface Target {
  api: BenchApi;
  /** The stream's consumer group is asked for its pending entries through this client. */
  redis: Pick<Redis, 'xpending'>;
  /** The server the XADDs are written to (in a cluster, the master of the stream's slot). */
  xaddUrl: string;
  /** That server's pid, for the CPU ledger. */
  redisPid: number;
}

function event(i: number, observedAt: string): AlertEvent {
  return {
    id: randomUUID(),
    monitorId: MONITOR_ID,
    pair: 'BTC-USD',
    ruleId: 'r1',
    kind: 'move',
    details: {},
    direction: i % 2 === 0 ? 'up' : 'down',
    priceField: 'ask',
    referencePrice: '63120.45',
    price: `${63120 + (i % 1000)}.45`,
    changePercent: '0.01234567',
    thresholdPercent: '0.01',
    intervalMs: 5000,
    observedAt,
  };
}

/** The same rows, made by Postgres itself in one statement. */
const SERVER_SIDE_INSERT = `INSERT INTO alerts (id, monitor_id, pair, direction, price_field, reference_price, price,
  change_percent, threshold_percent, interval_ms, observed_at)
SELECT gen_random_uuid(), $1::uuid, 'BTC-USD', CASE WHEN i % 2 = 0 THEN 'up' ELSE 'down' END, 'ask', 63120.45,
  (63120 + i % 1000) + 0.45, 0.01234567, 0.01, 5000, $2::timestamptz + i * interval '1 millisecond'
FROM generate_series(0, $3::int - 1) AS i`;

/** Notifies each committed insert's ids (a notification is delivered when its transaction commits). */
const COMMIT_TRIGGER = `
CREATE OR REPLACE FUNCTION bench_notify_commit() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE chunk text;
BEGIN
  FOR chunk IN
    SELECT string_agg(id::text, ',') FROM (SELECT id, (row_number() OVER ()) / 200 AS g FROM new_rows) AS t GROUP BY g
  LOOP
    PERFORM pg_notify('bench_commit', chunk);
  END LOOP;
  RETURN NULL;
END $$;
CREATE TRIGGER bench_notify_commit AFTER INSERT ON alerts REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION bench_notify_commit();`;

const logLines = (api: BenchApi): number => api.alertLogLines();

/** The pids of the API's own Postgres connections (every backend of the scratch database but this benchmark's). */
async function apiBackends(db: Client, ours: readonly Client[]): Promise<number[]> {
  const own = await Promise.all(
    ours.map(
      async (client) => (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0].pid,
    ),
  );
  const { rows } = await db.query<{ pid: number }>(
    'SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND NOT pid = ANY($1::int[])',
    [own],
  );
  return rows.map((row) => row.pid);
}

async function redisPid(redis: Redis): Promise<number> {
  const info = await redis.info('server');
  return Number(/process_id:(\d+)/.exec(info)?.[1] ?? -1);
}

/** Resolves when a notification on the alerts channel (sent at its commit) names `id`; LISTEN first. */
function notified(listener: Client, id: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      listener.off('notification', onNotification);
      reject(new Error(`timed out after ${timeoutMs} ms waiting for alert ${id} to be committed`));
    }, timeoutMs);
    const onNotification = (message: Notification) => {
      if (message.channel !== ALERTS_CHANNEL || !parseNotifiedIds(message.payload).includes(id)) return;
      clearTimeout(timer);
      listener.off('notification', onNotification);
      resolve();
    };
    listener.on('notification', onNotification);
  });
}

async function pendingCount(redis: Pick<Redis, 'xpending'>): Promise<number> {
  const [count] = (await redis.xpending(ALERTS_STREAM, ALERTS_CONSUMER_GROUP)) as [number];
  return Number(count);
}

/** A burst of `n` alerts through the API; alerts/s from the first XADD to the last row committed. */
async function throughApi(
  db: Client,
  listener: Client,
  { api, redis, xaddUrl }: Target,
  n: number,
  processes: Record<string, readonly number[]>,
): Promise<{ rate: number; cpuUsPerAlert: number; systemUsPerAlert: number; spent: CpuSpent }> {
  const linesBefore = logLines(api);
  const at = Date.UTC(2026, 11, 1);
  const events = Array.from({ length: n }, (_, i) => event(i, new Date(at + i).toISOString()));
  // The workers' part, done before the clock starts: each alert serialised and framed as its XADD.
  const xadds = encodeXadds(
    ALERTS_STREAM,
    ALERT_EVENT_FIELD,
    events.map((e) => JSON.stringify(e)),
    XADD_CHUNK,
  );
  const last = events[n - 1].id;
  collectGarbage();
  const cpuBefore = api.cpuMs();
  const systemBefore = api.cpuMs('system');
  const lastCommitted = notified(listener, last, 120_000);
  const ledger = cpuLedger(processes);
  const start = performance.now();
  await sendXadds(xaddUrl, xadds);
  // The ingestion statement notifies each stored row's id at its commit: the burst is done when the last
  // alert's is heard (batches commit in stream order, a couple at once) and every row is counted. No polling
  // during the burst, so the clock's own probes take nothing from the path measured.
  await lastCommitted;
  await until(
    `all ${n} rows to be committed`,
    async () => (await db.query<{ n: number }>('SELECT count(*)::int AS n FROM alerts')).rows[0].n >= n,
    30_000,
  );
  const ms = elapsedMs(start);
  const spent = ledger.stop();
  const cpuUsPerAlert = ((api.cpuMs() - cpuBefore) * 1000) / n;
  const systemUsPerAlert = ((api.cpuMs('system') - systemBefore) * 1000) / n;
  const [{ count }] = (await db.query<{ count: number }>('SELECT count(*)::int AS count FROM alerts')).rows;
  if (count !== n) throw new Error(`expected ${n} rows after the burst, found ${count}`);
  await until('every entry to be acknowledged', async () => (await pendingCount(redis)) === 0, 10_000, 20);
  await until(
    'one log line per stored alert',
    () => Promise.resolve(logLines(api) - linesBefore === n),
    10_000,
    50,
  );
  // created_at is the inserting transaction's now(): one value per committed batch.
  const [{ batches }] = (
    await db.query<{ batches: number }>('SELECT count(DISTINCT created_at)::int AS batches FROM alerts')
  ).rows;
  console.log(`    (burst: ${batches} batches committed, ${Math.round(n / batches)} alerts each on average)`);
  return { rate: (n / ms) * 1000, cpuUsPerAlert, systemUsPerAlert, spent };
}

async function serverSide(db: Client, n: number): Promise<number> {
  const start = performance.now();
  await db.query(SERVER_SIDE_INSERT, [MONITOR_ID, new Date(Date.UTC(2026, 11, 1)).toISOString(), n]);
  return (n / elapsedMs(start)) * 1000;
}

/** Steady RATE alerts/s for SECONDS; each alert's time from XADD (its observedAt) to its commit being seen. */
async function latency(db: Client, listener: Client, redis: Redis): Promise<number[]> {
  const sentAt = new Map<string, number>();
  const latencies: number[] = [];
  listener.on('notification', (message) => {
    const now = performance.now();
    for (const id of (message.payload ?? '').split(',')) {
      const sent = sentAt.get(id);
      if (sent !== undefined) latencies.push(now - sent);
    }
  });
  await listener.query('LISTEN bench_commit');
  await db.query(COMMIT_TRIGGER);
  const total = RATE * SECONDS;
  let failed: Error | undefined;
  try {
    const start = performance.now();
    let sent = 0;
    while (sent < total) {
      const due = Math.min(total, Math.floor((elapsedMs(start) * RATE) / 1000));
      for (; sent < due; sent++) {
        const alert = event(sent, new Date().toISOString());
        sentAt.set(alert.id, performance.now());
        redis.xadd(ALERTS_STREAM, '*', ALERT_EVENT_FIELD, JSON.stringify(alert)).catch((error: Error) => {
          failed = error;
        });
      }
      await sleep(1);
    }
    await until(
      'every paced alert to be committed',
      () => Promise.resolve(latencies.length >= total),
      30_000,
      20,
    );
    if (failed) throw failed;
  } finally {
    await db.query('DROP TRIGGER bench_notify_commit ON alerts; DROP FUNCTION bench_notify_commit()');
    await listener.query('UNLISTEN bench_commit');
  }
  return latencies;
}

/** Per alert, the medians over the bursts: each process group's CPU, the rest of the machine's, and its idle. */
function printCpuSpent(bursts: readonly CpuSpent[], n: number): void {
  const perAlert = (ms: number) => (ms * 1000) / n;
  const names = [...(bursts[0]?.byName.keys() ?? [])];
  const parts = names.map(
    (name) => `${name} ${fmt(median(bursts.map((b) => perAlert(b.byName.get(name) ?? 0))), 1)}`,
  );
  const rest = median(
    bursts.map((b) => perAlert(b.busy - [...b.byName.values()].reduce((sum, ms) => sum + ms, 0))),
  );
  const idle = median(bursts.map((b) => (100 * b.idle) / (b.busy + b.idle)));
  console.log(
    `  CPU per alert during a burst, µs: ${parts.join(', ')}, everything else (kernel, other processes) ${fmt(rest, 1)}; machine ${fmt(idle, 0)} % idle`,
  );
}

/** A Cluster and a second API reading the stream from it (BENCH_CLUSTER=1). */
async function clusterTarget(databaseUrl: string): Promise<{ target: Target; close: () => Promise<void> }> {
  const cluster: RedisClusterSet = await startRedisCluster();
  let api: BenchApi | undefined;
  let client: Redis | undefined;
  try {
    api = await startApi(databaseUrl, 'ingest-cluster', cluster.env());
    const { master } = await cluster.shardOf(ALERTS_STREAM);
    client = new Redis(master.port, '127.0.0.1');
    // The API's consumer group is there once the API is up; XPENDING goes to the stream's master directly.
    const target: Target = { api, redis: client, xaddUrl: master.url, redisPid: await redisPid(client) };
    const ownApi = api;
    const ownClient = client;
    return {
      target,
      close: async () => {
        ownClient.disconnect();
        await ownApi.stop();
        await cluster.destroy();
      },
    };
  } catch (error) {
    client?.disconnect();
    await api?.stop();
    await cluster.destroy();
    throw error;
  }
}

async function main(): Promise<void> {
  const url = await scratchDatabase(DATABASE);
  const redis = new Redis(BENCH_REDIS_URL);
  await redis.flushdb();
  const api = await startApi(url, 'ingest');
  const db = new Client({ connectionString: url });
  const listener = new Client({ connectionString: url });
  await db.connect();
  await listener.connect();
  let onCluster: Awaited<ReturnType<typeof clusterTarget>> | undefined;
  try {
    const standalone: Target = { api, redis, xaddUrl: BENCH_REDIS_URL, redisPid: await redisPid(redis) };
    if (CLUSTER) onCluster = await clusterTarget(url);
    // Warm up both sides (JIT, caches) with a smaller burst each.
    await db.query('TRUNCATE alerts');
    const processes = (target: Target, backends: number[]) => ({
      'the API': [target.api.pid],
      'its Postgres connections': backends,
      Redis: [target.redisPid],
      'this benchmark (producer, probes)': [process.pid],
    });
    await listener.query(`LISTEN ${ALERTS_CHANNEL}`);
    await throughApi(db, listener, standalone, Math.min(ALERTS, 20_000), processes(standalone, []));
    if (onCluster) {
      await db.query('TRUNCATE alerts');
      const target = onCluster.target;
      await throughApi(db, listener, target, Math.min(ALERTS, 20_000), processes(target, []));
    }
    await db.query('TRUNCATE alerts');
    await serverSide(db, Math.min(ALERTS, 20_000));

    const viaApi: number[] = [];
    const viaCluster: number[] = [];
    const cpu: number[] = [];
    const system: number[] = [];
    const postgres: number[] = [];
    const spent: CpuSpent[] = [];
    const sides = onCluster ? ['api', 'postgres', 'cluster'] : ['api', 'postgres'];
    for (let round = 0; round < ROUNDS; round++) {
      // Rotate which side goes first, so none always runs on the warmer machine.
      const order = sides.map((_, i) => sides[(i + round) % sides.length]);
      for (const side of order) {
        await db.query('TRUNCATE alerts');
        await db.query('CHECKPOINT');
        if (side === 'api') {
          const backends = await apiBackends(db, [db, listener]);
          const burst = await throughApi(db, listener, standalone, ALERTS, processes(standalone, backends));
          const { rate, cpuUsPerAlert, systemUsPerAlert } = burst;
          spent.push(burst.spent);
          viaApi.push(rate);
          cpu.push(cpuUsPerAlert);
          system.push(systemUsPerAlert);
        } else if (side === 'cluster' && onCluster) {
          const target = onCluster.target;
          viaCluster.push((await throughApi(db, listener, target, ALERTS, processes(target, []))).rate);
        } else postgres.push(await serverSide(db, ALERTS));
      }
    }
    await listener.query(`UNLISTEN ${ALERTS_CHANNEL}`);
    await db.query('TRUNCATE alerts');
    const latencies = await latency(db, listener, redis);

    const a = median(viaApi);
    const p = median(postgres);
    const rounds = (xs: number[]) => xs.map((x) => fmt(x, x < 100 ? 1 : 0)).join(', ');
    // BENCH_ROUNDS=0 measures the latency alone.
    if (ROUNDS > 0) {
      console.log(`ingest: burst of ${fmt(ALERTS)} alerts × ${ROUNDS} rounds (medians; rounds in brackets)`);
      console.log(`  stream → committed rows, through the API: ${fmt(a)} alerts/s  [${rounds(viaApi)}]`);
      console.log(`  Postgres server-side INSERT … SELECT:     ${fmt(p)} rows/s    [${rounds(postgres)}]`);
      console.log(`  ratio API / Postgres: ${fmt(a / p, 2)}   (target ≥ 0.50)`);
      if (viaCluster.length > 0) {
        const c = median(viaCluster);
        console.log(`  through a second API on a Redis Cluster: ${fmt(c)} alerts/s  [${rounds(viaCluster)}]`);
        console.log(`  ratio Cluster / standalone (same rounds): ${fmt(c / a, 2)}   (target ≥ 0.80)`);
      }
      console.log(
        `  the API process's CPU per alert: ${fmt(median(cpu), 1)} µs, of which system ${fmt(median(system), 1)} µs  [${rounds(cpu)}]`,
      );
      printCpuSpent(spent, ALERTS);
      console.log(
        `  guarantees checked each burst: every row stored once, nothing left pending, one "alert" log line per row`,
      );
    }
    console.log(
      `latency at a steady ${fmt(RATE)} alerts/s for ${SECONDS} s (XADD with observedAt → commit seen), ${fmt(latencies.length)} alerts:`,
    );
    console.log(
      `  p50 ${fmt(quantile(latencies, 0.5), 1)} ms   p95 ${fmt(quantile(latencies, 0.95), 1)} ms   p99 ${fmt(quantile(latencies, 0.99), 1)} ms   max ${fmt(quantile(latencies, 1), 1)} ms   (target p50 ≤ 5, p99 ≤ 20)`,
    );
  } finally {
    await listener.end();
    await db.end();
    await api.stop();
    await onCluster?.close();
    await redis.flushdb();
    redis.disconnect();
    await dropScratchDatabase(DATABASE);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
