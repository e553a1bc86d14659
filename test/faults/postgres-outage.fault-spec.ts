import type { ApiProcess } from '../support/api-process';
import { rowCount, summaryLine, waitForRows } from '../support/faults/alert-ledger';
import { HealthProbe, spawnFaultApi } from '../support/faults/fault-api';
import { PostgresCluster, startPostgresCluster } from '../support/faults/postgres-cluster';
import { PublisherFeed } from '../support/faults/publisher-feed';
import { RedisServer, startRedisServer } from '../support/faults/redis-server';
import { seconds, sleep, waitFor } from '../support/faults/util';

const OUTAGE_MS = 30_000;
const WORKERS = 4;
const EVERY_MS = 100;

describe('faults: Postgres stopped for 30 s during steady alerts', () => {
  let postgres: PostgresCluster;
  let redis: RedisServer;
  let api: ApiProcess | undefined;
  let feed: PublisherFeed | undefined;

  beforeAll(async () => {
    [postgres, redis] = await Promise.all([startPostgresCluster(), startRedisServer()]);
  });

  afterAll(async () => {
    await api?.kill('SIGKILL');
    await feed?.close();
    await Promise.all([postgres?.destroy(), redis?.destroy()]);
  });

  it('stores every alert once Postgres is back; /health is 503 during the outage, 200 after; the API never exits', async () => {
    api = await spawnFaultApi({ postgres, redis });
    let apiExit: string | undefined;
    api.child.once('exit', (code, signal) => (apiExit = `code ${code} signal ${signal}`));
    const probe = new HealthProbe(api.url, 500);
    probe.start();
    feed = new PublisherFeed(redis.url, WORKERS);
    feed.startSteady(EVERY_MS);

    await sleep(5000);
    expect(await rowCount(postgres.url)).toBeGreaterThan(0);
    const stoppedAt = Date.now();
    await postgres.stop();
    const publishedAtStop = feed.ledger.size;
    await sleep(OUTAGE_MS);
    const publishedBeforeStart = feed.ledger.size;
    const restartingAt = Date.now();
    await postgres.start();
    const startedAt = Date.now();

    // Everything published until Postgres came back is stored; the clock runs from the restart.
    const caughtUpMs = await waitForRows(postgres.url, publishedBeforeStart, 60_000);
    const healthyAt = await waitFor(
      '/health to answer 200 again',
      () => probe.samples.some((s) => s.at >= startedAt && s.status === 200),
      30_000,
      100,
    );
    await sleep(5000);
    await feed.stopSteady();
    expect(await feed.flushAll()).toBe(true);
    expect(feed.stats).toMatchObject({ pending: 0, dropped: 0 });
    await waitForRows(postgres.url, feed.ledger.size, 30_000);
    await sleep(1500);
    await probe.stop();

    const count = await feed.ledger.count(postgres.url, redis.url);
    const during = probe.between(stoppedAt + 1000, restartingAt);
    const after = probe.samples.filter((s) => s.at >= healthyAt);
    const firstHealthy = probe.samples.find((s) => s.at >= startedAt && s.status === 200);
    console.log(
      summaryLine('Postgres stopped 30 s', count, {
        rate: `${(WORKERS * 1000) / EVERY_MS}/s`,
        publishedDuringOutage: publishedBeforeStart - publishedAtStop,
        backlogStoredAfterStart: seconds(caughtUpMs),
        health200AfterStart: seconds((firstHealthy?.at ?? healthyAt) - startedAt),
        health503DuringOutage: `${during.filter((s) => s.status === 503).length}/${during.length} (answered in ≤ ${Math.max(...during.map((s) => s.ms))} ms)`,
        apiExited: apiExit ?? 'never',
      }),
    );

    expect(apiExit).toBeUndefined();
    expect(api.child.exitCode).toBeNull();
    expect(during.length).toBeGreaterThan(40);
    for (const sample of during) {
      expect(sample.status).toBe(503);
      expect(sample.body).toMatchObject({
        status: 'degraded',
        postgres: { status: 'down' },
        redis: { status: 'up' },
      });
    }
    expect(after.length).toBeGreaterThan(5);
    for (const sample of after) expect(sample.status).toBe(200);
    expect(publishedBeforeStart - publishedAtStop).toBeGreaterThan(0);
    expect(count.missing).toEqual([]);
    expect(count.extra).toEqual([]);
    expect(count.duplicateRows).toBe(0);
    expect(count.stored).toBe(count.published);
  }, 150_000);
});
