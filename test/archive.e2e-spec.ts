import { randomUUID } from 'node:crypto';
import Redis from 'ioredis';
import request from 'supertest';
import {
  TICK_EVENT_FIELD,
  TICKS_CONSUMER_GROUP,
  TICKS_DEAD_LETTER_STREAM,
  TICKS_STREAM,
  TickEvent,
  tickEventJson,
} from '@pairwatch/contracts';
import { TickArchiveRepository } from '../apps/api/src/analytics/tick-archive.repository';
import { TickPartitionsRepository, utcDay } from '../apps/api/src/analytics/tick-partitions.repository';
import { TickPartitionsService } from '../apps/api/src/analytics/tick-partitions.service';
import { eventually, startApi, TestApi } from './support/api';
import { groupCaughtUp } from './support/stream';
import { testRedisUrl } from './support/test-env';

const DAY_MS = 86_400_000;
const MONITOR = randomUUID();
/** A minute of the day before yesterday: within retention, and a day with no partition made ahead. */
const MINUTE = utcDay(Date.now()) - 2 * DAY_MS + 10 * 60_000;

const tick = (second: number, ask: string, bid: string, monitorId = MONITOR): TickEvent => ({
  monitorId,
  pair: 'ETH-EUR',
  at: new Date(MINUTE + second * 1000).toISOString(),
  ask,
  bid,
});

async function publish(redis: Redis, payloads: string[]): Promise<void> {
  const tx = redis.multi();
  for (const payload of payloads) tx.xadd(TICKS_STREAM, '*', TICK_EVENT_FIELD, payload);
  await tx.exec();
}

describe('tick archive: ticks from the Redis stream into price_ticks, partitions and candles', () => {
  let api: TestApi;
  let redis: Redis;

  const caughtUp = () =>
    eventually('the archive to acknowledge every tick', async () =>
      (await groupCaughtUp(redis, TICKS_STREAM, TICKS_CONSUMER_GROUP)) ? true : undefined,
    );
  const candles = async (query: string) =>
    (await request(api.url).get(`/pairs/eth-eur/candles?${query}`).expect(200)).body as Record<
      string,
      unknown
    >[];

  beforeAll(async () => {
    redis = new Redis(testRedisUrl());
    api = await startApi();
  });

  afterAll(async () => {
    await api?.close();
    redis?.disconnect();
  });

  it('makes the partitions of today and the next days at start', async () => {
    // The pass at start began during app.init(); maintain() shares it while it runs, or runs one after it.
    // Either way no pass of this API's loop comes for an hour after this, so the tests below see only their own
    // passes. (Waiting for the partitions alone is not enough: an earlier suite's API made them in this database,
    // and this API's start pass could then move the ticks published below before the test meant it to.)
    await api.app.get(TickPartitionsService).maintain();
    const today = utcDay(Date.now());
    const days = await api.app.get(TickPartitionsRepository).partitionDays();
    expect(days).toEqual(expect.arrayContaining([0, 1, 2, 3].map((n) => today + n * DAY_MS)));
  });

  it('archives every good tick once, dead-letters a bad one with its reason, and rolls up exact candles', async () => {
    const ticks = [tick(5, '100.5', '100.1'), tick(20, '101.25', '100.75'), tick(40, '99.5', '99.45')];
    const bad = JSON.stringify({ ...tick(50, '0', '99'), monitorId: MONITOR });
    // Re-deliveries: a worker retrying a MULTI whose reply it lost publishes the same tick twice.
    await publish(
      redis,
      [...ticks, ticks[0], bad, ticks[2]].map((t) => (typeof t === 'string' ? t : tickEventJson(t))),
    );
    await caughtUp();

    const rows = await api.db.query<{ monitor_id: string; ask: string; bid: string }[]>(
      `SELECT monitor_id, ask::text, bid::text FROM price_ticks WHERE pair = 'ETH-EUR' ORDER BY at`,
    );
    expect(rows).toEqual(ticks.map((t) => ({ monitor_id: MONITOR, ask: t.ask, bid: t.bid })));

    const dead = (await redis.xrange(TICKS_DEAD_LETTER_STREAM, '-', '+')).map(([, fields]) => fields);
    expect(dead).toHaveLength(1);
    expect(dead[0][dead[0].indexOf('reason') + 1]).toMatch(/^ask: must be greater than 0/);

    const since = new Date(MINUTE).toISOString();
    const until = new Date(MINUTE + 60_000).toISOString();
    expect(await candles(`interval=1m&since=${since}&until=${until}`)).toEqual([
      { t: since, open: '100.5', high: '101.25', low: '99.5', close: '99.5', ticks: 3 },
    ]);
    expect(await candles(`interval=1m&field=mid&since=${since}&until=${until}`)).toEqual([
      { t: since, open: '100.3', high: '101', low: '99.475', close: '99.475', ticks: 3 },
    ]);
    const day = new Date(utcDay(MINUTE)).toISOString();
    expect(await candles(`interval=1d&field=bid&since=${day}&until=${until}`)).toEqual([
      { t: day, open: '100.1', high: '100.75', low: '99.45', close: '99.45', ticks: 3 },
    ]);
  });

  it('lets a late tick correct its candle, and a re-run change nothing', async () => {
    const since = new Date(MINUTE).toISOString();
    const until = new Date(MINUTE + 60_000).toISOString();
    const late = tick(1, '98.75', '98.5');
    await publish(redis, [tickEventJson(late)]);
    await caughtUp();
    const corrected = [{ t: since, open: '98.75', high: '101.25', low: '98.75', close: '99.5', ticks: 4 }];
    expect(await candles(`interval=1m&since=${since}&until=${until}`)).toEqual(corrected);
    expect(await candles(`interval=5m&since=${since}&until=${until}`)).toEqual(corrected);

    // The same ticks again (a batch re-delivered after a crash): no row, no candle changes.
    await publish(redis, [late, tick(5, '100.5', '100.1'), tick(40, '99.5', '99.45')].map(tickEventJson));
    await caughtUp();
    expect(await candles(`interval=1m&since=${since}&until=${until}`)).toEqual(corrected);
    const [{ count }] = await api.db.query<{ count: number }[]>(
      `SELECT count(*)::int AS count FROM price_ticks`,
    );
    expect(count).toBe(4);
  });

  it('keeps ticks whose day had no partition, and moves them into it when maintenance makes it', async () => {
    const partitions = api.app.get(TickPartitionsRepository);
    const day = utcDay(MINUTE);
    expect(await partitions.partitionDays()).not.toContain(day);
    const [{ count: waiting }] = await api.db.query<{ count: number }[]>(
      'SELECT count(*)::int AS count FROM price_ticks_default',
    );
    expect(waiting).toBe(4);

    const report = await api.app.get(TickPartitionsService).maintain();
    expect(report).toMatchObject({ moved: 4 });
    expect(report?.created).toContain(new Date(day).toISOString().slice(0, 10));
    expect(await partitions.partitionDays()).toContain(day);
    const counts = await api.db.query<{ default: number; all: number }[]>(
      `SELECT (SELECT count(*) FROM price_ticks_default)::int AS "default", (SELECT count(*) FROM price_ticks)::int AS "all"`,
    );
    expect(counts).toEqual([{ default: 0, all: 4 }]);

    // A tick of that day re-delivered now finds its row in the new partition: still once.
    await publish(redis, [tickEventJson(tick(20, '101.25', '100.75'))]);
    await caughtUp();
    const [{ count }] = await api.db.query<{ count: number }[]>(
      `SELECT count(*)::int AS count FROM price_ticks`,
    );
    expect(count).toBe(4);
  });

  it('drops the day partitions past TICK_RETENTION_DAYS whole', async () => {
    const partitions = api.app.get(TickPartitionsRepository);
    const old = utcDay(Date.now()) - (api.config.archive.retentionDays + 2) * DAY_MS;
    await partitions.createPartition(old);
    await api.db.query(
      `INSERT INTO price_ticks (monitor_id, pair, at, ask, bid) VALUES ($1, 'ETH-EUR', $2, 1, 1)`,
      [randomUUID(), new Date(old + 1000).toISOString()],
    );
    const report = await api.app.get(TickPartitionsService).maintain();
    expect(report?.dropped).toEqual([new Date(old).toISOString().slice(0, 10)]);
    expect(await partitions.partitionDays()).not.toContain(old);
    const [{ count }] = await api.db.query<{ count: number }[]>(
      `SELECT count(*)::int AS count FROM price_ticks WHERE at < $1`,
      [new Date(old + DAY_MS).toISOString()],
    );
    expect(count).toBe(0);
  });

  it('answers 400 naming the parameter for bad input, and [] for a pair without ticks', async () => {
    const cases: [string, string][] = [
      ['/pairs/ETH-EUR/candles?interval=2m', 'interval'],
      ['/pairs/ETH-EUR/candles', 'interval'],
      ['/pairs/ETH-EUR/candles?interval=1m&field=last', 'field'],
      ['/pairs/ETH-EUR/candles?interval=1m&since=yesterday', 'since'],
      ['/pairs/ETH-EUR/candles?interval=1m&since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z', 'since'],
      ['/pairs/ETH-EUR/candles?interval=1m&since=2026-01-01T00:00:00Z&until=2026-01-02T00:00:00Z', 'since'],
      ['/pairs/ETH_EUR/candles?interval=1m', 'pair'],
    ];
    for (const [path, field] of cases) {
      const res = await request(api.url).get(path).expect(400);
      expect({
        path,
        fields: (res.body as { errors: { field: string }[] }).errors.map((e) => e.field),
      }).toEqual({
        path,
        fields: [field],
      });
    }
    expect(await request(api.url).get('/pairs/XRP-USD/candles?interval=1h').expect(200)).toMatchObject({
      body: [],
    });
  });

  it('stores a tick given twice in one batch once (the first given, the key judged on the typed values)', async () => {
    const monitor = randomUUID();
    const minute = Math.floor(Date.now() / 60_000) * 60_000;
    const at = (second: number) => new Date(minute + second * 1000).toISOString();
    const first = { monitorId: monitor, pair: 'SOL-EUR', at: at(1), ask: '20.5', bid: '20.4' };
    const other = { ...first, at: at(2), ask: '21', bid: '20.9' };
    // The same key again: the UUID in capitals, the instant with an offset; other prices.
    const again = { ...first, monitorId: monitor.toUpperCase(), at: at(1).replace('Z', '+00:00'), ask: '99' };
    const fresh = await api.app.get(TickArchiveRepository).insertBatch([first, other, again]);
    expect([...fresh]).toEqual([first, other]);
    const rows = await api.db.query<{ ask: string }[]>(
      `SELECT ask::text FROM price_ticks WHERE monitor_id = $1 ORDER BY at`,
      [monitor],
    );
    expect(rows).toEqual([{ ask: '20.5' }, { ask: '21' }]);
    const sol = (
      await request(api.url)
        .get(`/pairs/sol-eur/candles?interval=1m&since=${at(0)}&until=${at(60)}`)
        .expect(200)
    ).body as Record<string, unknown>[];
    expect(sol).toEqual([{ t: at(0), open: '20.5', high: '21', low: '20.5', close: '21', ticks: 2 }]);
    // The batch again: nothing new, nothing changed.
    expect((await api.app.get(TickArchiveRepository).insertBatch([again, first, other])).size).toBe(0);
  });
});
