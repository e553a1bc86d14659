/**
 * The tick archive's cost in the API as issue 22 sets it: "300 monitors ticking every second ... the API's CPU
 * with the archive on beside off". bench/archive.bench.ts measures the archive against an API with nothing else
 * to do (its publisher stands in for the workers: no monitor rows, no workers to supervise), the strictest
 * baseline. This one runs the real thing: BENCH_MONITORS monitors (default 300) created through the API, one
 * worker container each on the Docker engine ticking every second through the relay from the fake ticker, and
 * the same API build run with TICK_ARCHIVE=on and =off in turns over the same running workers (an API restart
 * adopts them: their spec hash does not depend on TICK_ARCHIVE, which the bench checks by their container ids).
 *
 * Each round runs both settings (the order swapped every round): the API is started with the setting, left
 * BENCH_WARM_S to settle (with the archive on, until the stream's backlog from the off turn is archived), then its
 * CPU is read over BENCH_WINDOW_S. Printed: each window's CPU in ms/s, the median of each setting and their
 * ratio, and each round's own ratio. The two settings do not run side by side here (one installation, one set
 * of workers), so the machine's noise falls on them in turn: alternate, repeat, quote medians.
 *
 *   npm run build && flock /work/wt/heavy.lock npm run bench:archive-live
 *   BENCH_MONITORS=300 BENCH_ROUNDS=3 BENCH_WINDOW_S=100 BENCH_WARM_S=20 (defaults: five minutes of each setting); WORKER_IMAGE
 *   (pairwatch-worker:latest); BENCH_API_MAIN=<another build's main.js> measures that build.
 *
 * Scratch database pairwatch_bench_archive_live (dropped afterwards), Redis BENCH_REDIS_URL (emptied),
 * containers labelled pairwatch.instance=bench-archive-live: every one is removed at the end, and on failure.
 */
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
  fmt,
  median,
  scratchDatabase,
  sleep,
  startApi,
  until,
} from './support/bench-env';

const MONITORS = Number(process.env.BENCH_MONITORS ?? 300);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const WINDOW_S = Number(process.env.BENCH_WINDOW_S ?? 100);
const WARM_S = Number(process.env.BENCH_WARM_S ?? 20);
const WORKER_IMAGE = process.env.WORKER_IMAGE ?? 'pairwatch-worker:latest';
const DATABASE = 'pairwatch_bench_archive_live';
const INSTANCE = 'bench-archive-live';

const docker = new Docker();

/** The ids of the installation's running worker containers (the relay's not among them), sorted. */
async function runningWorkers(): Promise<string[]> {
  const containers = await docker.listContainers({
    filters: { label: [`pairwatch.instance=${INSTANCE}`, 'pairwatch.role=worker'], status: ['running'] },
  });
  return containers.map((c) => c.Id).sort();
}

async function json<T>(url: string, init?: RequestInit): Promise<{ status: number; body: T }> {
  const response = await fetch(url, init);
  return { status: response.status, body: (await response.json()) as T };
}

async function main(): Promise<void> {
  const pairs = syntheticPairs(MONITORS, ['USD', 'EUR', 'BTC']);
  const ticker = new FakeUpholdServer();
  for (const pair of pairs) ticker.setQuote(pair, seedQuote(pair));
  const tickerUrl = (await ticker.start(0, '127.0.0.1')).url;
  const url = await scratchDatabase(DATABASE);
  const redis = new Redis(BENCH_REDIS_URL);
  await redis.flushdb();
  const label = `pairwatch.instance=${INSTANCE}`;
  await removeContainers([label]);
  const db = new Client({ connectionString: url });
  await db.connect();
  const relayPort = await freePort();
  let api: BenchApi | undefined;
  const apiEnv = (archive: 'on' | 'off') => ({
    TICK_ARCHIVE: archive,
    WORKER_RUNTIME: 'docker',
    WORKER_NETWORK: 'host',
    WORKER_IMAGE,
    UPHOLD_RELAY: 'on',
    RELAY_PORT: String(relayPort),
    UPHOLD_API_URL: tickerUrl,
    PAIRWATCH_INSTANCE: INSTANCE,
    MONITOR_CREATE_LIMIT_PER_MIN: '1000000',
  });
  const cleanUp = async () => {
    await api?.stop().catch(() => undefined);
    api = undefined;
    const removed = await removeContainers([label]);
    console.log(`cleanup: removed ${removed} container(s) (label ${label})`);
  };
  const onSignal = () => void cleanUp().finally(() => process.exit(130));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    api = await startApi(url, 'archive-live-on', apiEnv('on'));
    const created = await createMonitors(api.url, pairs);
    await until(
      `all ${MONITORS} workers ticking`,
      async () => {
        const { body } = await json<{ worker: { lastTickAt: string | null } | null }[]>(
          `${api!.url}/monitors`,
        );
        return body.filter((m) => m.worker?.lastTickAt).length >= MONITORS;
      },
      900_000,
      1000,
    );
    console.log(`${created} monitors created and ticking every second (${WORKER_IMAGE})`);
    const workers = await runningWorkers();
    const windows: { archive: 'on' | 'off'; msPerS: number }[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      for (const archive of round % 2 === 0 ? (['off', 'on'] as const) : (['on', 'off'] as const)) {
        await api?.stop();
        api = await startApi(url, `archive-live-${archive}`, apiEnv(archive));
        await sleep(WARM_S * 1000);
        if (archive === 'on') await archiveCaughtUp(db);
        const start = { cpu: api.cpuMs(), at: performance.now() };
        await sleep(WINDOW_S * 1000);
        const msPerS = (api.cpuMs() - start.cpu) / ((performance.now() - start.at) / 1000);
        windows.push({ archive, msPerS });
        const now = await runningWorkers();
        const same = now.length === workers.length && now.every((id, i) => id === workers[i]);
        console.log(
          `  round ${round + 1}, archive ${archive}: the API ${fmt(msPerS, 1)} ms/s of CPU over ${WINDOW_S} s` +
            `${same ? '' : ` [the workers changed: ${now.length} running, not the same containers]`}`,
        );
        if (!same) throw new Error('an API restart replaced workers: the windows would not be comparable');
      }
    }
    const of = (archive: 'on' | 'off') => windows.filter((w) => w.archive === archive).map((w) => w.msPerS);
    const [on, off] = [median(of('on')), median(of('off'))];
    const rounds = Array.from({ length: ROUNDS }, (_, r) => of('on')[r] / of('off')[r]);
    const { rows } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM price_ticks');
    console.log(
      `archive, live: ${MONITORS} monitors ticking every second, the API's CPU, median of ${ROUNDS} windows of ` +
        `${WINDOW_S} s each: archive off ${fmt(off, 1)} ms/s, on ${fmt(on, 1)} ms/s: +${fmt(on - off, 1)} ms/s, ` +
        `${fmt(on / off, 3)}× off (target ≤ 1.10×); by round ${rounds.map((r) => `${fmt(r, 3)}×`).join(' ')}; ` +
        `${fmt(rows[0].n)} ticks archived`,
    );
  } finally {
    await db.end().catch(() => undefined);
    await cleanUp();
    await ticker.stop();
    await redis.flushdb();
    redis.disconnect();
    await dropScratchDatabase(DATABASE);
  }
}

/** POSTs a monitor per pair, ten at a time (a 503 asked again after a second, as a client would). */
async function createMonitors(base: string, pairs: string[]): Promise<number> {
  let next = 0;
  let created = 0;
  const poster = async () => {
    for (let i = next++; i < pairs.length; i = next++) {
      for (;;) {
        const res = await json<unknown>(`${base}/monitors`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          // A threshold no random walk reaches in the run: ticks only, no alerts to store or deliver.
          body: JSON.stringify({ pair: pairs[i], intervalMs: 1000, thresholdPercent: 50 }),
        });
        if (res.status === 503) {
          await sleep(1000);
          continue;
        }
        if (res.status !== 201)
          throw new Error(`POST ${pairs[i]} answered ${res.status}: ${JSON.stringify(res.body)}`);
        created += 1;
        break;
      }
    }
  };
  await Promise.all(Array.from({ length: 10 }, poster));
  return created;
}

/** Until the newest archived tick is at most 3 s old: what the off turn left on the stream is archived. */
async function archiveCaughtUp(db: Client): Promise<void> {
  await until(
    'the archive caught up with the ticks stream',
    async () => {
      const { rows } = await db.query<{ age: number | null }>(
        `SELECT extract(epoch FROM now() - max(at))::float8 AS age FROM price_ticks WHERE at > now() - interval '1 minute'`,
      );
      return rows[0].age !== null && rows[0].age < 3;
    },
    300_000,
    500,
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
