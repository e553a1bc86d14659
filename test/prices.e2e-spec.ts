import { randomUUID } from 'node:crypto';
import Redis from 'ioredis';
import request from 'supertest';
import { FakeUpholdServer } from '../apps/fake-ticker/src/fake-uphold.server';
import { PRICE_TICK_FIELD, priceTickJson, workerPricesKey, workerStateKey } from '@pairwatch/contracts';
import type { AppConfig } from '../apps/api/src/config/app.config';
import { PriceStreamReader } from '../apps/api/src/redis/price-stream.reader';
import { describeWithDocker, removeAllWorkers } from './support/docker';
import { eventually, startApi, TestApi } from './support/api';
import { testRedisUrl } from './support/test-env';

interface Tick {
  at: string;
  ask: string;
  bid: string;
  price: string;
}

/** A tiny history, so the cap is reached in seconds: 5 s at 1 s is 5 entries. */
const HISTORY_MS = 5000;
const CAP = 5;

describeWithDocker('recent prices: a real worker against the fake ticker', () => {
  let ticker: FakeUpholdServer;
  let api: TestApi;
  let redis: Redis;
  let monitorId: string;
  /** The plain reader of the price streams (no cache: one XRANGE a read), beside the API's caching one. */
  let plain: PriceStreamReader;

  const prices = async (query: Record<string, string> = {}): Promise<Tick[]> =>
    (await request(api.url).get(`/monitors/${monitorId}/prices`).query(query).expect(200)).body as Tick[];
  const plainPrices = async (since: string): Promise<Tick[]> =>
    JSON.parse((await plain.read(monitorId, Date.parse(since))).json.toString('utf8')) as Tick[];

  beforeAll(async () => {
    ticker = new FakeUpholdServer();
    const { url } = await ticker.start(0, '127.0.0.1');
    ticker.setQuote('ETH-EUR', { ask: '2500.50', bid: '2499.25' });
    api = await startApi({ env: { UPHOLD_API_URL: url, PRICE_HISTORY_MS: String(HISTORY_MS) } });
    redis = new Redis(testRedisUrl());
    plain = new PriceStreamReader({
      redis: {
        mode: 'standalone',
        url: testRedisUrl(),
        sentinels: [],
        sentinelName: 'mymaster',
        clusterNodes: [],
        waitReplicas: 0,
      },
    } as unknown as AppConfig);
    const created = await request(api.url)
      .post('/monitors')
      .send({ pair: 'ETH-EUR', intervalMs: 1000, thresholdPercent: 50, priceField: 'bid' })
      .expect(201);
    monitorId = (created.body as { id: string }).id;
  });

  afterAll(async () => {
    await api?.close();
    await removeAllWorkers();
    await ticker?.stop();
    redis?.disconnect();
    await plain?.onApplicationShutdown();
  });

  it('serves the ticks the worker wrote, newest last, with the watched price', async () => {
    // The container has to start and connect first: on this shared machine under load that took up to a minute.
    const first = await eventually(
      'a first tick served',
      async () => {
        const ticks = await prices();
        if (ticks.length > 0) return ticks;
        const monitor = await request(api.url).get(`/monitors/${monitorId}`);
        throw new Error(`no tick yet; the monitor: ${JSON.stringify(monitor.body)}`);
      },
      120_000,
    );
    expect(first[0]).toEqual({ at: expect.any(String), ask: '2500.50', bid: '2499.25', price: '2499.25' });

    ticker.setQuote('ETH-EUR', { ask: '2510.00', bid: '2508.75' });
    const ticks = await eventually('the new quote served last', async () => {
      const all = await prices();
      return all[all.length - 1]?.bid === '2508.75' ? all : undefined;
    });
    expect(ticks[ticks.length - 1]).toMatchObject({ ask: '2510.00', price: '2508.75' });
    const times = ticks.map((t) => Date.parse(t.at));
    expect([...times].sort((a, b) => a - b)).toEqual(times);
    // The newest tick is the one the worker's state reports (both went to Redis in one MULTI).
    const state = await redis.hgetall(workerStateKey(monitorId));
    expect(state.lastPrice).toBe('2508.75');
  });

  it('stores each tick as one field holding its compact JSON, and serves those bytes as they are', async () => {
    const entries = await redis.xrange(workerPricesKey(monitorId), '-', '+');
    expect(entries.length).toBeGreaterThan(0);
    for (const [, fields] of entries) {
      expect(fields).toEqual([
        PRICE_TICK_FIELD,
        expect.stringMatching(/^\{"at":"[^"]+","ask":"[^"]+","bid":"[^"]+","price":"[^"]+"\}$/),
      ]);
      const tick = JSON.parse(fields[1]) as Tick;
      expect(priceTickJson(tick)).toBe(fields[1]);
    }
    // The body is the stored values joined (the worker may add one meanwhile: compare what both hold).
    const res = await request(api.url).get(`/monitors/${monitorId}/prices`).expect(200);
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
    const stored = new Set(entries.map(([, fields]) => fields[1]));
    const served = (res.body as Tick[]).map(priceTickJson);
    expect(served.filter((json) => stored.has(json)).length).toBeGreaterThanOrEqual(entries.length - 1);
    expect(res.text).toBe(`[${served.join(',')}]`);
  });

  it('keeps no more than PRICE_HISTORY_MS over the interval: the oldest entries are trimmed', async () => {
    const key = workerPricesKey(monitorId);
    const [[oldestId]] = await redis.xrange(key, '-', '+', 'COUNT', 1);
    await eventually('the first entry trimmed away', async () => {
      const [[head]] = await redis.xrange(key, '-', '+', 'COUNT', 1);
      return head !== oldestId ? true : undefined;
    });
    // Trimmed once past the cap, with an exact MAXLEN: exactly the cap is left, and the endpoint never serves more.
    expect(await redis.xlen(key)).toBe(CAP);
    expect((await prices()).length).toBeLessThanOrEqual(CAP);
    // And the key expires on its own once no worker renews it: history plus the state's 15 s TTL.
    const ttl = await redis.pttl(key);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(HISTORY_MS + 15_000);
  });

  it('serves only the ticks at or after since', async () => {
    const all = await prices();
    const newest = all[all.length - 1];
    const since = await prices({ since: newest.at });
    expect(since.length).toBeGreaterThanOrEqual(1);
    expect(since.every((t) => Date.parse(t.at) >= Date.parse(newest.at))).toBe(true);
    expect(await prices({ since: new Date(Date.now() + 60_000).toISOString() })).toEqual([]);
  });

  it.each([
    ['not a time', 'yesterday'],
    ['a time without an offset', '2026-12-01T20:00:00'],
    ['a week date', '2026-W48'],
  ])('refuses since as %s with a 400 naming since', async (_label, since) => {
    const res = await request(api.url).get(`/monitors/${monitorId}/prices`).query({ since }).expect(400);
    expect((res.body as { errors: { field: string }[] }).errors.map((e) => e.field)).toEqual(['since']);
  });

  it('answers 404 for an unknown monitor and 400 for an id that is not a UUID', async () => {
    await request(api.url).get(`/monitors/${randomUUID()}/prices`).expect(404);
    const res = await request(api.url).get('/monitors/not-an-id/prices').expect(400);
    expect((res.body as { errors: { field: string }[] }).errors.map((e) => e.field)).toEqual(['id']);
  });

  it('refuses unknown query fields, as the other endpoints do', async () => {
    await request(api.url).get(`/monitors/${monitorId}/prices`).query({ until: 'x' }).expect(400);
  });

  it("serves an older worker's four-field entries beside new ones, leaves out bad entries, and applies since to both", async () => {
    // Stopped, so no worker writes or trims the stream meanwhile; the entries are put there by hand.
    await request(api.url).delete(`/monitors/${monitorId}`).expect(204);
    const key = workerPricesKey(monitorId);
    await redis.del(key);
    const now = Date.now();
    const at = (ms: number): string => new Date(now - ms).toISOString();
    // Within the suite's 5 s of history, however slowly the requests below are answered.
    const old1: Tick = { at: at(1200), ask: '2500.50', bid: '2499.25', price: '2499.25' };
    const new1: Tick = { at: at(800), ask: '2501.00', bid: '2500.00', price: '2500.00' };
    // 400 ms ago, written with an offset: the same instant's wall time at UTC+1.
    const plusOne = new Date(now - 400 + 3_600_000).toISOString().replace('Z', '+01:00');
    const old2: Tick = { at: plusOne, ask: '2502.00', bid: '2501.00', price: '2501.00' };
    const legacy = (t: Tick): string[] => ['at', t.at, 'ask', t.ask, 'bid', t.bid, 'price', t.price];
    await redis.xadd(key, '*', ...legacy(old1));
    await redis.xadd(key, '*', PRICE_TICK_FIELD, priceTickJson(new1));
    await redis.xadd(key, '*', PRICE_TICK_FIELD, '{"at":"not a time","ask":"1","bid":"1","price":"1"}');
    await redis.xadd(key, '*', 'at', at(600), 'ask', '6.3e4', 'bid', '1', 'price', '1');
    await redis.xadd(key, '*', ...legacy(old2));
    const all = await prices();
    expect(all).toEqual([old1, new1, old2]);
    // since: the format-1 entry with an offset time is compared as an instant, the others as they are.
    expect(await prices({ since: new1.at })).toEqual([new1, old2]);
    expect(await prices({ since: at(600) })).toEqual([old2]);
  });

  it('reads repeated requests incrementally and stays exactly what Redis holds: added, trimmed, deleted, re-created', async () => {
    // The previous test left the monitor stopped and its stream made by hand; the API has read it (it is cached).
    const key = workerPricesKey(monitorId);
    const before = await prices();
    const tick = (ms: number, bid: string): Tick => ({
      at: new Date(Date.now() - ms).toISOString(),
      ask: '2600.00',
      bid,
      price: bid,
    });
    const added = tick(100, '2599.00');
    await redis.xadd(key, '*', PRICE_TICK_FIELD, priceTickJson(added));
    expect(await prices()).toEqual([...before, added]);
    // Trimmed from the front as a worker's exact MAXLEN does: the bad entries go with the older ones.
    await redis.xtrim(key, 'MAXLEN', '=', 2);
    expect(await prices()).toEqual([before[before.length - 1], added]);
    const next = tick(50, '2598.00');
    await redis.xadd(key, 'MAXLEN', '=', 2, '*', PRICE_TICK_FIELD, priceTickJson(next));
    expect(await prices()).toEqual([added, next]);
    expect(await prices({ since: next.at })).toEqual([next]);
    // The plain reader (no cache: one XRANGE a read) serves the same.
    expect(await plainPrices(next.at)).toEqual([next]);
    // The key gone (expired: no worker renews it), then written again by a new worker.
    await redis.del(key);
    expect(await prices()).toEqual([]);
    const reborn = tick(10, '2597.00');
    await redis.xadd(key, '*', PRICE_TICK_FIELD, priceTickJson(reborn));
    expect(await prices()).toEqual([reborn]);
    // An entry deleted in the middle (no worker does that): seen by the length check, read again in full.
    const last = tick(5, '2596.00');
    const middle = await redis.xadd(key, '*', PRICE_TICK_FIELD, priceTickJson(tick(7, '1.00')));
    await redis.xadd(key, '*', PRICE_TICK_FIELD, priceTickJson(last));
    expect((await prices()).length).toBe(3);
    await redis.xdel(key, middle!);
    expect(await prices()).toEqual([reborn, last]);
    expect(await plainPrices(reborn.at)).toEqual([reborn, last]);
  });
});
