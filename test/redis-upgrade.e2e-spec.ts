import { randomUUID } from 'node:crypto';
import Redis from 'ioredis';
import {
  ALERT_EVENT_FIELD,
  ALERTS_CONSUMER_GROUP,
  ALERTS_STREAM,
  AlertEventInput,
  LEGACY_ALERTS_STREAM,
} from '@pairwatch/contracts';
import { eventually, resetTestState, startApi, TestApi } from './support/api';
import { testRedisUrl } from './support/test-env';

const MONITOR_ID = randomUUID();

function makeEvent(i: number): AlertEventInput {
  return {
    id: randomUUID(),
    monitorId: MONITOR_ID,
    pair: 'BTC-USD',
    direction: 'up',
    priceField: 'ask',
    referencePrice: '100',
    price: `101.${i}`,
    changePercent: '1',
    thresholdPercent: '0.5',
    intervalMs: 5000,
    observedAt: new Date(Date.UTC(2026, 10, 24, 8, 0, i)).toISOString(),
  };
}

/**
 * An installation upgraded from the key names before the hash tags: its Redis holds the old stream
 * `pairwatch:alerts` with the API's consumer group, alerts read by an API of the old version and never
 * acknowledged (it died), alerts not read at all, and a worker of the old image still writing there.
 */
describe('upgrade from the old Redis key names', () => {
  let api: TestApi | undefined;
  let redis: Redis;

  beforeAll(async () => {
    await resetTestState();
    redis = new Redis(testRedisUrl());
  });

  afterAll(async () => {
    await api?.close();
    redis?.disconnect();
  });

  it('stores every alert of the old stream, pending ones included, once each, then deletes it', async () => {
    const old = Array.from({ length: 30 }, (_, i) => makeEvent(i));
    const tx = redis.multi();
    for (const event of old) tx.xadd(LEGACY_ALERTS_STREAM, '*', ALERT_EVENT_FIELD, JSON.stringify(event));
    // One event twice: a worker that retried after a lost reply.
    tx.xadd(LEGACY_ALERTS_STREAM, '*', ALERT_EVENT_FIELD, JSON.stringify(old[3]));
    await tx.exec();
    await redis.xgroup('CREATE', LEGACY_ALERTS_STREAM, ALERTS_CONSUMER_GROUP, '0');
    // Two consumers of the old API read 10 and 8 entries and died before acknowledging them.
    await redis.xreadgroup(
      'GROUP',
      ALERTS_CONSUMER_GROUP,
      'old-api-1',
      'COUNT',
      10,
      'STREAMS',
      LEGACY_ALERTS_STREAM,
      '>',
    );
    await redis.xreadgroup(
      'GROUP',
      ALERTS_CONSUMER_GROUP,
      'old-api-2',
      'COUNT',
      8,
      'STREAMS',
      LEGACY_ALERTS_STREAM,
      '>',
    );
    const [pendingBefore] = (await redis.xpending(LEGACY_ALERTS_STREAM, ALERTS_CONSUMER_GROUP)) as [number];
    expect(Number(pendingBefore)).toBe(18);

    api = await startApi({ keepState: true });
    const db = api.db;
    const stored = async (): Promise<string[]> =>
      (await db.query<{ id: string }[]>('SELECT id FROM alerts WHERE monitor_id = $1', [MONITOR_ID])).map(
        (r) => r.id,
      );
    await eventually('the 30 alerts of the old stream stored', async () =>
      (await stored()).length >= 30 ? true : undefined,
    );
    await eventually('the old stream deleted once empty', async () =>
      (await redis.exists(LEGACY_ALERTS_STREAM)) === 0 ? true : undefined,
    );
    expect((await stored()).sort()).toEqual(old.map((e) => e.id).sort());

    // A worker of the old image, not replaced yet, writes to the old name again: it is read too.
    const late = makeEvent(30);
    await redis.xadd(LEGACY_ALERTS_STREAM, '*', ALERT_EVENT_FIELD, JSON.stringify(late));
    // And a worker of the new image writes to the new one.
    const current = makeEvent(31);
    await redis.xadd(ALERTS_STREAM, '*', ALERT_EVENT_FIELD, JSON.stringify(current));
    await eventually(
      'the late alert of the old name and the new one stored',
      async () => ((await stored()).length >= 32 ? true : undefined),
      40_000,
    );
    expect((await stored()).sort()).toEqual([...old, late, current].map((e) => e.id).sort());
    await eventually('the old stream deleted again', async () =>
      (await redis.exists(LEGACY_ALERTS_STREAM)) === 0 ? true : undefined,
    );
  });
});
