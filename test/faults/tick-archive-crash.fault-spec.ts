import { randomUUID } from 'node:crypto';
import Redis from 'ioredis';
import { TICK_EVENT_FIELD, TICKS_CONSUMER_GROUP, TICKS_STREAM, tickEventJson } from '@pairwatch/contracts';
import type { ApiProcess } from '../support/api-process';
import { streamInfo, withClient } from '../support/faults/alert-ledger';
import { KillReport, killHoldingPending } from '../support/faults/kill-api';
import { spawnFaultApi } from '../support/faults/fault-api';
import { PostgresCluster, startPostgresCluster } from '../support/faults/postgres-cluster';
import { RedisServer, startRedisServer } from '../support/faults/redis-server';
import { seconds, sleep, waitFor } from '../support/faults/util';

const MONITORS = 50;
const TICKS_PER_MONITOR = 1000;
const TOTAL = MONITORS * TICKS_PER_MONITOR;
const CHUNK = 1000;
/** The API is killed once this many ticks are on the stream, while its consumer holds unacknowledged ones. */
const KILL_AFTER = 10_000;

/** The archive group's consumers and their pending entries. */
const consumers = async (redisUrl: string) =>
  (await streamInfo(redisUrl, TICKS_STREAM, TICKS_CONSUMER_GROUP)).consumers;

describe('faults: the API SIGKILLed in the middle of a tick burst', () => {
  let postgres: PostgresCluster;
  let redis: RedisServer;
  let client: Redis;
  const apis: ApiProcess[] = [];

  beforeAll(async () => {
    [postgres, redis] = await Promise.all([startPostgresCluster(), startRedisServer()]);
    client = new Redis(redis.url);
  });

  afterAll(async () => {
    for (const api of apis) await api.kill('SIGKILL');
    client?.disconnect();
    await Promise.all([postgres?.destroy(), redis?.destroy()]);
  });

  it(`archives all ${TOTAL} ticks once each, candles included, after a restart`, async () => {
    const first = await spawnFaultApi({ postgres, redis });
    apis.push(first);
    const monitors = Array.from({ length: MONITORS }, () => randomUUID());
    const base = Date.now() - TICKS_PER_MONITOR * 1000;

    let killed: Promise<KillReport> | undefined;
    const burstStarted = Date.now();
    for (let published = 0; published < TOTAL; published += CHUNK) {
      const pipeline = client.pipeline();
      for (let i = published; i < published + CHUNK; i++) {
        const second = Math.floor(i / MONITORS);
        const event = {
          monitorId: monitors[i % MONITORS],
          pair: `P${i % MONITORS}-USD`,
          at: new Date(base + second * 1000).toISOString(),
          ask: `${100 + (i % 7)}.${i % 100}`,
          bid: `${99 + (i % 5)}.5`,
        };
        pipeline.xadd(TICKS_STREAM, '*', TICK_EVENT_FIELD, tickEventJson(event));
      }
      await pipeline.exec();
      if (published + CHUNK === KILL_AFTER)
        killed = killHoldingPending(first, redis.url, {
          stream: TICKS_STREAM,
          group: TICKS_CONSUMER_GROUP,
          attempts: 500,
        });
      // The burst goes on at the pace of a busy installation while the API reads it.
      await sleep(20);
    }
    const burstMs = Date.now() - burstStarted;
    const dead = await killed!;
    const killedAt = Date.now();
    expect(dead.pending).toBeGreaterThan(0);

    // Restarted at once, as a supervisor (compose, systemd) would.
    const second = await spawnFaultApi({ postgres, redis });
    apis.push(second);

    const count = () =>
      withClient(postgres.url, async (db) =>
        Number((await db.query('SELECT count(*) AS n FROM price_ticks')).rows[0].n),
      );
    await waitFor(`all ${TOTAL} ticks archived`, async () => (await count()) >= TOTAL, 90_000, 500);
    // The dead consumer's entries are claimed once idle for 30 s (a claim pass every 10 s).
    await waitFor(
      "the dead consumer's pending entries to be claimed",
      async () => ((await consumers(redis.url)).find((c) => c.name === dead.consumer)?.pending ?? 0) === 0,
      75_000,
      500,
    );
    const settledMs = Date.now() - killedAt;

    const check = await withClient(postgres.url, async (db) => {
      const rows = await db.query<{ ticks: string; keys: string; candle_ticks: string; day_ticks: string }>(
        `SELECT (SELECT count(*) FROM price_ticks) AS ticks,
                (SELECT count(DISTINCT (monitor_id, at)) FROM price_ticks) AS keys,
                (SELECT sum(ticks) FROM price_candles WHERE interval_s = 60) AS candle_ticks,
                (SELECT sum(ticks) FROM price_candles WHERE interval_s = 86400) AS day_ticks`,
      );
      return rows.rows[0];
    });
    console.log(
      `tick archive, API SIGKILL mid-burst: ${TOTAL} ticks in ${seconds(burstMs)}, ${dead.pending} pending at the kill, ` +
        `all archived and the dead consumer drained ${seconds(settledMs)} after it; rows ${check.ticks}, candle ticks ${check.candle_ticks}`,
    );
    // Every tick once, and every candle counted it once: the rollups went in the same transaction as the rows.
    expect(check).toEqual({
      ticks: String(TOTAL),
      keys: String(TOTAL),
      candle_ticks: String(TOTAL),
      day_ticks: String(TOTAL),
    });
  });
});
