/**
 * The tick archive (docs/STORAGE.md), two parts, against the built API run as its own process:
 *
 * 1. Ingest: BENCH_MONITORS monitors each ticking once a second (300 ticks/s) for BENCH_SECONDS, published on the
 *    ticks stream as workers publish them; two APIs side by side over the whole window, one with
 *    TICK_ARCHIVE=on and one with =off, both seeing the same ticks (see ingest()): their CPU over the same
 *    stretch, and its ratio every BENCH_CPU_EVERY_S (default 10); the archive lag (tick instant → row committed,
 *    the API's own histogram) and the ticks lost, counted by key (every published (monitor, instant) looked up
 *    in price_ticks).
 * 2. Reads: a table of BENCH_PAIRS pairs × BENCH_DAYS days, a tick every BENCH_TICK_EVERY_S seconds, stored
 *    through the archive's own statement (so the candles are rolled up as in production); candles of one pair
 *    (30 days at 1h; 1,000 minutes at 1m, as 24 h at 1m is more than one answer's 1,000; 24 h at 5m) through
 *    the API beside the same candles computed by one SQL query over price_ticks, interleaved; GET /alerts/stats
 *    over 30 days; the disk used per million ticks.
 *
 *   npm run build && npm run bench:archive
 *   BENCH_PART=ingest BENCH_SECONDS=300 BENCH_CPU_EVERY_S=30   (the five minutes, ingest only)
 *   BENCH_SECONDS=300 BENCH_MONITORS=300 BENCH_PAIRS=20 BENCH_DAYS=30 BENCH_TICK_EVERY_S=5 BENCH_REQUESTS=300
 *   (the full size; the defaults are smaller: a 60 s window, and a tick every 60 s in part 2).
 *   BENCH_PART=ingest|reads runs one part; BENCH_REDIS_URL picks the Redis database.
 */
import { randomUUID } from 'node:crypto';
import { Agent } from 'node:http';
import Redis from 'ioredis';
import { Client } from 'pg';
import { TICK_EVENT_FIELD, TICKS_STREAM, tickEventJson } from '@pairwatch/contracts';
import { INSERT_TICKS_SQL } from '../apps/api/src/analytics/tick-archive.repository';
import { partitionName } from '../apps/api/src/analytics/tick-partitions.repository';
import { PARTITION_MAINTENANCE } from '../apps/api/src/analytics/tick-partitions.service';
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
import { mainThreadCpuMs } from './support/cpu-ledger';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 60);
const MONITORS = Number(process.env.BENCH_MONITORS ?? 300);
const PAIRS = Number(process.env.BENCH_PAIRS ?? 20);
const DAYS = Number(process.env.BENCH_DAYS ?? 30);
const TICK_EVERY_S = Number(process.env.BENCH_TICK_EVERY_S ?? 60);
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 300);
/** The API's CPU is also read every this many seconds of the window, for the median of the windows' ratios. */
const CPU_EVERY_S = Number(process.env.BENCH_CPU_EVERY_S ?? 10);
const DATABASE = 'pairwatch_bench_archive';
const DAY_MS = 86_400_000;

const pairName = (i: number) => `P${String(i).padStart(3, '0')}-USD`;

/**
 * Waits for the start-up's partition pass to have made its partitions: it makes them day by day up to the last
 * day ahead, so that one's existing means the pass has made them all (what it does after them waits for, or
 * is waited for by, the benchmark's own statements).
 */
async function partitionsMade(db: Client): Promise<void> {
  const lastAhead = partitionName(
    Math.floor(Date.now() / DAY_MS) * DAY_MS + PARTITION_MAINTENANCE.aheadDays * DAY_MS,
  );
  await until(
    `the start-up's partitions made (up to ${lastAhead})`,
    async () => (await db.query('SELECT to_regclass($1) AS p', [lastAhead])).rows[0].p !== null,
    60_000,
    200,
  );
}

/** What was published: one (monitor, instant) key per tick, to count the lost ones by key. */
interface Published {
  monitors: string[];
  ats: string[];
}

/**
 * Publishes one tick per monitor per second, as the workers do (each worker's tick event in its own XADD), spread
 * over the second in 10 slices, for `seconds`; `onSecond` is called at each whole second.
 */
async function publishTicks(
  redis: Redis,
  monitors: string[],
  seconds: number,
  onSecond: (second: number) => void,
): Promise<Published> {
  const published: Published = { monitors: [], ats: [] };
  const start = Date.now();
  const slices = 10;
  for (let slice = 0; slice < seconds * slices; slice++) {
    const due = start + (slice * 1000) / slices;
    if (due > Date.now()) await sleep(due - Date.now());
    if (slice > 0 && slice % slices === 0) onSecond(slice / slices);
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
      published.monitors.push(monitors[m]);
      published.ats.push(at);
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

/** The database of the API with the archive off (the archive's own, DATABASE, has it on). */
const OFF_DATABASE = `${DATABASE}_off`;

/**
 * Two APIs side by side for the whole window, each on its own database and both on the benchmark's Redis: one
 * with TICK_ARCHIVE=on, the baseline with TICK_ARCHIVE=off. Both see the same ticks arrive on the same stream
 * at the same moments (the off one leaves it unread, as an installation with the archive off would), on the
 * same machine under the same load, so the CPU each used over the same stretch of time is comparable: the
 * archive's cost is the difference. The CPU is also read every CPU_EVERY_S, for the median of the windows'
 * ratios. (Neither API has the 300 monitors' rows and workers to supervise: the bench's publisher stands in
 * for the workers. That work would be the same in both, so leaving it out only makes the off API cheaper and
 * the ratio stricter than the issue's; bench/archive-live.bench.ts runs the 300 monitors with their workers.)
 */
async function ingest(url: string): Promise<void> {
  const offUrl = await scratchDatabase(OFF_DATABASE);
  const redis = new Redis(BENCH_REDIS_URL);
  const db = new Client({ connectionString: url });
  const monitors = Array.from({ length: MONITORS }, () => randomUUID());
  const apis: { on?: BenchApi; off?: BenchApi } = {};
  try {
    await redis.del(TICKS_STREAM);
    [apis.on, apis.off] = await Promise.all([
      startApi(url, 'archive-on', { TICK_ARCHIVE: 'on' }),
      startApi(offUrl, 'archive-off', { TICK_ARCHIVE: 'off' }),
    ]);
    const { on, off } = apis as { on: BenchApi; off: BenchApi };
    await db.connect();
    // The start-up's own work (migrations, the first partition pass) out of the measure.
    await partitionsMade(db);
    await sleep(2000);
    const cpu = () => ({
      on: on.cpuMs(),
      off: off.cpuMs(),
      onSystem: on.cpuMs('system'),
      offSystem: off.cpuMs('system'),
      onMain: mainThreadCpuMs(on.pid),
      offMain: mainThreadCpuMs(off.pid),
      at: performance.now(),
    });
    const first = cpu();
    const windows: { on: number; off: number }[] = [];
    let last = first;
    const published = await publishTicks(redis, monitors, SECONDS, (second) => {
      if (second % CPU_EVERY_S !== 0) return;
      const now = cpu();
      windows.push({ on: now.on - last.on, off: now.off - last.off });
      last = now;
    });
    const count = published.monitors.length;
    await until(
      'every tick archived',
      async () =>
        (await db.query<{ n: number }>('SELECT count(*)::int AS n FROM price_ticks')).rows[0].n >= count,
      120_000,
      200,
    );
    const end = cpu();
    const seconds = (end.at - first.at) / 1000;
    const total = { on: (end.on - first.on) / seconds, off: (end.off - first.off) / seconds };
    const system = {
      on: (end.onSystem - first.onSystem) / seconds,
      off: (end.offSystem - first.offSystem) / seconds,
    };
    const main = {
      on: (end.onMain - first.onMain) / seconds,
      off: (end.offMain - first.offMain) / seconds,
    };
    const [{ rows, keys, missing }] = (
      await db.query<{ rows: number; keys: number; missing: number }>(
        `SELECT count(*)::int AS rows, count(DISTINCT (monitor_id, at))::int AS keys,
           (SELECT count(*)::int FROM unnest($1::uuid[], $2::timestamptz[]) AS k(m, a)
             WHERE NOT EXISTS (SELECT 1 FROM price_ticks t WHERE t.monitor_id = k.m AND t.at = k.a)) AS missing
         FROM price_ticks`,
        [published.monitors, published.ats],
      )
    ).rows;
    const metrics = await (await fetch(`${on.url}/metrics`)).text();
    const p99 = histogramQuantile(metrics, 'pairwatch_archive_lag_seconds', 0.99);
    const p50 = histogramQuantile(metrics, 'pairwatch_archive_lag_seconds', 0.5);
    console.log(
      `ingest: ${MONITORS} monitors × 1 tick/s for ${SECONDS} s = ${fmt(count)} ticks published; ${fmt(rows)} rows, ${fmt(keys)} distinct keys: ${fmt(missing)} published keys missing (lost), ${fmt(rows - keys)} doubled`,
    );
    console.log(
      `  archive lag (tick → row committed, ${fmt(p99.count)} observed): p50 ≤ ${p50.bound} s, p99 ≤ ${p99.bound} s   (target p99 ≤ 2 s)`,
    );
    const ratios = windows.filter((w) => w.off > 0).map((w) => w.on / w.off);
    console.log(
      `  API CPU over the same ${fmt(seconds, 1)} s, side by side: archive off ${fmt(total.off, 1)} ms/s, on ${fmt(total.on, 1)} ms/s: +${fmt(total.on - total.off, 1)} ms/s (${fmt((total.on - total.off) / 10, 2)} % of one core), ${fmt(total.on / total.off, 3)}× off   (target ≤ 1.10×)`,
    );
    console.log(
      `  of which in the kernel (system time): off ${fmt(system.off, 1)} ms/s, on ${fmt(system.on, 1)} ms/s: +${fmt(system.on - system.off, 1)} ms/s`,
    );
    console.log(
      `  by thread: the JavaScript (main) thread off ${fmt(main.off, 1)}, on ${fmt(main.on, 1)} ms/s: +${fmt(main.on - main.off, 1)}; the other threads (V8's GC and compiler helpers) off ${fmt(total.off - main.off, 1)}, on ${fmt(total.on - main.on, 1)} ms/s: +${fmt(total.on - main.on - (total.off - main.off), 1)}`,
    );
    if (ratios.length > 0) {
      console.log(
        `  on/off by ${CPU_EVERY_S} s window (${ratios.length}): median ${fmt(median(ratios), 3)}×, ${ratios.map((r) => fmt(r, 2)).join(' ')}`,
      );
    }
  } finally {
    await Promise.all([apis.on?.stop(), apis.off?.stop()]);
    await redis.del(TICKS_STREAM);
    redis.disconnect();
    await db.end().catch(() => undefined);
    await dropScratchDatabase(OFF_DATABASE);
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
    // Not while the start-up's pass makes its partitions: the truncation and the pass would contend for the same
    // tables (a race seen in earlier runs).
    await partitionsMade(db);
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
