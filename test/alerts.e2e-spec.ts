import { randomUUID } from 'node:crypto';
import Redis from 'ioredis';
import request from 'supertest';
import {
  ALERT_EVENT_FIELD,
  ALERTS_CONSUMER_GROUP,
  ALERTS_DEAD_LETTER_STREAM,
  ALERTS_STREAM,
  AlertEvent,
} from '@pairwatch/contracts';
import { AlertStreamRepository } from '../apps/api/src/redis/alert-stream.repository';
import { binaryTextArray } from '../apps/api/src/database/sql-text';
import { eventually, startApi, TestApi } from './support/api';
import { groupCaughtUp } from './support/stream';
import { testRedisUrl } from './support/test-env';

const MONITOR_ID = randomUUID();

function makeEvent(i: number, overrides: Partial<AlertEvent> = {}): AlertEvent {
  return {
    id: randomUUID(),
    monitorId: MONITOR_ID,
    pair: 'BTC-USD',
    ruleId: 'r1',
    kind: 'move',
    details: {},
    direction: i % 2 === 0 ? 'up' : 'down',
    priceField: 'ask',
    referencePrice: '63120.45',
    price: `631${String(i).padStart(2, '0')}.000012345`,
    changePercent: '0.01234567',
    thresholdPercent: '0.01',
    intervalMs: 5000,
    observedAt: new Date(Date.UTC(2026, 10, 24, 8, 0, i)).toISOString(),
    ...overrides,
  };
}

async function publish(redis: Redis, payloads: string[]): Promise<void> {
  const tx = redis.multi();
  for (const payload of payloads) tx.xadd(ALERTS_STREAM, '*', ALERT_EVENT_FIELD, payload);
  await tx.exec();
}

describe('alert ingestion from the Redis stream into Postgres', () => {
  let api: TestApi;
  let redis: Redis;

  beforeAll(async () => {
    redis = new Redis(testRedisUrl());
    await redis.del(ALERTS_STREAM, ALERTS_DEAD_LETTER_STREAM);
    api = await startApi();
  });

  afterAll(async () => {
    await api?.close();
    await redis?.del(ALERTS_STREAM, ALERTS_DEAD_LETTER_STREAM);
    redis?.disconnect();
  });

  it('stores each good alert exactly once, dead-letters the malformed one and leaves nothing pending', async () => {
    const events = Array.from({ length: 20 }, (_, i) => makeEvent(i));
    const payloads = events.map((e) => JSON.stringify(e));
    // Duplicates: three events published twice (a worker retrying after a lost reply does this).
    payloads.push(payloads[0], payloads[5], payloads[19]);
    const malformed = '{"id":"not-a-uuid","pair":"BTC-USD","price":1.5}';
    payloads.splice(7, 0, malformed);
    await publish(redis, payloads);

    const rows = await eventually('all 20 alerts stored', async () => {
      const result = await api.db.query<
        {
          id: string;
          price: string;
        }[]
      >('SELECT id, price FROM alerts ORDER BY observed_at');
      return result.length >= 20 ? result : undefined;
    });
    expect(rows.map((r) => r.id).sort()).toEqual(events.map((e) => e.id).sort());
    // Prices come back exactly as published: numeric, not float.
    expect(rows.map((r) => r.price)).toEqual(events.map((e) => e.price));

    const dead = await eventually('the malformed event dead-lettered', async () => {
      const entries = await redis.xrange(ALERTS_DEAD_LETTER_STREAM, '-', '+');
      return entries.length > 0 ? entries : undefined;
    });
    expect(dead).toHaveLength(1);
    const fields = dead[0][1];
    expect(fields[fields.indexOf('event') + 1]).toBe(malformed);
    expect(fields[fields.indexOf('reason') + 1]).toMatch(/id/);

    await eventually('nothing pending in the consumer group', async () => {
      const [pending] = (await redis.xpending(ALERTS_STREAM, ALERTS_CONSUMER_GROUP)) as [number];
      return Number(pending) === 0 ? true : undefined;
    });
    // Re-delivering the same events later stores nothing new, once the API has read and acknowledged them.
    await publish(redis, payloads.slice(0, 5));
    await eventually('the re-delivered events read and acknowledged', async () =>
      (await groupCaughtUp(redis, ALERTS_STREAM, ALERTS_CONSUMER_GROUP)) ? true : undefined,
    );
    const [{ count }] = await api.db.query<
      {
        count: number;
      }[]
    >('SELECT count(*)::int AS count FROM alerts');
    expect(count).toBe(20);
  });

  it('hands Postgres arrays it reads back element for element (the insert passes its columns as binary text arrays)', async () => {
    const values = [
      'BTC-USD',
      '63120.450000',
      'NULL',
      'null',
      '',
      'a,b',
      ' spaced ',
      'say "hi"',
      'back\\slash',
      '{}',
      'é€',
      '😀',
    ];
    const [{ back }] = await api.db.query<{ back: string[] }[]>('SELECT $1::text[] AS back', [
      binaryTextArray(values),
    ]);
    expect(back).toEqual(values);
  });

  it('serves the history newest first with stable keyset pages and filters', async () => {
    const first = await request(api.url).get('/alerts').query({ pair: 'btc-usd', limit: 8 }).expect(200);
    const page1 = first.body as { items: { id: string; observedAt: string }[]; nextCursor: string | null };
    expect(page1.items).toHaveLength(8);
    expect(page1.nextCursor).not.toBeNull();
    const seen = [...page1.items];
    let cursor = page1.nextCursor;
    while (cursor) {
      const next = await request(api.url)
        .get('/alerts')
        .query({ pair: 'BTC-USD', limit: 8, cursor })
        .expect(200);
      const body = next.body as typeof page1;
      seen.push(...body.items);
      cursor = body.nextCursor;
    }
    expect(seen).toHaveLength(20);
    expect(new Set(seen.map((a) => a.id)).size).toBe(20);
    const times = seen.map((a) => Date.parse(a.observedAt));
    expect(times).toEqual([...times].sort((a, b) => b - a));

    const since = new Date(Date.UTC(2026, 10, 24, 8, 0, 15)).toISOString();
    const until = new Date(Date.UTC(2026, 10, 24, 8, 0, 18)).toISOString();
    const window = await request(api.url).get('/alerts').query({ since, until }).expect(200);
    expect((window.body as typeof page1).items.map((a) => a.observedAt)).toEqual([
      '2026-11-24T08:00:17.000Z',
      '2026-11-24T08:00:16.000Z',
      '2026-11-24T08:00:15.000Z',
    ]);

    const other = await request(api.url).get('/alerts').query({ pair: 'ETH-USD' }).expect(200);
    expect((other.body as typeof page1).items).toHaveLength(0);
    const byMonitor = await request(api.url)
      .get('/alerts')
      .query({ monitorId: MONITOR_ID, limit: 100 })
      .expect(200);
    expect((byMonitor.body as typeof page1).items).toHaveLength(20);
  });

  it('clamps limit to 1..500 and refuses bad filters with the field named', async () => {
    const one = await request(api.url).get('/alerts').query({ limit: 0 }).expect(200);
    expect((one.body as { items: unknown[] }).items).toHaveLength(1);
    const all = await request(api.url).get('/alerts').query({ limit: 100000 }).expect(200);
    expect((all.body as { items: unknown[] }).items).toHaveLength(20);

    const cases: [Record<string, string>, string][] = [
      [{ limit: 'ten' }, 'limit'],
      [{ pair: 'BTC/USD' }, 'pair'],
      [{ monitorId: '42' }, 'monitorId'],
      [{ since: 'yesterday' }, 'since'],
      [{ since: '2026-11-25', until: '2026-11-24T23:59:59Z' }, 'since'],
      [{ cursor: 'eyJ2IjoxLCJ0IjoiMjAyNi0xMS0yNCIsImlkIjoiMSJ9' }, 'cursor'],
      [{ cursor: "' OR 1=1 --" }, 'cursor'],
      [{ color: 'red' }, 'color'],
    ];
    for (const [query, field] of cases) {
      const res = await request(api.url).get('/alerts').query(query).expect(400);
      expect((res.body as { errors: { field: string }[] }).errors.map((e) => e.field)).toContain(field);
    }
  });
  it('trims the stream only below what every consumer group has acknowledged', async () => {
    const trimmer = api.app.get(AlertStreamRepository);
    await publish(redis, [JSON.stringify(makeEvent(40)), JSON.stringify(makeEvent(41))]);
    // A second reader that has read nothing holds every entry in the stream.
    await redis.xgroup('CREATE', ALERTS_STREAM, 'slow-reader', '0');
    try {
      await eventually('the API to acknowledge the new alerts', async () => {
        const [pending] = (await redis.xpending(ALERTS_STREAM, ALERTS_CONSUMER_GROUP)) as [number];
        const [{ count }] = await api.db.query<{ count: number }[]>(
          'SELECT count(*)::int AS count FROM alerts',
        );
        return Number(pending) === 0 && count === 22 ? true : undefined;
      });
      const length = await redis.xlen(ALERTS_STREAM);
      await trimmer.trimAcknowledged(1_000_000);
      expect(await redis.xlen(ALERTS_STREAM)).toBe(length);

      // The slow reader reads and acknowledges five: exactly those five may go.
      const reply = (await redis.xreadgroup(
        'GROUP',
        'slow-reader',
        'r1',
        'COUNT',
        5,
        'STREAMS',
        ALERTS_STREAM,
        '>',
      )) as [string, [string, string[]][]][];
      const ids = reply[0][1].map(([id]) => id);
      await redis.xack(ALERTS_STREAM, 'slow-reader', ...ids);
      await trimmer.trimAcknowledged(1_000_000);
      expect(await redis.xlen(ALERTS_STREAM)).toBe(length - 5);
      // Read but not acknowledged: kept.
      await redis.xreadgroup('GROUP', 'slow-reader', 'r1', 'COUNT', 3, 'STREAMS', ALERTS_STREAM, '>');
      await trimmer.trimAcknowledged(1_000_000);
      expect(await redis.xlen(ALERTS_STREAM)).toBe(length - 5);
    } finally {
      await redis.xgroup('DESTROY', ALERTS_STREAM, 'slow-reader');
    }
    // With only pairwatch's group, which acknowledged everything, the stream empties.
    await trimmer.trimAcknowledged(1_000_000);
    expect(await redis.xlen(ALERTS_STREAM)).toBe(0);
  });

  it('dead-letters events Postgres could not store instead of retrying their batch forever', async () => {
    // Each is valid JSON in the event's shape but outside what the table holds: a year 0 instant, a 32-bit
    // overflow, a time finer than the history cursor's milliseconds. Published in one batch with good alerts.
    const unstorable = [
      makeEvent(50, { observedAt: '0000-01-01T00:00:00.000Z' }),
      makeEvent(51, { intervalMs: 2 ** 31 }),
      makeEvent(52, { observedAt: '2026-11-24T08:00:52.123456Z' }),
    ];
    const good = [makeEvent(53), makeEvent(54)];
    await redis.del(ALERTS_DEAD_LETTER_STREAM);
    await publish(
      redis,
      [good[0], ...unstorable, good[1]].map((e) => JSON.stringify(e)),
    );

    const dead = await eventually('the three unstorable events dead-lettered', async () => {
      const entries = await redis.xrange(ALERTS_DEAD_LETTER_STREAM, '-', '+');
      return entries.length >= 3 ? entries : undefined;
    });
    const reasonOf = (id: string): string | undefined => {
      const entry = dead.find(([, f]) => f[f.indexOf('event') + 1].includes(id));
      return entry?.[1][entry[1].indexOf('reason') + 1];
    };
    expect(dead).toHaveLength(3);
    expect(reasonOf(unstorable[0].id)).toMatch(/^observedAt: /);
    expect(reasonOf(unstorable[1].id)).toMatch(/^intervalMs: /);
    expect(reasonOf(unstorable[2].id)).toMatch(/^observedAt: .*millisecond/);
    const stored = await eventually('the good alerts of the same batch stored', async () => {
      const rows = await api.db.query<{ id: string }[]>('SELECT id FROM alerts WHERE id = ANY($1)', [
        [...good, ...unstorable].map((e) => e.id),
      ]);
      return rows.length >= 2 ? rows : undefined;
    });
    expect(stored.map((r) => r.id).sort()).toEqual(good.map((e) => e.id).sort());
    await eventually('nothing pending in the consumer group', async () => {
      const [pending] = (await redis.xpending(ALERTS_STREAM, ALERTS_CONSUMER_GROUP)) as [number];
      return Number(pending) === 0 ? true : undefined;
    });
  });
});

describe('API key, health and docs', () => {
  let api: TestApi;
  const key = 'k'.repeat(8) + randomUUID();

  beforeAll(async () => {
    api = await startApi({ env: { API_KEY: key } });
  });

  afterAll(async () => {
    await api?.close();
  });

  it('refuses a missing or wrong key with 401 and accepts the right one', async () => {
    await request(api.url).get('/alerts').expect(401);
    await request(api.url).get('/monitors').set('X-API-Key', 'wrong').expect(401);
    await request(api.url).post('/monitors').send({ pair: 'BTC-USD' }).expect(401);
    await request(api.url).get('/alerts').set('X-API-Key', key).expect(200);
  });

  it('keeps /health and /docs open and documents every endpoint', async () => {
    const health = await request(api.url).get('/health');
    expect(health.body).toMatchObject({ postgres: { status: 'up' }, redis: { status: 'up' } });
    await request(api.url).get('/docs').redirects(1).expect(200);
    const doc = (await request(api.url).get('/docs-json').expect(200)).body as {
      paths: Record<string, Record<string, unknown>>;
      components: { schemas: Record<string, { properties?: Record<string, unknown>; required?: string[] }> };
    };
    expect(Object.keys(doc.paths).sort()).toEqual([
      '/alerts',
      '/alerts/stats',
      '/alerts/stream',
      '/channels',
      '/channels/{id}',
      '/channels/{id}/deliveries',
      '/channels/{id}/deliveries/{deliveryId}/retry',
      '/channels/{id}/rotate-secret',
      '/channels/{id}/snooze',
      '/channels/{id}/test',
      '/health',
      '/health/live',
      '/metrics',
      '/monitors',
      '/monitors/backtest',
      '/monitors/{id}',
      '/monitors/{id}/mute',
      '/monitors/{id}/prices',
      '/monitors/{id}/restart',
      '/pairs/{pair}/candles',
      '/webhooks',
      '/webhooks/{id}',
      '/webhooks/{id}/deliveries',
      '/webhooks/{id}/deliveries/{deliveryId}/retry',
      '/webhooks/{id}/rotate-secret',
      '/webhooks/{id}/test',
    ]);
    expect(Object.keys(doc.paths['/monitors']).sort()).toEqual(['get', 'post']);
    expect(Object.keys(doc.paths['/monitors/{id}']).sort()).toEqual(['delete', 'get', 'patch']);
    expect(Object.keys(doc.components.schemas.CreateMonitorDto.properties ?? {}).sort()).toEqual(
      ['cooldownMs', 'direction', 'intervalMs', 'pair', 'priceField', 'rules', 'thresholdPercent'].sort(),
    );
    // rules: a discriminated union on kind, one schema per kind with its fields and the shared options.
    const ref = (name: string) => `#/components/schemas/${name}`;
    const kinds = {
      move: ['MoveRuleDto', ['thresholdPercent', 'direction']],
      cross: ['CrossRuleDto', ['level', 'direction', 'rearmPercent']],
      window: ['WindowRuleDto', ['thresholdPercent', 'windowMs', 'direction']],
      trailing: ['TrailingRuleDto', ['thresholdPercent', 'direction']],
      spread: ['SpreadRuleDto', ['thresholdPercent']],
    } as const;
    const shared = ['id', 'priceField', 'cooldownMs', 'maxFires', 'expiresAt', 'label'];
    const rulesUnion = {
      type: 'array',
      minItems: 1,
      maxItems: 10,
      items: {
        oneOf: Object.values(kinds).map(([name]) => ({ $ref: ref(name) })),
        discriminator: {
          propertyName: 'kind',
          mapping: Object.fromEntries(Object.entries(kinds).map(([kind, [name]]) => [kind, ref(name)])),
        },
      },
    };
    for (const body of ['CreateMonitorDto', 'UpdateMonitorDto', 'BacktestDto']) {
      expect(doc.components.schemas[body].properties?.rules).toMatchObject(rulesUnion);
    }
    for (const [kind, [name, fields]] of Object.entries(kinds)) {
      const schema = doc.components.schemas[name] as {
        properties?: Record<string, { enum?: string[] }>;
        required?: string[];
      };
      expect(Object.keys(schema.properties ?? {}).sort()).toEqual(['kind', ...fields, ...shared].sort());
      expect(schema.properties?.kind.enum).toEqual([kind]);
      expect(schema.required).toContain('kind');
    }
    expect(doc.components.schemas.CrossRuleDto.required).toContain('level');
    expect(doc.components.schemas.WindowRuleDto.required).toContain('windowMs');
    expect(Object.keys(doc.components.schemas.AlertPageDto.properties ?? {}).sort()).toEqual([
      'items',
      'nextCursor',
    ]);
  });
});
