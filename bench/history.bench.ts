/**
 * History: GET /alerts?pair=X&limit=100 over HTTP against the built API (its own process, request logs on),
 * on a table of BENCH_ROWS alerts over 100 pairs; beside it in the same run, the very SQL the API sends,
 * from a pg client. Also deep keyset pages: page 1,000 of the whole history, and a pair's last page, each
 * against page 1.
 *
 *   npm run build && npm run bench:history
 *   BENCH_ROWS=2000000 BENCH_REQUESTS=1000 BENCH_ROUNDS=3 (defaults); BENCH_KEEP_DB=1 keeps the generated
 *   table for the next run (pairwatch_bench_history), which then skips generating it.
 *   BENCH_API_MAIN=<path to another build's main.js> measures that build instead (e.g. the code before).
 */
import { Agent } from 'node:http';
import { Client } from 'pg';
import { decodeCursor, encodeCursor } from '../apps/api/src/alerts/alert-cursor';
import { AlertHistoryFilter, historyQuery } from '../apps/api/src/alerts/alerts.repository';
import {
  dropScratchDatabase,
  elapsedMs,
  fmt,
  median,
  quantile,
  scratchDatabase,
  startApi,
  timedGet,
} from './support/bench-env';

const ROWS = Number(process.env.BENCH_ROWS ?? 2_000_000);
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 1000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const KEEP = process.env.BENCH_KEEP_DB === '1';
const PAIRS = 100;
const LIMIT = 100;
const DEEP_PAGE = 1000;
const DATABASE = 'pairwatch_bench_history';

const pairName = (i: number) => `P${String(i).padStart(3, '0')}-USD`;

/** ROWS alerts, made by Postgres: pair i % 100, one monitor per pair, 10 ms apart, newest last. */
const GENERATE = `INSERT INTO alerts (id, monitor_id, pair, direction, price_field, reference_price, price,
  change_percent, threshold_percent, interval_ms, observed_at)
SELECT gen_random_uuid(), md5('monitor' || (i % ${PAIRS}))::uuid, 'P' || lpad((i % ${PAIRS})::text, 3, '0') || '-USD',
  CASE WHEN i % 2 = 0 THEN 'up' ELSE 'down' END, 'ask', 63120.45, 63120.45 + (i % 997) / 100.0, 0.01234567, 0.01,
  5000, timestamptz '2026-01-01T00:00:00Z' + i * interval '10 milliseconds'
FROM generate_series($1::int, $2::int - 1) AS i`;

async function populate(db: Client): Promise<void> {
  const [{ n }] = (await db.query<{ n: number }>('SELECT count(*)::int AS n FROM alerts')).rows;
  if (n === ROWS) return console.log(`  (kept table: ${fmt(n)} rows)`);
  const start = performance.now();
  await db.query('TRUNCATE alerts');
  const chunk = 250_000;
  for (let from = 0; from < ROWS; from += chunk) {
    await db.query(GENERATE, [from, Math.min(ROWS, from + chunk)]);
  }
  await db.query('VACUUM ANALYZE alerts');
  console.log(`  generated ${fmt(ROWS)} rows over ${PAIRS} pairs in ${fmt(elapsedMs(start) / 1000, 1)} s`);
}

const agent = new Agent({ keepAlive: true, maxSockets: 1 });
const get = (url: string): Promise<number> => timedGet(url, agent);

interface Case {
  label: string;
  /** The query string of GET /alerts, and the filter the API turns it into. */
  query(i: number): { path: string; filter: AlertHistoryFilter };
}

async function cursorAt(db: Client, pair: string | undefined, offset: number): Promise<string> {
  const { rows } = await db.query<{ observedAt: Date; id: string }>(
    `SELECT observed_at AS "observedAt", id FROM alerts ${pair ? 'WHERE pair = $2' : ''}
     ORDER BY observed_at DESC, id DESC OFFSET $1 LIMIT 1`,
    pair ? [offset - 1, pair] : [offset - 1],
  );
  return encodeCursor(rows[0]);
}

async function main(): Promise<void> {
  const url = await scratchDatabase(DATABASE, KEEP);
  const api = await startApi(url, 'history');
  const db = new Client({ connectionString: url });
  await db.connect();
  try {
    await populate(db);
    const perPair = Math.floor(ROWS / PAIRS);
    const lastPairPage = Math.ceil(perPair / LIMIT);
    const deepCursor = await cursorAt(db, undefined, (DEEP_PAGE - 1) * LIMIT);
    const pairCursors = new Map<string, string>();
    for (let i = 0; i < 10; i++) {
      pairCursors.set(pairName(i), await cursorAt(db, pairName(i), (lastPairPage - 1) * LIMIT));
    }
    const cases: Case[] = [
      {
        label: `pair, page 1`,
        query: (i) => {
          const pair = pairName((i * 37) % PAIRS);
          return { path: `pair=${pair}&limit=${LIMIT}`, filter: { pair, limit: LIMIT + 1 } };
        },
      },
      {
        label: `pair, page ${lastPairPage} (its last)`,
        query: (i) => {
          const pair = pairName(i % 10);
          const cursor = pairCursors.get(pair) ?? '';
          return {
            path: `pair=${pair}&limit=${LIMIT}&cursor=${cursor}`,
            filter: { pair, limit: LIMIT + 1, after: decodeCursor(cursor) },
          };
        },
      },
      {
        label: `all pairs, page 1`,
        query: () => ({ path: `limit=${LIMIT}`, filter: { limit: LIMIT + 1 } }),
      },
      {
        label: `all pairs, page ${fmt(DEEP_PAGE)}`,
        query: () => ({
          path: `limit=${LIMIT}&cursor=${deepCursor}`,
          filter: { limit: LIMIT + 1, after: decodeCursor(deepCursor) },
        }),
      },
    ];

    // Warm-up: JIT, connection pool, caches.
    for (const c of cases) {
      for (let i = 0; i < 200; i++) {
        await get(`${api.url}/alerts?${c.query(i).path}`);
        const { sql, params } = historyQuery(c.query(i).filter);
        await db.query(sql, params);
      }
    }

    const results = cases.map(() => ({ api: [] as number[][], sql: [] as number[][], cpu: [] as number[] }));
    for (let round = 0; round < ROUNDS; round++) {
      for (const [k, c] of cases.entries()) {
        const apiTimes: number[] = [];
        const sqlTimes: number[] = [];
        const cpuBefore = api.cpuMs();
        // Interleaved, so both sides see the same machine.
        for (let i = 0; i < REQUESTS; i++) {
          const { path, filter } = c.query(i + round * REQUESTS);
          apiTimes.push(await get(`${api.url}/alerts?${path}`));
          const { sql, params } = historyQuery(filter);
          const start = performance.now();
          await db.query(sql, params);
          sqlTimes.push(elapsedMs(start));
        }
        results[k].cpu.push((api.cpuMs() - cpuBefore) / REQUESTS);
        results[k].api.push(apiTimes);
        results[k].sql.push(sqlTimes);
      }
    }

    const stat = (runs: number[][], q: number) => median(runs.map((times) => quantile(times, q)));
    console.log(
      `history: ${fmt(ROWS)} rows, ${PAIRS} pairs, limit ${LIMIT}; ${fmt(REQUESTS)} requests per case × ${ROUNDS} rounds (medians of the rounds' percentiles)`,
    );
    console.log(
      '  case                      API p50   API p99   SQL p50   SQL p99   API/SQL p50   API CPU/request',
    );
    for (const [k, c] of cases.entries()) {
      const a50 = stat(results[k].api, 0.5);
      const s50 = stat(results[k].sql, 0.5);
      console.log(
        `  ${c.label.padEnd(24)} ${fmt(a50, 2).padStart(6)} ms ${fmt(stat(results[k].api, 0.99), 2).padStart(6)} ms ${fmt(s50, 2).padStart(6)} ms ${fmt(stat(results[k].sql, 0.99), 2).padStart(6)} ms   ${fmt(a50 / s50, 2).padStart(5)}×       ${fmt(median(results[k].cpu), 2)} ms`,
      );
    }
    const p50 = (k: number) => stat(results[k].api, 0.5);
    console.log(
      `  deep pages, API p50 against page 1: pair page ${lastPairPage} ${fmt(p50(1) / p50(0), 2)}×, all-pairs page ${fmt(DEEP_PAGE)} ${fmt(p50(3) / p50(2), 2)}×   (target ≤ 1.5)`,
    );
    console.log('  targets: pair page 1 API/SQL p50 ≤ 3×, API p99 ≤ 15 ms');
  } finally {
    await db.end();
    await api.stop();
    if (!KEEP) await dropScratchDatabase(DATABASE);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
