import { randomUUID } from 'node:crypto';
import Redis from 'ioredis';
import request from 'supertest';
import { ALERT_EVENT_FIELD, ALERTS_STREAM } from '@pairwatch/contracts';
import { sampleAlertEvent } from '../apps/api/src/alerts/testing/alert-event.fixture';
import { FakeUpholdServer } from '../apps/fake-ticker/src/fake-uphold.server';
import { describeWithDocker, docker, removeAllWorkers, workerContainers } from './support/docker';
import { eventually, startApi, TestApi } from './support/api';
import { Family, labelValues, parsePrometheusText, sampleValue } from './support/prometheus-text';
import { testRedisUrl } from './support/test-env';
import { WebhookReceiver } from './support/webhook-receiver';

const KEY = 'metrics-e2e-key-0123456789';
const BEARER = `Bearer ${KEY}`;
/** A pair that passes the pair rule but that nobody watches: it must never become a label value. */
const BOGUS = 'ZZBOGUS-QQBOGUS';

const alert = (pair: string) =>
  sampleAlertEvent({ id: randomUUID(), monitorId: randomUUID(), pair, observedAt: new Date().toISOString() });

describeWithDocker('GET /metrics (Prometheus) and GET /health/live', () => {
  let ticker: FakeUpholdServer;
  let receiver: WebhookReceiver;
  let api: TestApi;
  let redis: Redis;

  const scrape = async (): Promise<Map<string, Family>> => {
    const res = await request(api.url).get('/metrics').set('Authorization', BEARER).expect(200);
    // Prometheus' text format 0.0.4 (parameters in any order: Express puts its charset first).
    expect(res.headers['content-type']).toMatch(/^text\/plain;(.*; )?version=0\.0\.4/);
    return parsePrometheusText(res.text);
  };
  /** Waits until a sample (with exactly these labels) reaches `atLeast`. */
  const metricReaches = (name: string, labels: Record<string, string>, atLeast: number, sample = name) =>
    eventually(`${sample}${JSON.stringify(labels)} ≥ ${atLeast}`, async () => {
      const value = sampleValue(await scrape(), name, labels, sample) ?? 0;
      return value >= atLeast ? value : undefined;
    });

  beforeAll(async () => {
    ticker = new FakeUpholdServer();
    const { url } = await ticker.start(0, '127.0.0.1');
    ticker.setQuote('BTC-USD', { ask: '63120.45', bid: '63100.00' });
    receiver = await new WebhookReceiver().start();
    api = await startApi({
      env: { UPHOLD_API_URL: url, API_KEY: KEY, WEBHOOK_ALLOWED_HOSTS: receiver.hostPort },
    });
    redis = new Redis(testRedisUrl());
  });

  afterAll(async () => {
    await api?.close();
    await removeAllWorkers();
    await ticker?.stop();
    await receiver?.stop();
    redis?.disconnect();
  });

  it('needs the key when API_KEY is set: 401 without it or with a wrong one, 200 with Bearer or X-API-Key', async () => {
    await request(api.url).get('/metrics').expect(401);
    await request(api.url).get('/metrics').set('Authorization', 'Bearer wrong-key-0123456789').expect(401);
    await request(api.url).get('/metrics').set('Authorization', `Basic ${KEY}`).expect(401);
    await request(api.url).get('/metrics').set('X-API-Key', KEY).expect(200);
    await request(api.url).get('/metrics').set('Authorization', BEARER).expect(200);
    // Bearer works on the rest of the API too.
    await request(api.url).get('/monitors').set('Authorization', BEARER).expect(200);
  });

  it('answers /health/live (no key, no dependency checks) and keeps /health as it was', async () => {
    const live = await request(api.url).get('/health/live').expect(200);
    expect(live.body).toMatchObject({ status: 'ok' });
    const health = await request(api.url).get('/health');
    expect(health.body).toMatchObject({ postgres: { status: 'up' }, redis: { status: 'up' } });
  });

  it('parses as strict Prometheus text with help texts, and carries the contract names', async () => {
    const families = await scrape();
    for (const [name, type] of [
      ['process_cpu_user_seconds_total', 'counter'],
      ['http_request_duration_seconds', 'histogram'],
      ['pairwatch_alerts_ingested_total', 'counter'],
      ['pairwatch_ingest_lag_seconds', 'histogram'],
      ['pairwatch_stream_pending', 'gauge'],
      ['pairwatch_monitors', 'gauge'],
      ['pairwatch_worker_restarts_total', 'counter'],
      ['pairwatch_upstream_requests_total', 'counter'],
      ['pairwatch_upstream_budget_ratio', 'gauge'],
      ['pairwatch_webhook_deliveries_total', 'counter'],
      ['pairwatch_webhook_queue_depth', 'gauge'],
      ['pairwatch_ticks_archived_total', 'counter'],
      ['pairwatch_archive_lag_seconds', 'histogram'],
      ['pairwatch_replica_lag_seconds', 'gauge'],
      ['pairwatch_replica_serving', 'gauge'],
      ['pairwatch_database_reads_total', 'counter'],
    ] as const) {
      expect({ name, type: families.get(name)?.type }).toEqual({ name, type });
      expect(families.get(name)!.help.length).toBeGreaterThan(10);
    }
    // Read at scrape time, each through its door: all worked.
    for (const collector of ['monitors', 'stream_pending', 'webhook_queue', 'budget', 'upstream']) {
      expect({ collector, up: sampleValue(families, 'pairwatch_collector_up', { collector }) }).toEqual({
        collector,
        up: 1,
      });
    }
    expect(sampleValue(families, 'pairwatch_stream_pending')).toBe(0);
  });

  it('counts the alerts stored from the stream by pair, with their lag, once each', async () => {
    const before = await scrape();
    const counted = (f: Map<string, Family>) =>
      sampleValue(f, 'pairwatch_alerts_ingested_total', { pair: 'BTC-USD' }) ?? 0;
    const lagCount = (f: Map<string, Family>) =>
      sampleValue(f, 'pairwatch_ingest_lag_seconds', {}, 'pairwatch_ingest_lag_seconds_count') ?? 0;
    const events = Array.from({ length: 7 }, () => alert('BTC-USD'));
    const tx = redis.multi();
    for (const event of [...events, events[0], events[3]]) {
      tx.xadd(ALERTS_STREAM, '*', ALERT_EVENT_FIELD, JSON.stringify(event));
    }
    // Malformed: a pair that breaks the rule is dead-lettered, never counted, never a label.
    tx.xadd(ALERTS_STREAM, '*', ALERT_EVENT_FIELD, JSON.stringify({ ...alert('x'), pair: `${BOGUS}"}` }));
    await tx.exec();
    await metricReaches('pairwatch_alerts_ingested_total', { pair: 'BTC-USD' }, counted(before) + 7);
    const after = await scrape();
    // Duplicates are not counted again.
    expect(counted(after)).toBe(counted(before) + 7);
    expect(lagCount(after)).toBe(lagCount(before) + 7);
  });

  it('counts upstream requests (the pair checks, relay off), gauges monitors by status and the budget', async () => {
    const upstream = (f: Map<string, Family>, status: string) =>
      sampleValue(f, 'pairwatch_upstream_requests_total', { endpoint: 'pair', status }) ?? 0;
    const before = await scrape();
    await request(api.url)
      .post('/monitors')
      .set('Authorization', BEARER)
      .send({ pair: 'NOPE-USD', intervalMs: 5000 })
      .expect(422);
    const created = await request(api.url)
      .post('/monitors')
      .set('Authorization', BEARER)
      .send({ pair: 'BTC-USD', intervalMs: 5000 })
      .expect(201);
    const families = await scrape();
    expect(upstream(families, '404')).toBe(upstream(before, '404') + 1);
    expect(upstream(families, '200')).toBe(upstream(before, '200') + 1);
    expect(sampleValue(families, 'pairwatch_monitors', { status: 'running' })).toBe(1);
    expect(sampleValue(families, 'pairwatch_monitors', { status: 'failed' })).toBe(0);
    // One pair at 5 s without the relay: 12 requests/min of 250.
    expect(sampleValue(families, 'pairwatch_upstream_budget_ratio')).toBeCloseTo(12 / 250, 6);

    // A worker killed (SIGKILL, exit 137) is a death; the runtime restarts it.
    const id = (created.body as { id: string }).id;
    const deathsBefore = sampleValue(families, 'pairwatch_worker_restarts_total') ?? 0;
    const [container] = await eventually('the worker container', async () => {
      const found = await workerContainers(id);
      return found.length === 1 && found[0].State === 'running' ? found : undefined;
    });
    await docker.getContainer(container.Id).kill();
    await metricReaches('pairwatch_worker_restarts_total', {}, deathsBefore + 1);
  });

  it('counts webhook attempts by outcome and shows the queue', async () => {
    const hook = await request(api.url)
      .post('/webhooks')
      .set('Authorization', BEARER)
      .send({ url: receiver.url('/metrics-hook'), pairs: ['ETH-EUR'] })
      .expect(201);
    const delivered = (f: Map<string, Family>) =>
      sampleValue(f, 'pairwatch_webhook_deliveries_total', { outcome: 'delivered' }) ?? 0;
    const before = delivered(await scrape());
    await request(api.url)
      .post(`/webhooks/${(hook.body as { id: string }).id}/test`)
      .set('Authorization', BEARER)
      .expect(202);
    await metricReaches('pairwatch_webhook_deliveries_total', { outcome: 'delivered' }, before + 1);
    expect(receiver.at('/metrics-hook')).toHaveLength(1);
    await eventually('the queue empty again', async () =>
      sampleValue(await scrape(), 'pairwatch_webhook_queue_depth') === 0 ? true : undefined,
    );
  });

  it('labels requests by route template, and never lets a bogus pair, id or path become a label', async () => {
    const id = randomUUID();
    const authed = (r: request.Test) => r.set('Authorization', BEARER);
    await authed(request(api.url).get('/alerts').query({ pair: BOGUS })).expect(200);
    await authed(
      request(api.url)
        .get('/alerts')
        .query({ pair: `${BOGUS}!` }),
    ).expect(400);
    await authed(request(api.url).get(`/monitors/${id}`)).expect(404);
    await authed(request(api.url).get(`/monitors/${BOGUS}`)).expect(400);
    await authed(request(api.url).get(`/monitors/${id}/prices`)).expect(404);
    await authed(request(api.url).get(`/${BOGUS}/${id}`)).expect(404);
    await request(api.url).get(`/monitors/${BOGUS}`).expect(401);

    const families = await scrape();
    const routes = labelValues(families, 'route');
    expect(routes).toEqual(expect.any(Set));
    expect([...routes]).toEqual(
      expect.arrayContaining(['/alerts', '/monitors/:id', '/monitors/:id/prices', 'unmatched']),
    );
    const duration = 'http_request_duration_seconds_count';
    expect(
      sampleValue(
        families,
        'http_request_duration_seconds',
        { method: 'GET', route: '/monitors/:id', status: '404' },
        duration,
      ),
    ).toBeGreaterThanOrEqual(1);
    // A refusal by the key guard is timed under its route too.
    expect(
      sampleValue(
        families,
        'http_request_duration_seconds',
        { method: 'GET', route: '/monitors/:id', status: '401' },
        duration,
      ),
    ).toBeGreaterThanOrEqual(1);
    for (const route of routes) expect(route === 'unmatched' || /^\/[a-z/:-]*$/.test(route)).toBe(true);
    // Pair labels only ever hold the pairs stored alerts had.
    expect([...labelValues(families, 'pair')]).toEqual(['BTC-USD']);
    const everyLabel = [...families.values()].flatMap((f) =>
      f.samples.flatMap((s) => Object.values(s.labels)),
    );
    expect(everyLabel.filter((v) => v.includes('BOGUS') || v.includes(id))).toEqual([]);
  });
});
