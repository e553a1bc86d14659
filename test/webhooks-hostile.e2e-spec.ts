import fc from 'fast-check';
import request from 'supertest';
import type { WebhookWithSecretDto } from '../apps/api/src/channels/dto/webhook.dto';
import { startApi, TestApi } from './support/api';

/** Fixed by default so a failure is reproducible; FC_SEED=random (or a number) changes it. */
const FC_SEED =
  process.env.FC_SEED === 'random'
    ? Math.floor(Math.random() * 2 ** 31)
    : Number(process.env.FC_SEED ?? 20_261_201);
const runs = (numRuns: number): fc.Parameters<unknown> => ({ numRuns, seed: FC_SEED });

const FIELDS = ['url', 'events', 'pairs', 'format', 'description', 'enabled'];
const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.string(),
  fc.string({ unit: 'grapheme', maxLength: 30 }),
  fc.constantFrom(
    'https://example.com/h',
    'http://127.0.0.1:2375/',
    'http://[::ffff:7f00:1]/',
    'http://0177.0.0.1/',
    'http://%31%32%37.0.0.1/',
    'https://u:p@example.com/',
    'gopher://example.com/',
    'http://exa mple.com/',
    'https://example.com/\u0000',
    'http://[::1/',
    'alert.created',
    'standard',
    'BTC-USD',
  ),
  fc.array(fc.constantFrom('alert.created', 'monitor.failed', 'BTC-USD', 'btc-usd', 'x', 1, null), {
    maxLength: 4,
  }),
  fc.array(fc.string({ maxLength: 12 }), { maxLength: 3 }),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.jsonValue({ maxDepth: 2 }),
);
const hostileBody: fc.Arbitrary<unknown> = fc.oneof(
  fc.dictionary(fc.oneof(fc.constantFrom(...FIELDS), fc.string({ maxLength: 8 })), hostileValue, {
    maxKeys: 6,
  }),
  fc.record({ url: hostileValue }, { requiredKeys: [] }),
  fc.jsonValue({ maxDepth: 3 }),
);

/** Any JSON value as the body, sent as written. */
const json = (body: unknown) => JSON.stringify(body) ?? 'null';

describe('webhook endpoints under hostile input (fast-check): no 5xx, nothing stored when refused', () => {
  let api: TestApi;
  let hook: WebhookWithSecretDto;

  const count = async () =>
    (await api.db.query<{ n: number }[]>('SELECT count(*)::int AS n FROM channels'))[0].n;

  beforeAll(async () => {
    api = await startApi();
    hook = (await request(api.url).post('/webhooks').send({ url: 'https://example.com/keep' }).expect(201))
      .body as WebhookWithSecretDto;
  });

  afterAll(async () => {
    await api?.close();
  });

  it('POST /webhooks answers 201, 400 or 422, and stores a row only with 201', async () => {
    await fc.assert(
      fc.asyncProperty(hostileBody, async (body) => {
        const before = await count();
        const res = await request(api.url).post('/webhooks').type('json').send(json(body));
        expect([201, 400, 422]).toContain(res.status);
        if (res.status === 201) {
          await request(api.url)
            .delete(`/webhooks/${(res.body as { id: string }).id}`)
            .expect(204);
        } else {
          expect(await count()).toBe(before);
        }
      }),
      runs(150),
    );
  });

  it('PATCH /webhooks/:id answers 200, 400 or 422, and changes nothing when it refuses', async () => {
    const snapshot = async () =>
      JSON.stringify(await api.db.query('SELECT * FROM channels WHERE id = $1', [hook.id]));
    await fc.assert(
      fc.asyncProperty(hostileBody, async (body) => {
        const before = await snapshot();
        const res = await request(api.url).patch(`/webhooks/${hook.id}`).type('json').send(json(body));
        expect([200, 400, 422]).toContain(res.status);
        if (res.status !== 200) expect(await snapshot()).toBe(before);
      }),
      runs(150),
    );
  });

  it('GET /webhooks/:id/deliveries answers 200 or 400 to any query', async () => {
    const query = fc.dictionary(
      fc.oneof(fc.constantFrom('status', 'limit', 'cursor'), fc.string({ maxLength: 6 })),
      fc.oneof(
        fc.string({ maxLength: 40 }),
        fc.constantFrom('pending', 'failed', '0', '-1', '501', '1e3', 'eyJ2IjoxfQ'),
      ),
      { maxKeys: 3 },
    );
    await fc.assert(
      fc.asyncProperty(query, async (q) => {
        const res = await request(api.url).get(`/webhooks/${hook.id}/deliveries`).query(q);
        expect([200, 400]).toContain(res.status);
      }),
      runs(150),
    );
  });

  it('answers 400 or 404 to any id in the path', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.string({ minLength: 1, maxLength: 40 }), fc.uuid()), async (id) => {
        const path = `/webhooks/${encodeURIComponent(id)}`;
        for (const res of [
          await request(api.url).get(path),
          await request(api.url).post(`${path}/rotate-secret`),
          await request(api.url).post(`${path}/test`),
          await request(api.url).post(`${path}/deliveries/${encodeURIComponent(id)}/retry`),
        ]) {
          expect([400, 404]).toContain(res.status);
        }
      }),
      runs(60),
    );
  });
});
