import { randomUUID } from 'node:crypto';
import Redis from 'ioredis';
import request from 'supertest';
import { encodePriceTick, workerPricesKey } from '@pairwatch/contracts';
import { startApi, TestApi, truncateAll } from './support/api';
import { testRedisUrl } from './support/test-env';

const MINUTE_MS = 60_000;

interface Point {
  atMs: number;
  ask: string;
}

interface BacktestBody {
  ticks: number;
  from: string | null;
  to: string | null;
  alerts: { ruleId: string; direction: string; price: string; observedAt: string }[];
  firedByRule: Record<string, number>;
}

/** Crossing 100 either way: every change of side between the points below is one alert. */
const RULES = [{ kind: 'cross', level: '100', direction: 'both' }];

/**
 * POST /monitors/backtest reads the tick archive (price_ticks) and, for the live hour, the recent-tick streams
 * of the pair's monitors, merged in time order, a tick in both counted once. The ticks are written here as a
 * worker and the archive's consumer would have written them; no worker runs.
 */
describe('POST /monitors/backtest over the live tick streams and the tick archive', () => {
  let api: TestApi;
  let redis: Redis;
  let now: number;

  beforeAll(async () => {
    redis = new Redis(testRedisUrl());
    api = await startApi();
  });

  beforeEach(async () => {
    // Each test's monitors have ids of their own, so their streams need no clearing (and flushing the DB would
    // take the API's consumer groups with it).
    await truncateAll(api.db);
    now = Date.now();
  });

  afterAll(async () => {
    await api?.close();
    redis?.disconnect();
  });

  /** A monitor of the pair, stopped just now: its stream still holds its last hour. */
  async function monitor(pair: string): Promise<string> {
    const id = randomUUID();
    await api.db.query(
      `INSERT INTO monitors (id, pair, interval_ms, rules, status, stopped_at)
       VALUES ($1, $2, 1000, $3, 'stopped', now())`,
      [id, pair, JSON.stringify([{ id: 'r1', kind: 'move', thresholdPercent: '1', direction: 'both' }])],
    );
    return id;
  }

  /** Appends ticks to a monitor's recent-tick stream as its worker does (entry ids from the tick's time). */
  async function stream(monitorId: string, points: Point[]): Promise<void> {
    const tx = redis.multi();
    for (const p of points) {
      const at = new Date(p.atMs).toISOString();
      const bid = `${Number(p.ask) - 1}`;
      tx.xadd(
        workerPricesKey(monitorId),
        `${p.atMs}-0`,
        ...encodePriceTick({ at, ask: p.ask, bid, price: p.ask }),
      );
    }
    await tx.exec();
  }

  /** Stores ticks in the archive as its consumer does. */
  async function archive(monitorId: string, pair: string, points: Point[]): Promise<void> {
    for (const p of points) {
      await api.db.query(
        `INSERT INTO price_ticks (monitor_id, pair, at, ask, bid) VALUES ($1, $2, $3, $4, $5)`,
        [monitorId, pair, new Date(p.atMs).toISOString(), p.ask, `${Number(p.ask) - 1}`],
      );
    }
  }

  async function backtest(pair: string, since: number): Promise<BacktestBody> {
    const res = await request(api.url)
      .post('/monitors/backtest')
      .send({ pair, intervalMs: 1000, rules: RULES, since: new Date(since).toISOString() })
      .expect(200);
    return res.body as BacktestBody;
  }

  const points = (startMs: number, stepMs: number, asks: string[]): Point[] =>
    asks.map((ask, i) => ({ atMs: startMs + i * stepMs, ask }));
  const observed = (body: BacktestBody) => body.alerts.map((a) => [a.observedAt, a.direction, a.price]);
  const iso = (ms: number) => new Date(ms).toISOString();

  it('runs over ticks found only in a monitor’s live stream (none archived yet)', async () => {
    const id = await monitor('SOL-USD');
    const series = points(now - 30 * MINUTE_MS, 1000, ['99', '101', '100.5', '99', '101']);
    await stream(id, series);
    // Another pair's stream is not read.
    await stream(await monitor('DOT-USD'), points(now - 30 * MINUTE_MS, 1000, ['99', '101']));

    const body = await backtest('SOL-USD', now - 2 * 3_600_000);
    expect(body.ticks).toBe(5);
    expect([body.from, body.to]).toEqual([iso(series[0].atMs), iso(series[4].atMs)]);
    expect(observed(body)).toEqual([
      [iso(series[1].atMs), 'up', '101'],
      [iso(series[3].atMs), 'down', '99'],
      [iso(series[4].atMs), 'up', '101'],
    ]);
    expect(body.firedByRule).toEqual({ r1: 3 });
  });

  it('runs over ticks found only in the archive (older than the live hour, their monitor long gone)', async () => {
    const series = points(now - 3 * 3_600_000, 60_000, ['101', '99', '99.5', '102']);
    await archive(randomUUID(), 'ADA-USD', series);

    const body = await backtest('ADA-USD', now - 4 * 3_600_000);
    expect(body.ticks).toBe(4);
    expect(observed(body)).toEqual([
      [iso(series[1].atMs), 'down', '99'],
      [iso(series[3].atMs), 'up', '102'],
    ]);
  });

  it('merges the archive and the live stream in time order, counting a tick present in both once', async () => {
    const id = await monitor('XRP-USD');
    const old = points(now - 2 * 3_600_000, 1000, ['99', '101']);
    const live = points(now - 40 * MINUTE_MS, 60_000, ['99', '101', '99', '101', '99']);
    // The archive has the old ticks and the first three live ones; the stream the last four (two in both).
    await archive(id, 'XRP-USD', [...old, ...live.slice(0, 3)]);
    await stream(id, live.slice(1));

    const body = await backtest('XRP-USD', now - 3 * 3_600_000);
    expect(body.ticks).toBe(old.length + live.length);
    expect([body.from, body.to]).toEqual([iso(old[0].atMs), iso(live[4].atMs)]);
    expect(observed(body)).toEqual([
      [iso(old[1].atMs), 'up', '101'],
      ...live.map((p) => [iso(p.atMs), p.ask === '101' ? 'up' : 'down', p.ask]),
    ]);
    expect(body.firedByRule).toEqual({ r1: 6 });
  });

  it("lists each rule's first 1,000 alerts and counts every one", async () => {
    // 1,500 ticks crossing 100 at every tick (r1: 1,499 alerts) and 100.5 upwards at every other (r2: 750).
    const start = now - 3 * 3_600_000;
    const asks = Array.from({ length: 1500 }, (_, i) => (i % 2 === 0 ? '99' : '101'));
    await api.db.query(
      `INSERT INTO price_ticks (monitor_id, pair, at, ask, bid)
       SELECT $1, 'BNB-USD', to_timestamp(($2::bigint + n * 1000) / 1000.0), ask::numeric, ask::numeric - 1
       FROM unnest($3::text[]) WITH ORDINALITY AS t(ask, n)`,
      [randomUUID(), start - 1000, asks],
    );
    const res = await request(api.url)
      .post('/monitors/backtest')
      .send({
        pair: 'BNB-USD',
        intervalMs: 1000,
        rules: [...RULES, { kind: 'cross', level: '100.5', direction: 'up' }],
        since: iso(start - 60_000),
      })
      .expect(200);
    const body = res.body as BacktestBody & { alertsTruncated: boolean };
    expect(body.ticks).toBe(1500);
    expect(body.firedByRule).toEqual({ r1: 1499, r2: 750 });
    expect(body.alertsTruncated).toBe(true);
    const r1 = body.alerts.filter((a) => a.ruleId === 'r1');
    expect(r1).toHaveLength(1000);
    // The first 1,000 in time: ticks 1 to 1,000.
    expect([r1[0].observedAt, r1[999].observedAt]).toEqual([iso(start + 1000), iso(start + 1_000_000)]);
    expect(body.alerts.filter((a) => a.ruleId === 'r2')).toHaveLength(750);
    expect(body.alerts.map((a) => a.observedAt)).toEqual([...body.alerts.map((a) => a.observedAt)].sort());
  });

  it('answers 422 when neither the archive nor a stream holds a tick of the pair in the range', async () => {
    const id = await monitor('LTC-USD');
    await stream(id, points(now - 30 * MINUTE_MS, 1000, ['99', '101']));
    await archive(id, 'LTC-USD', points(now - 5 * 3_600_000, 1000, ['99']));
    await request(api.url)
      .post('/monitors/backtest')
      .send({ pair: 'LTC-USD', rules: RULES, since: iso(now - 4 * 3_600_000), until: iso(now - 3_600_000) })
      .expect(422);
  });
});
