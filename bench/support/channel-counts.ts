/**
 * bench/channels.bench.ts, part 2: BENCH_COUNT_ALERTS alerts (default 10,000) in BENCH_COUNT_WAVES waves
 * (default 5) to the 20 channels of test/support/noise-scenario.ts (digests of BENCH_COUNT_DIGEST_MS, default
 * 5 s; quiet hours ending at the first whole minute after the last wave has had time to be decided), against
 * the built API. Prints per channel the prediction (test/support/noise-oracle.ts) beside what the receiver got
 * and the log says, and the time from the first wave to everything settled.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import Redis from 'ioredis';
import { Client } from 'pg';
import { ALERTS_STREAM } from '@pairwatch/contracts';
import {
  runScenario,
  scenarioSettled,
  tallyScenario,
  tallyTable,
  type ScenarioHost,
  type ScenarioRequest,
} from '../../test/support/noise-scenario';
import { BENCH_REDIS_URL, dropScratchDatabase, fmt, scratchDatabase, startApi, until } from './bench-env';

const ALERTS = Number(process.env.BENCH_COUNT_ALERTS ?? 10_000);
const WAVES = Number(process.env.BENCH_COUNT_WAVES ?? 5);
const DIGEST_MS = Number(process.env.BENCH_COUNT_DIGEST_MS ?? 5000);
const GAP_MS = DIGEST_MS + 3000;

export async function runCounts(database: string): Promise<void> {
  const url = await scratchDatabase(database);
  const redis = new Redis(BENCH_REDIS_URL);
  await redis.del(ALERTS_STREAM);
  const requests: ScenarioRequest[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests.push({ path: req.url ?? '/', body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(204).end();
    });
  });
  const port = await new Promise<number>((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)),
  );
  const api = await startApi(url, 'channel-counts', { CHANNEL_ALLOWED_HOSTS: `127.0.0.1:${port}` });
  const db = new Client({ connectionString: url });
  await db.connect();
  try {
    const host: ScenarioHost = {
      apiUrl: api.url,
      receiverUrl: `http://127.0.0.1:${port}`,
      query: async <T>(sql: string, params: unknown[] = []) => (await db.query(sql, params)).rows as T[],
      redis,
    };
    // The quiet windows end on a whole minute, at least 15 s after the last wave.
    const lastWaveAt = Date.now() + 5000 + (WAVES - 1) * GAP_MS;
    const quietEnd = new Date(Math.ceil((lastWaveAt + 15_000) / 60_000) * 60_000);
    console.log(
      `channels, counts: ${ALERTS} alerts in ${WAVES} waves ${GAP_MS / 1000} s apart to 20 channels; digest window ` +
        `${DIGEST_MS / 1000} s; quiet hours end ${quietEnd.toISOString()}`,
    );
    const started = Date.now();
    const run = await runScenario(host, {
      alerts: ALERTS,
      waves: WAVES,
      digestWindowMs: DIGEST_MS,
      waveGapMs: GAP_MS,
      quietEnd,
    });
    await until(
      'every delivery settled',
      () => scenarioSettled(host, run),
      quietEnd.getTime() - Date.now() + 180_000,
      250,
    ).catch((error: Error) => console.log(`  ${error.message}`));
    const settledS = (Date.now() - started) / 1000;
    const afterQuietS = (Date.now() - quietEnd.getTime()) / 1000;
    const tallies = await tallyScenario(host, run, requests);
    console.log(tallyTable(tallies));
    const wrong = tallies.filter((t) => t.problems.length > 0).length;
    console.log(
      `  ${wrong === 0 ? 'every channel as predicted' : `${wrong} channel(s) NOT as predicted`}; settled ${fmt(settledS, 1)} s ` +
        `after the first wave (${fmt(afterQuietS, 1)} s after the quiet hours ended; the waves took ${fmt(run.publishedOverMs / 1000, 1)} s)`,
    );
  } finally {
    await db.end();
    await api.stop();
    server.closeAllConnections();
    await new Promise<void>((done) => server.close(() => done()));
    redis.disconnect();
    await dropScratchDatabase(database);
  }
}
