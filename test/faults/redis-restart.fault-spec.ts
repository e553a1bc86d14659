import { FakeUpholdServer } from '../../apps/fake-ticker/src/fake-uphold.server';
import type { ApiProcess } from '../support/api-process';
import { rowCount, summaryLine, waitForRows } from '../support/faults/alert-ledger';
import { HealthProbe, spawnFaultApi } from '../support/faults/fault-api';
import { PostgresCluster, startPostgresCluster } from '../support/faults/postgres-cluster';
import { PublisherFeed } from '../support/faults/publisher-feed';
import { RedisServer, startRedisServer } from '../support/faults/redis-server';
import { seconds, sleep, waitFor } from '../support/faults/util';
import { spawnWorker, WorkerProcess } from '../support/faults/worker-process';

const OUTAGE_MS = 8_000;
const FEED_WORKERS = 3;
const EVERY_MS = 100;
const PAIRS = ['BTC-USD', 'ETH-USD'];

/** When a worker's log first says `msg` at or after `since`. */
function loggedAt(worker: WorkerProcess, msg: string, since: number): number | undefined {
  const line = worker
    .lines()
    .find((l) => l.msg === msg && l.time !== undefined && Date.parse(l.time) >= since);
  return line?.time === undefined ? undefined : Date.parse(line.time);
}

describe('faults: Redis restarted during steady alerts (its own Redis, persistence on)', () => {
  let postgres: PostgresCluster;
  let redis: RedisServer;
  let ticker: FakeUpholdServer;
  let api: ApiProcess | undefined;
  let feed: PublisherFeed | undefined;
  const workers: WorkerProcess[] = [];
  let flipper: NodeJS.Timeout | undefined;

  beforeAll(async () => {
    [postgres, redis] = await Promise.all([startPostgresCluster(), startRedisServer()]);
    ticker = new FakeUpholdServer();
    await ticker.start(0, '127.0.0.1');
  });

  afterAll(async () => {
    clearInterval(flipper);
    await Promise.all(workers.map((w) => w.stop()));
    await api?.kill('SIGKILL');
    await feed?.close();
    await ticker?.stop();
    await Promise.all([postgres?.destroy(), redis?.destroy()]);
  });

  it('workers and the API reconnect on their own, and nothing is lost', async () => {
    api = await spawnFaultApi({ postgres, redis }, { UPHOLD_API_URL: ticker.url });
    let apiExit: string | undefined;
    api.child.once('exit', (code, signal) => (apiExit = `code ${code} signal ${signal}`));
    const probe = new HealthProbe(api.url, 500);
    probe.start();

    // Two real worker processes whose price moves past the threshold about every tick.
    let high = false;
    for (const pair of PAIRS) ticker.setPrice(pair, '100');
    flipper = setInterval(() => {
      high = !high;
      for (const pair of PAIRS) ticker.setPrice(pair, high ? '101' : '100');
    }, 1000);
    for (const pair of PAIRS) {
      workers.push(spawnWorker({ PAIR: pair, UPHOLD_API_URL: ticker.url, REDIS_URL: redis.url }));
    }
    // And simulated workers publishing faster, through the same publisher code.
    feed = new PublisherFeed(redis.url, FEED_WORKERS);
    feed.startSteady(EVERY_MS);

    await sleep(5000);
    expect(await rowCount(postgres.url)).toBeGreaterThan(0);
    const stoppedAt = Date.now();
    await redis.stop();
    await sleep(OUTAGE_MS);
    await redis.start();
    const startedAt = Date.now();
    const feedBeforeStart = feed.ledger.size;
    const workerAlertsBeforeStart = workers.reduce((n, w) => n + w.alerts().made.length, 0);

    // Everything published before the restart is stored.
    const caughtUpMs = await waitForRows(postgres.url, feedBeforeStart + workerAlertsBeforeStart, 60_000);
    await waitFor(
      'both workers to write to Redis again',
      () => workers.every((w) => loggedAt(w, 'redis writes succeed again', startedAt) !== undefined),
      20_000,
    );
    await sleep(4000);

    clearInterval(flipper);
    await feed.stopSteady();
    expect(await feed.flushAll()).toBe(true);
    expect(feed.stats).toMatchObject({ pending: 0, dropped: 0 });
    const exitCodes = await Promise.all(workers.map((w) => w.stop()));
    await probe.stop();

    const ledger = feed.ledger;
    const fromFeed = ledger.size;
    const queuedByWorkers = workers.reduce(
      (n, w) =>
        n + w.lines().filter((l) => l.msg === 'price oscillation: alert queued until Redis is back').length,
      0,
    );
    for (const worker of workers) {
      const log = worker.alerts();
      expect(log.dropped).toEqual([]);
      expect(log.undelivered).toEqual([]);
      ledger.addAll(log.made);
    }
    await waitForRows(postgres.url, ledger.size, 30_000);
    const count = await ledger.count(postgres.url, redis.url);

    const during = probe.between(stoppedAt + 1000, startedAt - 500);
    const after = probe.samples.filter((s) => s.at >= startedAt + 3000);
    const reconnects = workers.map(
      (w) => (loggedAt(w, 'redis connection restored', startedAt) ?? NaN) - startedAt,
    );
    console.log(
      summaryLine(`Redis restarted (${seconds(OUTAGE_MS)} down)`, count, {
        workerProcesses: `${workers.length} (${count.published - fromFeed} alerts)`,
        simulatedWorkers: `${FEED_WORKERS} at ${(FEED_WORKERS * 1000) / EVERY_MS}/s (${fromFeed} alerts)`,
        queuedWhileDown: `${feed.queuedOnPublish + queuedByWorkers}`,
        workerReconnect: reconnects.map((ms) => seconds(ms)).join('/'),
        backlogStoredAfterStart: seconds(caughtUpMs),
        health503DuringOutage: `${during.filter((s) => s.status === 503).length}/${during.length} (answered in ≤ ${Math.max(...during.map((s) => s.ms))} ms)`,
        apiExited: apiExit ?? 'never',
      }),
    );

    expect(exitCodes).toEqual([0, 0]);
    expect(apiExit).toBeUndefined();
    expect(feed.queuedOnPublish + queuedByWorkers).toBeGreaterThan(0);
    for (const ms of reconnects) expect(ms).toBeLessThan(10_000);
    // While Redis is down each /health waits out its 2 s Redis check, so fewer samples fit in the outage.
    expect(during.length).toBeGreaterThanOrEqual(2);
    for (const sample of during) {
      expect(sample.status).toBe(503);
      expect(sample.body).toMatchObject({ redis: { status: 'down' }, postgres: { status: 'up' } });
    }
    expect(after.length).toBeGreaterThan(3);
    for (const sample of after) expect(sample.status).toBe(200);
    expect(count.missing).toEqual([]);
    expect(count.extra).toEqual([]);
    expect(count.duplicateRows).toBe(0);
    expect(count.stored).toBe(count.published);
  }, 150_000);
});
