import type { ApiProcess } from '../support/api-process';
import { rowCount, summaryLine, waitForRows } from '../support/faults/alert-ledger';
import { HealthProbe, spawnFaultApi } from '../support/faults/fault-api';
import { PostgresCluster, startPostgresCluster } from '../support/faults/postgres-cluster';
import { PublisherFeed } from '../support/faults/publisher-feed';
import { RedisServer, startRedisServer } from '../support/faults/redis-server';
import { seconds, sleep, waitFor } from '../support/faults/util';

/**
 * Past the point where the ingestion's retry backoff reaches its 10 s cap (0.4 + 0.8 + 1.6 + 3.2 + 6.4 s), so the
 * recovery shown is the capped one; a longer outage would show nothing more.
 */
const OUTAGE_MS = 20_000;
const WORKERS = 4;
const EVERY_MS = 100;

describe(`faults: Postgres stopped for ${OUTAGE_MS / 1000} s during steady alerts`, () => {
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

    // The whole path works before the fault: alerts reach Postgres, /health says 200.
    await waitForRows(postgres.url, 1, 30_000);
    expect(await rowCount(postgres.url)).toBeGreaterThan(0);
    await probe.next('200 before the outage', 30_000, (s) => s.status === 200);
    await postgres.stop();
    const downAt = Date.now();
    const publishedAtStop = feed.ledger.size;
    // Down for OUTAGE_MS (the fault itself), and until /health has answered at its end.
    await sleep(OUTAGE_MS);
    const outageEnd = await probe.next('an answer at the end of the outage', 20_000);
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
    // Alerts keep flowing after the recovery: ones published since are stored too.
    await waitForRows(postgres.url, feed.ledger.size + 10 * WORKERS, 30_000);
    await feed.stopSteady();
    expect(await feed.flushAll()).toBe(true);
    expect(feed.stats).toMatchObject({ pending: 0, dropped: 0 });
    await waitForRows(postgres.url, feed.ledger.size, 30_000);
    // /health is observed up to the end of the run.
    const lastAnswer = await probe.next('an answer at the end of the run', 20_000);
    await probe.stop();

    const count = await feed.ledger.count(postgres.url, redis.url);
    const during = probe.between(downAt + 1000, restartingAt);
    const after = probe.samples.filter((s) => s.at >= healthyAt);
    const firstHealthy = probe.samples.find((s) => s.at >= startedAt && s.status === 200);
    console.log(
      summaryLine(`Postgres stopped ${seconds(OUTAGE_MS)}`, count, {
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
    // Observed over the whole outage, up to its end (the outage lasted until it was).
    expect(during.length).toBeGreaterThan(0);
    expect(during).toContainEqual(outageEnd);
    for (const sample of during) {
      expect(sample.status).toBe(503);
      expect(sample.body).toMatchObject({
        status: 'degraded',
        postgres: { status: 'down' },
        redis: { status: 'up' },
      });
    }
    // Healthy from the first 200 after the restart, at every observation up to the end of the run.
    expect(after).toContainEqual(lastAnswer);
    for (const sample of after) expect(sample.status).toBe(200);
    expect(publishedBeforeStart - publishedAtStop).toBeGreaterThan(0);
    expect(count.missing).toEqual([]);
    expect(count.extra).toEqual([]);
    expect(count.duplicateRows).toBe(0);
    expect(count.stored).toBe(count.published);
  }, 150_000);
});
