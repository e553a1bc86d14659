import type { ApiProcess } from '../support/api-process';
import { streamInfo, summaryLine, waitForRows } from '../support/faults/alert-ledger';
import { spawnFaultApi } from '../support/faults/fault-api';
import { seconds, waitFor } from '../support/faults/util';
import { KillReport, killHoldingPending } from '../support/faults/kill-api';
import { PostgresCluster, startPostgresCluster } from '../support/faults/postgres-cluster';
import { PublisherFeed } from '../support/faults/publisher-feed';
import { RedisServer, startRedisServer } from '../support/faults/redis-server';

const TOTAL = 10_000;

const KILL_AFTER = 2_000;

describe('faults: the API SIGKILLed in the middle of a burst', () => {
  let postgres: PostgresCluster;
  let redis: RedisServer;
  let feed: PublisherFeed | undefined;
  const apis: ApiProcess[] = [];

  beforeAll(async () => {
    [postgres, redis] = await Promise.all([startPostgresCluster(), startRedisServer()]);
  });

  afterAll(async () => {
    for (const api of apis) await api.kill('SIGKILL');
    await feed?.close();
    await Promise.all([postgres?.destroy(), redis?.destroy()]);
  });

  it(`stores all ${TOTAL} alerts, once each, after a restart`, async () => {
    const first = await spawnFaultApi({ postgres, redis });
    apis.push(first);
    feed = new PublisherFeed(redis.url, 4);

    let kill: Promise<KillReport> | undefined;
    const burstStarted = Date.now();
    await feed.burst(TOTAL, (published) => {
      if (published === KILL_AFTER)
        kill = killHoldingPending(first, redis.url, { databaseUrl: postgres.url });
    });
    const burstMs = Date.now() - burstStarted;
    expect(kill).toBeDefined();
    const killed = await kill!;

    // Restarted at once, as a supervisor (compose, systemd) would.
    const second = await spawnFaultApi({ postgres, redis });
    apis.push(second);
    const restartMs = Date.now() - killed.at;

    expect(await feed.flushAll()).toBe(true);
    expect(feed.stats).toMatchObject({ sent: TOTAL, pending: 0, dropped: 0 });
    expect(feed.ledger.size).toBe(TOTAL);

    await waitForRows(postgres.url, TOTAL, 90_000);
    const storedMs = Date.now() - killed.at;
    // The dead consumer's entries are claimed once idle for 30 s (a claim pass every 10 s), re-inserted
    // (nothing twice) and acknowledged.
    const claimedAt = await waitFor(
      "the dead consumer's pending entries to be claimed",
      async () => {
        const dead = (await streamInfo(redis.url)).consumers.find((c) => c.name === killed.consumer);
        return (dead?.pending ?? 0) === 0;
      },
      75_000,
    );
    const claimAfterKillMs = claimedAt - killed.at;

    const count = await feed.ledger.count(postgres.url, redis.url);
    const line = summaryLine('API SIGKILL mid-burst', count, {
      burst: `${TOTAL} in ${seconds(burstMs)}`,
      pendingAtKill: `${killed.pending} (${killed.pendingNotStored} not yet stored)`,
      restart: seconds(restartMs),
      allRowsAfterKill: seconds(storedMs),
      deadConsumerDrainedAfterKill: seconds(claimAfterKillMs),
      killAttempts: killed.attempts,
    });
    console.log(line);

    expect(count.missing).toEqual([]);
    expect(count.extra).toEqual([]);
    expect(count.duplicateRows).toBe(0);
    expect(count.stored).toBe(TOTAL);
    expect(killed.pending).toBeGreaterThan(0);
    expect(second.child.exitCode).toBeNull();
  }, 180_000);
});
