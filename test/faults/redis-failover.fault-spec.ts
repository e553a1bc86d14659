import { ALERTS_STREAM, parseRedisEnv, RedisSettings } from '@pairwatch/contracts';
import { ApiProcess, spawnApi } from '../support/api-process';
import { summaryLine, waitForRows, withClient } from '../support/faults/alert-ledger';
import { FAULTS_INSTANCE, HealthProbe } from '../support/faults/fault-api';
import { PostgresCluster, startPostgresCluster } from '../support/faults/postgres-cluster';
import { PublisherFeed } from '../support/faults/publisher-feed';
import { seconds, sleep, waitFor } from '../support/faults/util';
import { eventually } from '../support/wait';
import {
  RedisClusterSet,
  RedisProcess,
  SentinelSet,
  startRedisCluster,
  startSentinelSet,
} from '../support/redis-topology';

/** Alerts in each burst, from FEED_WORKERS simulated workers (the publisher's code, WAIT included). */
const BURST = Number(process.env.FAULT_REDIS_BURST ?? 5000);
const FEED_WORKERS = 6;
/** How long the cluster answers CLUSTERDOWN (a whole shard down) in the cluster case. */
const CLUSTER_DOWN_MS = Number(process.env.FAULT_CLUSTER_DOWN_MS ?? 20_000);

type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };

function settle<T>(promise: Promise<T>): Promise<Settled<T>> {
  return promise.then(
    (value) => ({ ok: true, value }),
    (error: unknown) => ({ ok: false, error }),
  );
}

function unwrap<T>(settled: Settled<T>): T {
  if (!settled.ok) throw settled.error;
  return settled.value;
}

function settingsOf(env: Record<string, string>): RedisSettings {
  const parsed = parseRedisEnv(env);
  if (!parsed.ok) throw new Error(parsed.problems.join('; '));
  return parsed.settings;
}

/** Whether an alert published (observed) after `sinceMs` is stored; false while Postgres does not answer. */
async function storedSince(databaseUrl: string, sinceMs: number): Promise<boolean> {
  return withClient(databaseUrl, async (client) => {
    const result = await client.query('SELECT 1 FROM alerts WHERE observed_at > $1 LIMIT 1', [
      new Date(sinceMs),
    ]);
    return result.rows.length > 0;
  }).catch(() => false);
}

async function truncateAlerts(postgres: PostgresCluster): Promise<void> {
  await withClient(postgres.url, (client) => client.query('TRUNCATE alerts'));
}

/**
 * A burst from several workers, and the master holding the alert stream SIGKILLed a third of the way in: the
 * workers (REDIS_WAIT_REPLICAS=1) and the API follow the promotion without restarting, every alert is stored
 * exactly once by id, and the time from the kill to the first alert stored after it is printed.
 */
async function burstWithKill(
  name: string,
  postgres: PostgresCluster,
  settings: RedisSettings,
  masterNow: () => Promise<RedisProcess>,
  promoted: (killed: RedisProcess) => Promise<RedisProcess>,
): Promise<{ feed: PublisherFeed; summary: Record<string, string | number> }> {
  const feed = new PublisherFeed(settings, FEED_WORKERS);
  let killedAt = 0;
  // Both watched from the kill on, while the burst goes on (measured after the burst, they would include the
  // time to publish and send the rest of it): the promotion, and the first alert stored of those published after
  // the kill (observed_at is the publishing time). Each settles into a value, so that a failure is reported where
  // it is awaited.
  let promotion: Promise<Settled<{ killed: RedisProcess; successor: RedisProcess; at: number }>> | undefined;
  let firstStored: Promise<Settled<number>> | undefined;
  const started = Date.now();
  await feed.burst(BURST, (published) => {
    if (published !== Math.floor(BURST / 3)) return;
    const killing = masterNow().then(async (master) => {
      killedAt = Date.now();
      await master.kill('SIGKILL');
      return master;
    });
    promotion = settle(
      killing.then(async (killed) => ({ killed, successor: await promoted(killed), at: Date.now() })),
    );
    firstStored = settle(
      killing.then(() =>
        waitFor(
          'an alert published after the kill stored',
          () => storedSince(postgres.url, killedAt),
          90_000,
          50,
        ),
      ),
    );
  });
  const burstMs = Date.now() - started;
  const { killed, successor, at: promotedAt } = unwrap(await promotion!);
  const flushed = await feed.flushAll(60_000);
  if (!flushed) {
    console.log(
      `[faults] ${name}: still queued; publishers said ${JSON.stringify(feed.warnings())}; connections ${feed
        .connections()
        .join(' ')}`,
    );
  }
  expect(flushed).toBe(true);
  const firstAfterKill = unwrap(await firstStored!);
  await waitForRows(postgres.url, feed.ledger.size, 60_000);
  const count = await feed.ledger.count(postgres.url);
  const summary = {
    killed: `${killed.role}:${killed.port}`,
    promoted: `${successor.role}:${successor.port} after ${seconds(promotedAt - killedAt)}`,
    killToFirstStored: seconds(firstAfterKill - killedAt),
    burst: `${BURST} in ${seconds(burstMs)}`,
    unreplicated: feed.stats.unreplicated,
  };
  console.log(summaryLine(name, count, summary));
  expect(count.missing).toEqual([]);
  expect(count.extra).toEqual([]);
  expect(count.duplicateRows).toBe(0);
  expect(count.stored).toBe(BURST);
  expect(feed.stats).toMatchObject({ pending: 0, dropped: 0 });
  return { feed, summary };
}

describe('faults: the Redis master holding the alert stream SIGKILLed (Sentinel, Cluster)', () => {
  let postgres: PostgresCluster;
  let api: ApiProcess | undefined;
  let probe: HealthProbe | undefined;
  let feed: PublisherFeed | undefined;
  let sentinel: SentinelSet | undefined;
  let cluster: RedisClusterSet | undefined;

  beforeAll(async () => {
    postgres = await startPostgresCluster();
  });

  afterEach(async () => {
    await probe?.stop();
    await feed?.close();
    await api?.kill('SIGKILL');
    await sentinel?.destroy();
    await cluster?.destroy();
    [probe, feed, api, sentinel, cluster] = [undefined, undefined, undefined, undefined, undefined];
  });

  afterAll(async () => {
    await postgres?.destroy();
  });

  let apiExit: string | undefined;
  const startApi = async (env: Record<string, string>): Promise<ApiProcess> => {
    apiExit = undefined;
    const started = await spawnApi({
      DATABASE_URL: postgres.url,
      WORKER_RUNTIME: 'process',
      PAIRWATCH_INSTANCE: FAULTS_INSTANCE,
      RECONCILE_INTERVAL_MS: '600000',
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'warn',
      ...env,
    });
    started.child.once('exit', (code, signal) => (apiExit = `code ${code} signal ${signal}`));
    return started;
  };

  // On a loaded machine some publishers' connections used to end for good here (status `end`, queue never sent):
  // the +switch-master heard while reconnecting closed ioredis' Sentinel connector mid-question. Every program's
  // client is now connected again when that happens (libs/contracts redis-revive.ts).
  it('Sentinel: the API starts with a sentinel down; a replica is promoted; nothing lost, nothing doubled', async () => {
    sentinel = await startSentinelSet();
    // One sentinel of three is down when the API starts (the other two still make the quorum of two).
    await sentinel.sentinels[0].kill();
    api = await startApi(sentinel.env());
    await truncateAlerts(postgres);
    probe = new HealthProbe(api.url, 500);
    probe.start();
    await probe.next('200 with a sentinel down', 30_000, (s) => s.status === 200);

    const set = sentinel;
    const result = await burstWithKill(
      'Sentinel: master SIGKILLed during a burst (a sentinel down too)',
      postgres,
      settingsOf(set.env()),
      () => set.master(),
      (killed) => set.promoted(killed),
    );
    feed = result.feed;
    await probe.next('200 after the failover', 30_000, (s) => s.status === 200);
    expect(apiExit).toBeUndefined();
  });

  it('Cluster: a replica is promoted for the stream; then CLUSTERDOWN for a while; nothing lost, nothing doubled', async () => {
    cluster = await startRedisCluster();
    api = await startApi(cluster.env());
    await truncateAlerts(postgres);
    probe = new HealthProbe(api.url, 500);
    probe.start();
    await probe.next('200 on the cluster', 30_000, (s) => s.status === 200);

    const set = cluster;
    const settings = settingsOf(set.env());
    const result = await burstWithKill(
      'Cluster: the master of the stream SIGKILLed during a burst',
      postgres,
      settings,
      async () => (await set.shardOf(ALERTS_STREAM)).master,
      (killed) => set.promoted(ALERTS_STREAM, killed),
    );
    feed = result.feed;
    await probe.next('200 after the failover', 30_000, (s) => s.status === 200);

    // CLUSTERDOWN: a whole shard (not the stream's) down, so some slots have no server.
    const streamShard = await set.shardOf(ALERTS_STREAM);
    let victims: RedisProcess[] = [];
    for (const key of ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h']) {
      const shard = await set.shardOf(key);
      if (shard.master !== streamShard.master) {
        victims = [shard.master, ...shard.replicas];
        break;
      }
    }
    expect(victims).toHaveLength(3);
    const downFrom = Date.now();
    const before = feed.ledger.size;
    feed.startSteady(200);
    await Promise.all(victims.map((n) => n.kill('SIGKILL')));
    await set.state('fail', 30_000);
    const down = await probe.next('/health reporting Redis down', 30_000, (s) => s.status === 503, downFrom);
    expect(down.body).toMatchObject({ redis: { status: 'down' } });
    await sleep(Math.max(0, downFrom + CLUSTER_DOWN_MS - Date.now()));
    await Promise.all(victims.map((n) => n.start()));
    await set.state('ok', 60_000);
    const healedAt = Date.now();
    await probe.next('200 after CLUSTERDOWN', 60_000, (s) => s.status === 200, healedAt);
    await feed.stopSteady();
    expect(await feed.flushAll(60_000)).toBe(true);
    await waitForRows(postgres.url, feed.ledger.size, 60_000);
    const count = await feed.ledger.count(postgres.url);
    console.log(
      summaryLine(
        `Cluster: CLUSTERDOWN for ${seconds(healedAt - downFrom)} (a shard of ${victims.length} down)`,
        count,
        {
          publishedMeanwhile: feed.ledger.size - before,
          queuedOnPublish: feed.queuedOnPublish,
        },
      ),
    );
    expect(count.missing).toEqual([]);
    expect(count.extra).toEqual([]);
    expect(count.duplicateRows).toBe(0);
    expect(feed.ledger.size - before).toBeGreaterThan(0);
    expect(apiExit).toBeUndefined();
  });

  it('Cluster: the stream master restarted while idle comes back as a replica; alerts flow after it, each stored once', async () => {
    cluster = await startRedisCluster();
    api = await startApi(cluster.env());
    await truncateAlerts(postgres);
    probe = new HealthProbe(api.url, 500);
    probe.start();
    await probe.next('200 on the cluster', 30_000, (s) => s.status === 200);
    const set = cluster;
    // Workers connected and idle: one alert each first, so every connection has found the cluster.
    feed = new PublisherFeed(settingsOf(set.env()), FEED_WORKERS);
    await feed.burst(FEED_WORKERS);
    expect(await feed.flushAll(30_000)).toBe(true);

    // Nothing is sent while the node is away and comes back (no persistence: it returns empty, and must not
    // take its slots back empty; the cluster's config file makes it rejoin as a replica of its successor).
    const { master } = await set.shardOf(ALERTS_STREAM);
    const stoppedAt = Date.now();
    await master.kill('SIGKILL');
    const successor = await set.promoted(ALERTS_STREAM, master);
    await master.start();
    await set.state('ok', 60_000);
    await eventually(
      "the restarted node an online replica of the stream's shard",
      async () => {
        const shard = await set.shardOf(ALERTS_STREAM);
        return shard.master === successor && shard.replicas.includes(master) ? true : undefined;
      },
      60_000,
      200,
    );
    const backAt = Date.now();

    const before = feed.ledger.size;
    await feed.burst(600);
    expect(await feed.flushAll(60_000)).toBe(true);
    await waitForRows(postgres.url, feed.ledger.size, 60_000);
    const count = await feed.ledger.count(postgres.url);
    console.log(
      summaryLine('Cluster: the stream master restarted while idle', count, {
        awayAndBack: seconds(backAt - stoppedAt),
        publishedAfter: feed.ledger.size - before,
        queuedOnPublish: feed.queuedOnPublish,
      }),
    );
    expect(count.missing).toEqual([]);
    expect(count.extra).toEqual([]);
    expect(count.duplicateRows).toBe(0);
    expect(count.stored).toBe(FEED_WORKERS + 600);
    expect(feed.stats).toMatchObject({ pending: 0, dropped: 0 });
    await probe.next('200 after the restart', 30_000, (s) => s.status === 200, backAt);
    expect(apiExit).toBeUndefined();
  });
});
