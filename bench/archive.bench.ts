/**
 * The tick archive (docs/STORAGE.md), two parts, against the built API run as its own process:
 *
 * 1. Ingest: BENCH_MONITORS monitors each ticking once a second (300 ticks/s) for BENCH_SECONDS, published on the
 *    ticks stream as workers publish them; the API's CPU with TICK_ARCHIVE=off, then =on, in the same run, on
 *    the same load; the archive lag (tick instant → row committed, the API's own histogram) and the ticks lost,
 *    counted by key (monitor, instant) in price_ticks.
 * 2. Reads: a table of BENCH_PAIRS pairs × BENCH_DAYS days, a tick every BENCH_TICK_EVERY_S seconds, stored
 *    through the archive's own statement (so the candles are rolled up as in production); candles of one pair
 *    (30 days at 1h; 1,000 minutes at 1m, as 24 h at 1m is more than one answer's 1,000; 24 h at 5m) through the API beside the same candles computed by one SQL query over
 *    price_ticks, interleaved; GET /alerts/stats over 30 days; the disk used per million ticks.
 *
 *   npm run build && npm run bench:archive
 *   BENCH_SECONDS=300 BENCH_MONITORS=300 BENCH_PAIRS=20 BENCH_DAYS=30 BENCH_TICK_EVERY_S=5 BENCH_REQUESTS=300
 *   (the full size; the defaults are smaller: 60 s, and a tick every 60 s in part 2).
 */
import { randomUUID } from 'node:crypto';
import { Agent } from 'node:http';
import Redis from 'ioredis';
import { Client } from 'pg';
import { TICK_EVENT_FIELD, TICKS_STREAM, tickEventJson } from '@pairwatch/contracts';
import { INSERT_TICKS_SQL } from '../apps/api/src/analytics/tick-archive.repository';
import { binaryTextArray } from '../apps/api/src/database/sql-text';
import { parsePrometheusText } from '../test/support/prometheus-text';
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
  timedGet,
  until,
} from './support/bench-env';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 60);
const MONITORS = Number(process.env.BENCH_MONITORS ?? 300);
const PAIRS = Number(process.env.BENCH_PAIRS ?? 20);
const DAYS = Number(process.env.BENCH_DAYS ?? 30);
const TICK_EVERY_S = Number(process.env.BENCH_TICK_EVERY_S ?? 60);
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 300);
const DATABASE = 'pairwatch_bench_archive';
const DAY_MS = 86_400_000;

const pairName = (i: number) => `P${String(i).padStart(3, '0')}-USD`;

/** Publishes one tick per monitor per second, spread over the second in 10 slices, until `stop` is set. */
async function publishTicks(redis: Redis, monitors: string[], seconds: number): Promise<number> {
  let published = 0;
  const start = Date.now();
  const slices = 10;
  for (let slice = 0; slice < seconds * slices; slice++) {
    const due = start + (slice * 1000) / slices;
    if (due > Date.now()) await sleep(due - Date.now());
    const tx = redis.multi();
    const at = new Date().toISOString();
    for (let m = slice % slices; m < monitors.length; m += slices) {
      const price = (100 + (slice % 50) / 10).toFixed(2);
      tx.xadd(
        TICKS_STREAM,
        'MAXLEN',
        '~',
        '2000000',
        '*',
        TICK_EVENT_FIELD,
        tickEventJson({ monitorId: monitors[m], pair: pairName(m % PAIRS), at, ask: price, bid: price }),
      );
      published++;
    }
    await tx.exec();
  }
  return published;
}

/** The p-quantile of a Prometheus histogram, as the upper bound of the bucket holding it. */
function histogramQuantile(text: string, name: string, q: number): { bound: number; count: number } {
  const family = parsePrometheusText(text).get(name);
  const buckets = (family?.samples ?? [])
    .filter((s) => s.name === `${name}_bucket`)
    .map((s) => ({ le: s.labels.le === '+Inf' ? Infinity : Number(s.labels.le), count: s.value }))
    .sort((a, b) => a.le - b.le);
  const total = buckets[buckets.length - 1]?.count ?? 0;
  const bucket = buckets.find((b) => b.count >= q * total);
  return { bound: bucket?.le ?? Number.NaN, count: total };
}

async function ingest(url: string): Promise<void> {
  const redis = new Redis(BENCH_REDIS_URL);
  const db = new Client({ connectionString: url });
  await db.connect();
  const monitors = Array.from({ length: MONITORS }, () => randomUUID());
  const cpu: Record<string, number> = {};
  try {
    for (const archive of ['off', 'on'] as const) {
      await redis.del(TICKS_STREAM);
      const api = await startApi(url, `archive-${archive}`, { TICK_ARCHIVE: archive });
      try {
        await db.query('TRUNCATE price_ticks, price_candles');
        await sleep(2000); // the start-up's own work (migrations, partitions) out of the measure
        const before = api.cpuMs();
        const started = performance.now();
        const published = await publishTicks(redis, monitors, SECONDS);
        if (archive === 'on') {
          await until(
            'every tick archived',
            async () =>
              (await db.query<{ n: number }>('SELECT count(*)::int AS n FROM price_ticks')).rows[0].n >=
              published,
            120_000,
            200,
          );
        }
        cpu[archive] = (api.cpuMs() - before) / (elapsedMs(started) / 1000);
        if (archive === 'on') {
          const [{ rows, keys }] = (
            await db.query<{ rows: number; keys: number }>(
              'SELECT count(*)::int AS rows, count(DISTINCT (monitor_id, at))::int AS keys FROM price_ticks',
            )
          ).rows;
          const metrics = await (await fetch(`${api.url}/metrics`)).text();
          const p99 = histogramQuantile(metrics, 'pairwatch_archive_lag_seconds', 0.99);
          const p50 = histogramQuantile(metrics, 'pairwatch_archive_lag_seconds', 0.5);
          console.log(
            `ingest: ${MONITORS} monitors × 1 tick/s for ${SECONDS} s = ${fmt(published)} ticks published; ${fmt(rows)} rows, ${fmt(keys)} distinct keys: ${fmt(published - keys)} lost, ${fmt(rows - keys)} doubled`,
          );
          console.log(
            `  archive lag (tick → row committed, ${fmt(p99.count)} observed): p50 ≤ ${p50.bound} s, p99 ≤ ${p99.bound} s   (target p99 ≤ 2 s)`,
          );
        }
      } finally {
        await api.stop();
      }
    }
    console.log(
      `  API CPU: archive off ${fmt(cpu.off, 1)} ms/s, on ${fmt(cpu.on, 1)} ms/s: +${fmt(cpu.on - cpu.off, 1)} ms/s (${fmt((cpu.on - cpu.off) / 10, 2)} % of one core), ${fmt(cpu.on / cpu.off, 2)}× off   (target ≤ +10 %)`,
    );
  } finally {
    await redis.del(TICKS_STREAM);
    redis.disconnect();
    await db.end();
  }
}

/** PAIRS × DAYS of ticks through the archive's own statement, in batches; returns how many. */
async function populate(db: Client, now: number): Promise<number> {
  const first = Math.floor(now / DAY_MS) * DAY_MS - (DAYS - 1) * DAY_MS;
  const monitors = Array.from({ length: PAIRS }, () => randomUUID());
  const perPair = Math.floor((now - first) / 1000 / TICK_EVERY_S);
  const batch = 20_000;
  let stored = 0;
  const started = performance.now();
  const columns: string[][] = [[], [], [], [], []];
  const flush = async () => {
    if (columns[0].length === 0) return;
    await db.query(INSERT_TICKS_SQL, columns.map(binaryTextArray));
    stored += columns[0].length;
    for (const c of columns) c.length = 0;
  };
  for (let i = 0; i < perPair; i++) {
    const at = new Date(first + i * TICK_EVERY_S * 1000).toISOString();
    for (let p = 0; p < PAIRS; p++) {
      const price = (100 + p + Math.sin(i / 100 + p) * 5).toFixed(4);
      columns[0].push(monitors[p]);
      columns[1].push(pairName(p));
      columns[2].push(at);
      columns[3].push(price);
      columns[4].push((Number(price) - 0.01).toFixed(4));
    }
    if (columns[0].length >= batch) await flush();
  }
  await flush();
  // A thousand alerts a day over the pairs, for the statistics.
  await db.query(`INSERT INTO alerts (id, monitor_id, pair, direction, price_field, reference_price, price,
      change_percent, threshold_percent, interval_ms, observed_at)
    SELECT gen_random_uuid(), gen_random_uuid(), 'P' || lpad((i % ${PAIRS})::text, 3, '0') || '-USD',
      CASE WHEN i % 2 = 0 THEN 'up' ELSE 'down' END, 'ask', 100, 101, 1, 0.5, 5000,
      to_timestamp(${first / 1000}) + i * interval '86.4 seconds'
    FROM generate_series(0, ${DAYS * 1000 - 1}) AS i`);
  await db.query('VACUUM ANALYZE');
  console.log(
    `  stored ${fmt(stored)} ticks through the archive statement in ${fmt(elapsedMs(started) / 1000, 1)} s`,
  );
  return stored;
}

/** The same candles as the API's, computed by one query over price_ticks (ask). */
const CANDLES_FROM_TICKS = `SELECT date_bin(make_interval(secs => $2), at, timestamptz '1970-01-01 00:00:00+00') AS t,
  (array_agg(ask ORDER BY at))[1] AS open, max(ask) AS high, min(ask) AS low,
  (array_agg(ask ORDER BY at DESC))[1] AS close, count(*) AS ticks
FROM price_ticks WHERE pair = $1 AND at >= $3 AND at < $4 GROUP BY 1 ORDER BY 1`;

async function reads(url: string): Promise<void> {
  const db = new Client({ connectionString: url });
  await db.connect();
  let api: BenchApi | undefined;
  try {
    // Migrations and today's partitions; older days' ticks land in the default partition and the start pass of
    // the second API moves each into its day's partition, as after maintenance that was down.
    api = await startApi(url, 'archive-reads', { TICK_ARCHIVE: 'off' });
    await db.query('TRUNCATE price_ticks, price_candles, alerts');
    const now = Date.now();
    const ticks = await populate(db, now);
    await api.stop();
    api = await startApi(url, 'archive-reads', { TICK_ARCHIVE: 'off' });
    await until(
      'the default partition emptied into day partitions',
      async () => (await db.query('SELECT 1 FROM price_ticks_default LIMIT 1')).rowCount === 0,
      600_000,
      500,
    );
    await db.query('VACUUM ANALYZE');
    const [{ ticksBytes, candlesBytes, candles }] = (
      await db.query<{ ticksBytes: string; candlesBytes: string; candles: string }>(
        // The day partitions only: the default partition keeps the pages of the rows moved out of it until a
        // VACUUM FULL (empty in production, where the days are made ahead).
        `SELECT (SELECT sum(pg_total_relation_size(inhrelid)) FROM pg_inherits
             WHERE inhparent = 'price_ticks'::regclass AND inhrelid <> 'price_ticks_default'::regclass)::bigint AS "ticksBytes",
           pg_total_relation_size('price_candles') AS "candlesBytes", (SELECT count(*) FROM price_candles) AS candles`,
      )
    ).rows;
    const perMillion = (bytes: string) => ((Number(bytes) / ticks) * 1e6) / 2 ** 20;
    console.log(
      `reads: ${fmt(ticks)} ticks (${PAIRS} pairs × ${DAYS} days, one every ${TICK_EVERY_S} s), ${fmt(Number(candles))} candle rows`,
    );
    console.log(
      `  disk per million ticks: price_ticks ${fmt(perMillion(ticksBytes), 1)} MiB (rows and indexes) + price_candles ${fmt(perMillion(candlesBytes), 1)} MiB`,
    );

    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const hour = 3_600_000;
    const untilMs = Math.floor(now / hour) * hour;
    const cases = [
      {
        label: '30 d at 1h',
        interval: '1h',
        seconds: 3600,
        since: untilMs - 30 * DAY_MS + hour,
        until: untilMs,
      },
      // 24 h at 1m is 1,440 candles, more than one answer holds (1,000): the most it holds.
      {
        label: '1,000 min at 1m',
        interval: '1m',
        seconds: 60,
        since: untilMs - 1000 * 60_000,
        until: untilMs,
      },
      { label: '24 h at 5m', interval: '5m', seconds: 300, since: untilMs - DAY_MS, until: untilMs },
    ];
    for (const c of cases) {
      const path = `${api.url}/pairs/${pairName(3)}/candles?interval=${c.interval}&since=${new Date(c.since).toISOString()}&until=${new Date(c.until).toISOString()}`;
      const params = [
        pairName(3),
        c.seconds,
        new Date(c.since).toISOString(),
        new Date(c.until).toISOString(),
      ];
      const apiTimes: number[] = [];
      const sqlTimes: number[] = [];
      for (let i = 0; i < 20; i++) {
        await timedGet(path, agent);
        await db.query(CANDLES_FROM_TICKS, params);
      }
      for (let i = 0; i < REQUESTS; i++) {
        apiTimes.push(await timedGet(path, agent));
        const start = performance.now();
        await db.query(CANDLES_FROM_TICKS, params);
        sqlTimes.push(elapsedMs(start));
      }
      console.log(
        `  candles ${c.label}: API p50 ${fmt(quantile(apiTimes, 0.5), 2)} ms, p99 ${fmt(quantile(apiTimes, 0.99), 2)} ms; one SQL query over price_ticks p50 ${fmt(median(sqlTimes), 2)} ms, p99 ${fmt(quantile(sqlTimes, 0.99), 2)} ms: ${fmt(median(sqlTimes) / quantile(apiTimes, 0.5), 1)}× the API   (target API p50 ≤ 15 ms, p99 ≤ 50 ms)`,
      );
    }
    const statsPath = `${api.url}/alerts/stats?since=${new Date(untilMs - 30 * DAY_MS).toISOString()}&bucket=day`;
    const statsTimes: number[] = [];
    for (let i = 0; i < 20; i++) await timedGet(statsPath, agent);
    for (let i = 0; i < REQUESTS; i++) statsTimes.push(await timedGet(statsPath, agent));
    console.log(
      `  stats 30 d by day over ${fmt(DAYS * 1000)} alerts: API p50 ${fmt(quantile(statsTimes, 0.5), 2)} ms, p99 ${fmt(quantile(statsTimes, 0.99), 2)} ms   (target p50 ≤ 20 ms)`,
    );
    agent.destroy();
  } finally {
    await api?.stop();
    await db.end();
  }
}

async function main(): Promise<void> {
  const url = await scratchDatabase(DATABASE);
  try {
    if (process.env.BENCH_PART !== 'reads') await ingest(url);
    if (process.env.BENCH_PART !== 'ingest') await reads(url);
  } finally {
    await dropScratchDatabase(DATABASE);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
