import type { ApiProcess } from '../support/api-process';
import { streamInfo, summaryLine, waitForRows } from '../support/faults/alert-ledger';
import { spawnFaultApi } from '../support/faults/fault-api';
import { KillReport, killHoldingPending } from '../support/faults/kill-api';
import { PostgresCluster, startPostgresCluster } from '../support/faults/postgres-cluster';
import { PublisherFeed } from '../support/faults/publisher-feed';
import { RedisServer, startRedisServer } from '../support/faults/redis-server';
import { seconds, waitFor } from '../support/faults/util';

const TOTAL = 6_000;
const KILL_AFTER = 1_500;

/** "claimed N alert(s) left pending by another consumer", summed over an API's log. */
function claimedInLog(output: string): number {
  let total = 0;
  for (const match of output.matchAll(/claimed (\d+) alert\(s\) left pending by another consumer/g)) {
    total += Number(match[1]);
  }
  return total;
}

describe('faults: two API replicas consuming, one SIGKILLed', () => {
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

  it("the survivor claims the dead replica's pending entries; every alert is stored once", async () => {
    // One after the other: the first runs the migrations.
    const victim = await spawnFaultApi({ postgres, redis });
    const survivor = await spawnFaultApi({ postgres, redis });
    apis.push(victim, survivor);
    feed = new PublisherFeed(redis.url, 4);

    // Both consume: wait until each has joined the group.
    await waitFor(
      'both replicas to join the consumer group',
      async () => (await streamInfo(redis.url).catch(() => ({ consumers: [] }))).consumers.length >= 2,
      20_000,
    );

    let kill: Promise<KillReport> | undefined;
    await feed.burst(TOTAL, (published) => {
      if (published === KILL_AFTER)
        kill = killHoldingPending(victim, redis.url, { databaseUrl: postgres.url });
    });
    const killed = await kill!;
    expect(await feed.flushAll()).toBe(true);
    expect(feed.stats).toMatchObject({ sent: TOTAL, pending: 0, dropped: 0 });

    await waitForRows(postgres.url, TOTAL, 90_000);
    const storedAt = Date.now();
    const drainedAt = await waitFor(
      "the dead replica's pending entries to be claimed",
      async () => {
        const dead = (await streamInfo(redis.url)).consumers.find((c) => c.name === killed.consumer);
        return (dead?.pending ?? 0) === 0;
      },
      75_000,
    );
    // And handled: the survivor has stored, acknowledged and logged what it claimed.
    await waitFor(
      'the survivor to have acknowledged and logged its claims',
      async () => {
        const mine = (await streamInfo(redis.url)).consumers.find((c) =>
          c.name.includes(`-${survivor.child.pid}-`),
        );
        return mine?.pending === 0 && claimedInLog(survivor.output()) >= killed.pending;
      },
      30_000,
    );
    const survivorConsumer = (await streamInfo(redis.url)).consumers.find((c) =>
      c.name.includes(`-${survivor.child.pid}-`),
    );
    const claimed = claimedInLog(survivor.output());

    const count = await feed.ledger.count(postgres.url, redis.url);
    console.log(
      summaryLine('2 replicas, one SIGKILLed', count, {
        pendingAtKill: `${killed.pending} (${killed.pendingNotStored} not yet stored)`,
        claimedBySurvivor: claimed,
        allRowsAfterKill: seconds(storedAt - killed.at),
        deadReplicaDrainedAfterKill: seconds(drainedAt - killed.at),
      }),
    );

    expect(killed.pending).toBeGreaterThan(0);
    expect(claimed).toBeGreaterThanOrEqual(killed.pending);
    expect(survivorConsumer?.pending).toBe(0);
    expect(survivor.child.exitCode).toBeNull();
    expect(count.missing).toEqual([]);
    expect(count.extra).toEqual([]);
    expect(count.duplicateRows).toBe(0);
    expect(count.stored).toBe(TOTAL);
  }, 180_000);
});
