import request from 'supertest';
import { FakeUpholdServer } from '../apps/fake-ticker/src/fake-uphold.server';
import { docker, describeWithDocker, removeAllWorkers, workerContainers } from './support/docker';
import { eventually, startApi, TestApi } from './support/api';
import type { AlertBody } from './support/bodies';

describeWithDocker('monitor a pair end to end (Docker, Postgres, Redis)', () => {
  let ticker: FakeUpholdServer;
  let api: TestApi;

  beforeAll(async () => {
    ticker = new FakeUpholdServer();
    const { url } = await ticker.start(0, '127.0.0.1');
    ticker.setQuote('BTC-USD', { ask: '63120.45', bid: '63100.00' });
    api = await startApi({ env: { UPHOLD_API_URL: url } });
  });

  afterAll(async () => {
    await api?.close();
    await removeAllWorkers();
    await ticker?.stop();
  });

  it('starts a labelled worker, stores every oscillation, and stops it again keeping the alerts', async () => {
    const created = await request(api.url)
      .post('/monitors')
      .send({ pair: 'btc-usd', intervalMs: 1000, thresholdPercent: 0.5 })
      .expect(201);
    const monitor = created.body as {
      id: string;
      pair: string;
      status: string;
      workerId: string;
      thresholdPercent: string;
    };
    expect(monitor).toMatchObject({ pair: 'BTC-USD', status: 'running', thresholdPercent: '0.5' });

    // The container runs with pairwatch's labels, under a name made of the pair and the id only.
    const [container] = await workerContainers(monitor.id);
    expect(container).toBeDefined();
    expect(container.Id).toBe(monitor.workerId);
    expect(container.Labels).toMatchObject({
      'pairwatch.monitor-id': monitor.id,
      'pairwatch.pair': 'BTC-USD',
    });
    expect(container.Names[0]).toBe(`/pairwatch-worker-btc-usd-${monitor.id}`);
    const inspected = await docker.getContainer(container.Id).inspect();
    expect(inspected.State.Running).toBe(true);

    // Wait for the worker's first tick: it sets the reference price.
    await eventually('the worker to read its first price', async () => {
      const res = await request(api.url).get(`/monitors/${monitor.id}`).expect(200);
      const worker = (res.body as { worker: { lastPrice: string | null; state: string } }).worker;
      return worker.lastPrice === '63120.45' && worker.state === 'running' ? worker : undefined;
    });

    // +0.6 % on the ask: past the 0.5 % threshold.
    ticker.setQuote('BTC-USD', { ask: '63499.1727', bid: '63480.00' });
    const [up] = await eventually('the upward alert', async () => {
      const res = await request(api.url).get('/alerts').query({ pair: 'btc-usd' }).expect(200);
      const items = (res.body as { items: AlertBody[] }).items;
      return items.length >= 1 ? items : undefined;
    });
    expect(up).toMatchObject({
      monitorId: monitor.id,
      pair: 'BTC-USD',
      direction: 'up',
      priceField: 'ask',
      referencePrice: '63120.45',
      price: '63499.1727',
      changePercent: '0.6',
      thresholdPercent: '0.5',
      intervalMs: 1000,
    });

    // The reference moved to the firing price: a 0.3 % dip does not fire, a 1 % drop does.
    ticker.setQuote('BTC-USD', { ask: '63308.6752', bid: '63300.00' });
    await eventually('the worker to read the dip', async () => {
      const res = await request(api.url).get(`/monitors/${monitor.id}`).expect(200);
      const worker = (res.body as { worker: { lastPrice: string | null } }).worker;
      return worker.lastPrice === '63308.6752' ? worker : undefined;
    });
    ticker.setQuote('BTC-USD', { ask: '62864.180973', bid: '62800.00' });
    const page = await eventually('the downward alert', async () => {
      const res = await request(api.url).get('/alerts').query({ pair: 'BTC-USD' }).expect(200);
      const items = (res.body as { items: AlertBody[] }).items;
      return items.length >= 2 ? items : undefined;
    });
    expect(page).toHaveLength(2);
    expect(page[0]).toMatchObject({
      direction: 'down',
      referencePrice: '63499.1727',
      price: '62864.180973',
      changePercent: '-1',
    });
    expect(page[1].id).toBe(up.id);
    expect(Date.parse(page[0].observedAt)).toBeGreaterThan(Date.parse(page[1].observedAt));

    // Stop: the container goes, the monitor stays as stopped, the alerts stay.
    await request(api.url).delete(`/monitors/${monitor.id}`).expect(204);
    expect(await workerContainers(monitor.id)).toHaveLength(0);
    const stopped = await request(api.url).get(`/monitors/${monitor.id}`).expect(200);
    expect(stopped.body).toMatchObject({ status: 'stopped', worker: null });
    expect((stopped.body as { stoppedAt: string | null }).stoppedAt).not.toBeNull();
    const after = await request(api.url).get('/alerts').query({ monitorId: monitor.id }).expect(200);
    expect((after.body as { items: AlertBody[] }).items.map((a) => a.id)).toEqual(page.map((a) => a.id));

    // Deleting again is harmless; an unknown id is a 404.
    await request(api.url).delete(`/monitors/${monitor.id}`).expect(204);
    await request(api.url).delete('/monitors/00000000-0000-4000-8000-000000000000').expect(404);
  });
});
