import { randomUUID } from 'node:crypto';
import request from 'supertest';
import type { AlertEvent } from '@pairwatch/contracts';
import { AlertsRepository } from '../apps/api/src/alerts/alerts.repository';
import { startApi, TestApi } from './support/api';

const MONITOR_ID = randomUUID();
const DAY_MS = 86_400_000;

function alert(
  pair: string,
  observedAt: string,
  direction: 'up' | 'down',
  kind: AlertEvent['kind'] = 'move',
): AlertEvent {
  return {
    id: randomUUID(),
    monitorId: MONITOR_ID,
    pair,
    ruleId: 'r1',
    kind,
    details: {},
    direction,
    priceField: 'ask',
    referencePrice: '100',
    price: '101',
    changePercent: '1',
    thresholdPercent: '0.5',
    intervalMs: 5000,
    observedAt,
  };
}

interface Bucket {
  t: string;
  total: number;
  byKind: Record<string, Record<string, number>>;
}

describe('GET /alerts/stats: alert counts per bucket, by kind and direction', () => {
  let api: TestApi;

  const stats = async (query: string) =>
    (await request(api.url).get(`/alerts/stats?${query}`).expect(200)).body as Bucket[];

  beforeAll(async () => {
    api = await startApi();
    await api.app
      .get(AlertsRepository)
      .insertBatch([
        alert('BTC-USD', '2026-11-02T00:00:00.000Z', 'up'),
        alert('BTC-USD', '2026-11-02T10:15:00.000Z', 'up'),
        alert('BTC-USD', '2026-11-02T23:59:59.999Z', 'down'),
        alert('ETH-EUR', '2026-11-02T10:20:00.000Z', 'down'),
        alert('BTC-USD', '2026-11-04T08:00:00.000Z', 'down'),
        alert('BTC-USD', '2026-11-04T09:00:00.000Z', 'up', 'cross'),
        alert('BTC-USD', '2026-11-05T00:00:00.000Z', 'up'),
      ]);
  });

  afterAll(async () => {
    await api?.close();
  });

  it('counts per UTC day by kind and direction, every day of the range present, empty days at 0, the end excluded', async () => {
    const days = await stats('since=2026-11-01&until=2026-11-05&bucket=day');
    expect(days).toEqual([
      { t: '2026-11-01T00:00:00.000Z', total: 0, byKind: {} },
      { t: '2026-11-02T00:00:00.000Z', total: 4, byKind: { move: { up: 2, down: 2 } } },
      { t: '2026-11-03T00:00:00.000Z', total: 0, byKind: {} },
      { t: '2026-11-04T00:00:00.000Z', total: 2, byKind: { cross: { up: 1 }, move: { down: 1 } } },
    ]);
  });

  it('filters by pair (any case) and counts per hour from the hour holding since', async () => {
    const hours = await stats(
      'pair=btc-usd&since=2026-11-02T09:30:00Z&until=2026-11-02T12:00:00Z&bucket=hour',
    );
    expect(hours.map((h) => [h.t, h.total])).toEqual([
      ['2026-11-02T09:00:00.000Z', 0],
      ['2026-11-02T10:00:00.000Z', 1],
      ['2026-11-02T11:00:00.000Z', 0],
    ]);
    expect(hours[1].byKind).toEqual({ move: { up: 1 } });
  });

  it('defaults to days, over the 30 days to now', async () => {
    const days = await stats('');
    expect(days).toHaveLength(30);
    const today = Math.floor(Date.now() / DAY_MS) * DAY_MS;
    expect(days[29].t).toBe(new Date(today).toISOString());
    expect(days[0].t).toBe(new Date(today - 29 * DAY_MS).toISOString());
  });

  it.each([
    ['bucket=week', 'bucket', /bucket must be one of hour, day/],
    ['since=yesterday', 'since', /since must be an ISO-8601/],
    ['until=2026-13-01', 'until', /until must be an ISO-8601/],
    ['pair=BTC_USD', 'pair', /pair/],
    ['since=2026-11-05&until=2026-11-01', 'since', /since must not be after until/],
    ['since=2026-01-01&until=2026-12-01&bucket=hour', 'since', /more than 1000/],
  ])('refuses %s with a 400 naming %s', async (query, field, message) => {
    const body = (await request(api.url).get(`/alerts/stats?${query}`).expect(400)).body as {
      errors: { field: string; messages: string[] }[];
    };
    expect(body.errors.map((e) => e.field)).toEqual([field]);
    expect(body.errors[0].messages.join(' ')).toMatch(message);
  });
});
