import Docker from 'dockerode';
import request from 'supertest';
import { FakeUpholdServer } from '../apps/fake-ticker/src/fake-uphold.server';
import { DockerRuntime } from '../apps/api/src/runtime/docker.runtime';
import { TEST_WORKER_LIMITS } from '../apps/api/src/runtime/testing/worker-runtime.mock';
import { describeWithDocker, removeAllWorkers, workerContainers } from './support/docker';
import { startApi, TestApi, truncateAll } from './support/api';
import { TEST_ENV } from './support/test-env';
import type { ErrorBody } from './support/bodies';

async function monitorRows(api: TestApi): Promise<number> {
  const [{ count }] = await api.db.query<
    {
      count: number;
    }[]
  >('SELECT count(*)::int AS count FROM monitors');
  return count;
}

describeWithDocker('POST /monitors refuses bad input and leaves nothing behind', () => {
  let ticker: FakeUpholdServer;
  let api: TestApi;

  beforeAll(async () => {
    ticker = new FakeUpholdServer();
    const { url } = await ticker.start(0, '127.0.0.1');
    for (const pair of ['BTC-USD', 'ETH-USD', 'XRP-USD'])
      ticker.setQuote(pair, { ask: '100.5', bid: '100.4' });
    // A budget of 90 requests/min: one monitor at 1 s (60/min) fits, two do not.
    api = await startApi({ env: { UPHOLD_API_URL: url, UPHOLD_RATE_LIMIT_PER_MIN: '90' } });
  });

  beforeEach(async () => {
    await truncateAll(api.db);
    await removeAllWorkers();
  });

  afterAll(async () => {
    await api?.close();
    await removeAllWorkers();
    await ticker?.stop();
  });

  const badBodies: [string, string, unknown][] = [
    ['missing pair', 'pair', {}],
    ['pair of the wrong type', 'pair', { pair: 42 }],
    ['pair without a dash', 'pair', { pair: 'BTCUSD' }],
    ['a path in the pair', 'pair', { pair: '../etc' }],
    ['shell characters in the pair', 'pair', { pair: 'BTC-USD;rm -rf /' }],
    ['command substitution in the pair', 'pair', { pair: 'btc-$(id)' }],
    ['zero threshold', 'thresholdPercent', { pair: 'BTC-USD', thresholdPercent: 0 }],
    ['negative threshold', 'thresholdPercent', { pair: 'BTC-USD', thresholdPercent: -1 }],
    ['threshold as a string', 'thresholdPercent', { pair: 'BTC-USD', thresholdPercent: '0.5' }],
    ['interval below 1000 ms', 'intervalMs', { pair: 'BTC-USD', intervalMs: 999 }],
    ['interval as a string', 'intervalMs', { pair: 'BTC-USD', intervalMs: '5000' }],
    ['fractional interval', 'intervalMs', { pair: 'BTC-USD', intervalMs: 1500.5 }],
    ['negative cooldown', 'cooldownMs', { pair: 'BTC-USD', cooldownMs: -1 }],
    ['unknown price field', 'priceField', { pair: 'BTC-USD', priceField: 'last' }],
    ['unknown direction', 'direction', { pair: 'BTC-USD', direction: 'sideways' }],
    ['unknown field', 'image', { pair: 'BTC-USD', image: 'alpine' }],
  ];

  it.each(badBodies)('%s → 400 naming %s, no row, no container', async (_name, field, body) => {
    const res = await request(api.url)
      .post('/monitors')
      .send(body as object)
      .expect(400);
    const error = res.body as ErrorBody;
    expect(error.errors?.map((e) => e.field)).toContain(field);
    expect(error.message.join(' ')).toContain(field);
    expect(await monitorRows(api)).toBe(0);
    expect(await workerContainers()).toHaveLength(0);
  });

  it('refuses a body that is not JSON with 400 and a message', async () => {
    const res = await request(api.url)
      .post('/monitors')
      .set('content-type', 'application/json')
      .send('{"pair":')
      .expect(400);
    expect((res.body as ErrorBody).message[0]).toMatch(/not valid JSON/);
    expect(await monitorRows(api)).toBe(0);
  });

  // It answered zlib's "incorrect header check".
  it('refuses a body sent as gzip that is not gzip with 400 naming the body', async () => {
    const res = await request(api.url)
      .post('/monitors')
      .set('content-type', 'application/json')
      .set('content-encoding', 'gzip')
      .send('{"pair":"BTC-USD"}')
      .expect(400);
    expect((res.body as ErrorBody).message).toEqual([
      'request body could not be decompressed: it is not what its content-encoding header says',
    ]);
    expect(await monitorRows(api)).toBe(0);
  });

  it('refuses an oversized body with 413', async () => {
    await request(api.url)
      .post('/monitors')
      .send({ pair: 'BTC-USD', padding: 'x'.repeat(64 * 1024) })
      .expect(413);
    expect(await monitorRows(api)).toBe(0);
  });

  it('refuses a pair the ticker does not know, creating nothing', async () => {
    const res = await request(api.url).post('/monitors').send({ pair: 'DOGE-XYZ' }).expect(422);
    const error = res.body as ErrorBody;
    expect(error.errors?.[0].field).toBe('pair');
    expect(error.message[0]).toMatch(/DOGE-XYZ is not listed/);
    expect(await monitorRows(api)).toBe(0);
    expect(await workerContainers()).toHaveLength(0);
  });

  it('accepts a lower-case pair, and answers 409 to a second monitor for the active pair', async () => {
    const first = await request(api.url)
      .post('/monitors')
      .send({ pair: 'eth-usd', intervalMs: 5000 })
      .expect(201);
    expect((first.body as { pair: string }).pair).toBe('ETH-USD');
    const res = await request(api.url)
      .post('/monitors')
      .send({ pair: 'ETH-USD', intervalMs: 5000 })
      .expect(409);
    expect((res.body as ErrorBody).message[0]).toContain((first.body as { id: string }).id);
    expect(await monitorRows(api)).toBe(1);
    expect(await workerContainers()).toHaveLength(1);
    // Once stopped, the pair can be monitored again.
    await request(api.url)
      .delete(`/monitors/${(first.body as { id: string }).id}`)
      .expect(204);
    await request(api.url).post('/monitors').send({ pair: 'ETH-USD', intervalMs: 5000 }).expect(201);
  });

  it('refuses a monitor that would exceed the Uphold rate budget, naming the budget', async () => {
    await request(api.url).post('/monitors').send({ pair: 'BTC-USD', intervalMs: 1000 }).expect(201);
    const res = await request(api.url)
      .post('/monitors')
      .send({ pair: 'XRP-USD', intervalMs: 1000 })
      .expect(422);
    const error = res.body as ErrorBody;
    expect(error.errors?.[0].field).toBe('intervalMs');
    expect(error.message[0]).toMatch(/60 of 90 requests\/min/);
    expect(await monitorRows(api)).toBe(1);
    expect(await workerContainers()).toHaveLength(1);
    // A slower monitor fits in what is left (60 + 20 <= 90).
    await request(api.url).post('/monitors').send({ pair: 'XRP-USD', intervalMs: 3000 }).expect(201);
  });

  it('answers 404 for an unknown monitor and 400 for an id that is not a UUID', async () => {
    await request(api.url).get('/monitors/6b0e1f3c-1d8e-4a57-9c43-0a4d2d9bb111').expect(404);
    const res = await request(api.url).get('/monitors/not-a-uuid').expect(400);
    expect((res.body as ErrorBody).errors?.[0].field).toBe('id');
  });
});

describeWithDocker('POST /monitors when workers cannot be started', () => {
  let ticker: FakeUpholdServer;

  beforeAll(async () => {
    ticker = new FakeUpholdServer();
    await ticker.start(0, '127.0.0.1');
    ticker.setQuote('BTC-USD', { ask: '1.5', bid: '1.4' });
  });

  afterAll(async () => {
    await ticker?.stop();
  });

  it('answers 503 when the Docker engine is unreachable, leaving no monitor', async () => {
    const unreachable = new DockerRuntime(
      {
        workerImage: TEST_ENV.workerImage,
        workerNetwork: 'host',
        instance: TEST_ENV.instance,
        workerLimits: TEST_WORKER_LIMITS,
      },
      new Docker({ socketPath: '/nonexistent/docker.sock' }),
    );
    const api = await startApi({ env: { UPHOLD_API_URL: ticker.url }, runtime: unreachable });
    try {
      await truncateAll(api.db);
      const res = await request(api.url).post('/monitors').send({ pair: 'BTC-USD' }).expect(503);
      expect((res.body as ErrorBody).message[0]).toMatch(/Docker engine unreachable/);
      expect(await monitorRows(api)).toBe(0);
      const health = await request(api.url).get('/health').expect(503);
      expect(health.body).toMatchObject({
        runtime: { status: 'down' },
        postgres: { status: 'up' },
        redis: { status: 'up' },
      });
    } finally {
      await api.close();
    }
  });

  it('answers 503 naming the image when WORKER_IMAGE is not on the engine, leaving nothing', async () => {
    const api = await startApi({
      env: { UPHOLD_API_URL: ticker.url, WORKER_IMAGE: 'pairwatch-worker:no-such-tag' },
    });
    try {
      await truncateAll(api.db);
      const res = await request(api.url).post('/monitors').send({ pair: 'BTC-USD' }).expect(503);
      expect((res.body as ErrorBody).message[0]).toMatch(/pairwatch-worker:no-such-tag is not present/);
      expect(await monitorRows(api)).toBe(0);
      expect(await workerContainers()).toHaveLength(0);
    } finally {
      await api.close();
    }
  });
});
