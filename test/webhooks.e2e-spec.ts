import { randomUUID } from 'node:crypto';
import Redis from 'ioredis';
import { Webhook } from 'standardwebhooks';
import request from 'supertest';
import { ALERT_EVENT_FIELD, ALERTS_STREAM, AlertEvent } from '@pairwatch/contracts';
import { FakeUpholdServer } from '../apps/fake-ticker/src/fake-uphold.server';
import { MonitorLifecycle } from '../apps/api/src/monitors/monitor-lifecycle.service';
import { MonitorsRepository } from '../apps/api/src/monitors/monitors.repository';
import type {
  DeliveryDto,
  DeliveryPageDto,
  WebhookDto,
  WebhookWithSecretDto,
} from '../apps/api/src/channels/dto/webhook.dto';
import { eventually, startApi, TestApi } from './support/api';
import type { AlertBody, MonitorBody } from './support/bodies';
import { describeWithDocker, docker, removeAllWorkers, workerContainers } from './support/docker';
import { testRedisUrl } from './support/test-env';
import { ReceivedRequest, signatureHeadersOf, WebhookReceiver } from './support/webhook-receiver';

interface StandardBody {
  type: string;
  timestamp: string;
  data: Record<string, unknown>;
}

const bodyOf = (r: ReceivedRequest) => JSON.parse(r.body) as StandardBody;

function alertEvent(pair: string): AlertEvent {
  return {
    id: randomUUID(),
    monitorId: randomUUID(),
    pair,
    ruleId: 'r1',
    kind: 'move',
    details: {},
    direction: 'up',
    priceField: 'ask',
    referencePrice: '63120.45',
    price: '63764.100000001',
    changePercent: '1.02',
    thresholdPercent: '1',
    intervalMs: 5000,
    observedAt: new Date().toISOString(),
  };
}

async function register(api: TestApi, body: Record<string, unknown>): Promise<WebhookWithSecretDto> {
  const res = await request(api.url).post('/webhooks').send(body).expect(201);
  return res.body as WebhookWithSecretDto;
}

async function deliveries(api: TestApi, webhookId: string): Promise<DeliveryDto[]> {
  const res = await request(api.url).get(`/webhooks/${webhookId}/deliveries`).expect(200);
  return (res.body as DeliveryPageDto).items;
}

async function storedAlert(api: TestApi, id: string): Promise<void> {
  await eventually(`alert ${id} stored`, async () => {
    const rows = await api.db.query<unknown[]>('SELECT 1 FROM alerts WHERE id = $1', [id]);
    return rows.length === 1 ? true : undefined;
  });
}

describe('webhook deliveries (outbox, signing, retries, filters)', () => {
  let receiver: WebhookReceiver;
  let api: TestApi;
  let redis: Redis;

  const publish = async (...events: AlertEvent[]) => {
    const tx = redis.multi();
    for (const event of events) tx.xadd(ALERTS_STREAM, '*', ALERT_EVENT_FIELD, JSON.stringify(event));
    await tx.exec();
  };

  beforeAll(async () => {
    receiver = await new WebhookReceiver().start();
    api = await startApi({
      env: { WEBHOOK_ALLOWED_HOSTS: receiver.hostPort, WEBHOOK_RETRY_SCHEDULE: '300ms,300ms,300ms' },
    });
    redis = new Redis(testRedisUrl());
  });

  afterAll(async () => {
    await api?.close();
    redis?.disconnect();
    await receiver?.stop();
  });

  it('delivers an alert signed so that the package verifies it, the same alert published twice once', async () => {
    const hook = await register(api, { url: receiver.url('/signed'), description: 'signed' });
    expect(hook.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    const event = alertEvent('BTC-USD');
    await publish(event, event);
    const [got] = await eventually('the alert at the receiver', () =>
      receiver.at('/signed').length > 0 ? receiver.at('/signed') : undefined,
    );
    const verified = new Webhook(hook.secret).verify(got.body, signatureHeadersOf(got)) as StandardBody;
    const res = await request(api.url).get('/alerts').query({ pair: 'BTC-USD' }).expect(200);
    const stored = (res.body as { items: AlertBody[] }).items.find((a) => a.id === event.id);
    expect(verified).toEqual({ type: 'alert.created', timestamp: stored?.createdAt, data: stored });
    expect(verified.data).toMatchObject({ ...event });
    const [delivery] = await eventually('the delivery recorded as delivered', async () => {
      const items = await deliveries(api, hook.id);
      return items[0]?.status === 'delivered' ? items : undefined;
    });
    expect(got.headers['webhook-id']).toBe(delivery.id);
    expect(delivery).toMatchObject({ eventType: 'alert.created', eventId: event.id, lastStatus: 200 });
    expect(delivery.attempts).toHaveLength(1);
    expect(delivery.attempts[0]).toMatchObject({ status: 200, error: null });
    // The duplicate queued nothing: one delivery, one request.
    expect(await deliveries(api, hook.id)).toHaveLength(1);
    expect(receiver.at('/signed')).toHaveLength(1);
    // No answer but create and rotate shows the secret.
    const shown = await request(api.url).get(`/webhooks/${hook.id}`).expect(200);
    expect(JSON.stringify(shown.body)).not.toContain(hook.secret);
    await request(api.url).delete(`/webhooks/${hook.id}`).expect(204);
  });

  it('retries a 500 on the schedule with the same webhook-id, then records it delivered', async () => {
    receiver.answer = (req, received) =>
      req.path === '/flaky' && received.length <= 2 ? { status: 500 } : { status: 200 };
    const hook = await register(api, { url: receiver.url('/flaky') });
    const event = alertEvent('BTC-USD');
    await publish(event);
    const [delivery] = await eventually('the third attempt delivered', async () => {
      const items = await deliveries(api, hook.id);
      return items[0]?.status === 'delivered' ? items : undefined;
    });
    expect(delivery.attempts.map((a) => a.status)).toEqual([500, 500, 200]);
    expect(delivery.attempts[0].error).toBe('HTTP 500');
    const got = receiver.at('/flaky');
    expect(got).toHaveLength(3);
    expect(new Set(got.map((r) => r.headers['webhook-id']))).toEqual(new Set([delivery.id]));
    for (const r of got)
      expect(() => new Webhook(hook.secret).verify(r.body, signatureHeadersOf(r))).not.toThrow();
    await request(api.url).delete(`/webhooks/${hook.id}`).expect(204);
  });

  it('marks a delivery failed after the last attempt, and retries it on request', async () => {
    receiver.answer = (req) => (req.path === '/down' ? { status: 503 } : { status: 200 });
    const hook = await register(api, { url: receiver.url('/down') });
    await publish(alertEvent('BTC-USD'));
    const [failed] = await eventually('the delivery failed', async () => {
      const items = await deliveries(api, hook.id);
      return items[0]?.status === 'failed' ? items : undefined;
    });
    expect(failed.attempts.map((a) => a.status)).toEqual([503, 503, 503, 503]);
    receiver.answer = () => ({ status: 200 });
    await request(api.url).post(`/webhooks/${hook.id}/deliveries/${failed.id}/retry`).expect(202);
    const [retried] = await eventually('the retried delivery delivered', async () => {
      const items = await deliveries(api, hook.id);
      return items[0]?.status === 'delivered' ? items : undefined;
    });
    expect(retried.attempts.map((a) => a.status)).toEqual([503, 503, 503, 503, 200]);
    await request(api.url).delete(`/webhooks/${hook.id}`).expect(204);
  });

  it('disables a webhook whose endpoint answers 410, with the reason, and sends it nothing more', async () => {
    receiver.answer = (req) => (req.path === '/gone' ? { status: 410 } : { status: 200 });
    const hook = await register(api, { url: receiver.url('/gone') });
    await publish(alertEvent('BTC-USD'));
    const disabled = await eventually('the webhook disabled', async () => {
      const res = await request(api.url).get(`/webhooks/${hook.id}`).expect(200);
      const body = res.body as WebhookDto;
      return body.enabled ? undefined : body;
    });
    expect(disabled.disabledReason).toMatch(/410 Gone/);
    const [first] = await deliveries(api, hook.id);
    expect(first).toMatchObject({ status: 'failed', lastStatus: 410 });
    // A later alert, once stored, queued nothing for it (the outbox is written with the alert).
    const later = alertEvent('BTC-USD');
    await publish(later);
    await storedAlert(api, later.id);
    expect(await deliveries(api, hook.id)).toHaveLength(1);
    expect(receiver.at('/gone')).toHaveLength(1);
    await request(api.url).delete(`/webhooks/${hook.id}`).expect(204);
  });

  it('delivers only the events and pairs a webhook asked for', async () => {
    receiver.answer = () => ({ status: 200 });
    const all = await register(api, { url: receiver.url('/all') });
    const eth = await register(api, { url: receiver.url('/eth'), pairs: ['eth-usd'] });
    const failures = await register(api, { url: receiver.url('/failures'), events: ['monitor.failed'] });
    expect(eth.pairs).toEqual(['ETH-USD']);
    const btcAlert = alertEvent('BTC-USD');
    const ethAlert = alertEvent('ETH-USD');
    await publish(btcAlert, ethAlert);
    await eventually('both alerts at /all', () => (receiver.at('/all').length === 2 ? true : undefined));
    await eventually('the ETH-USD alert at /eth', () =>
      receiver.at('/eth').length === 1 ? true : undefined,
    );
    expect(new Set(receiver.at('/all').map((r) => bodyOf(r).data.id))).toEqual(
      new Set([btcAlert.id, ethAlert.id]),
    );
    expect(bodyOf(receiver.at('/eth')[0]).data.id).toBe(ethAlert.id);
    // Both alerts are stored: whatever was queued for them is queued.
    expect(await deliveries(api, failures.id)).toHaveLength(0);
    expect((await deliveries(api, eth.id)).map((d) => d.eventId)).toEqual([ethAlert.id]);
    for (const hook of [all, eth, failures])
      await request(api.url).delete(`/webhooks/${hook.id}`).expect(204);
  });

  it('signs with both secrets during the grace after a rotation, with the new one only after it', async () => {
    receiver.answer = () => ({ status: 200 });
    const hook = await register(api, { url: receiver.url('/rotated') });
    const rotated = await request(api.url).post(`/webhooks/${hook.id}/rotate-secret`).expect(200);
    const { secret, previousSecretValidUntil } = rotated.body as WebhookWithSecretDto;
    expect(secret).not.toBe(hook.secret);
    expect(Date.parse(previousSecretValidUntil ?? '') - Date.now()).toBeGreaterThan(23 * 3600 * 1000);
    const queued = await request(api.url).post(`/webhooks/${hook.id}/test`).expect(202);
    const [got] = await eventually('the test event at the receiver', () =>
      receiver.at('/rotated').length > 0 ? receiver.at('/rotated') : undefined,
    );
    expect(got.headers['webhook-id']).toBe((queued.body as { deliveryId: string }).deliveryId);
    expect(String(got.headers['webhook-signature']).split(' ')).toHaveLength(2);
    const headers = signatureHeadersOf(got);
    expect(new Webhook(secret).verify(got.body, headers)).toMatchObject({ type: 'webhook.test' });
    expect(new Webhook(hook.secret).verify(got.body, headers)).toMatchObject({ type: 'webhook.test' });
    // Once the grace is over (moved into the past here), only the new secret signs.
    await api.db.query(`UPDATE channels SET previous_secret_until = now() - interval '1 s' WHERE id = $1`, [
      hook.id,
    ]);
    await request(api.url).post(`/webhooks/${hook.id}/test`).expect(202);
    const [, after] = await eventually('the second test event at the receiver', () =>
      receiver.at('/rotated').length > 1 ? receiver.at('/rotated') : undefined,
    );
    expect(String(after.headers['webhook-signature']).split(' ')).toHaveLength(1);
    expect(new Webhook(secret).verify(after.body, signatureHeadersOf(after))).toMatchObject({
      type: 'webhook.test',
    });
    expect(() => new Webhook(hook.secret).verify(after.body, signatureHeadersOf(after))).toThrow();
    await request(api.url).delete(`/webhooks/${hook.id}`).expect(204);
  });

  it('sends a disabled webhook nothing, and the alerts after it is enabled again', async () => {
    receiver.answer = () => ({ status: 200 });
    const hook = await register(api, { url: receiver.url('/paused') });
    await request(api.url).patch(`/webhooks/${hook.id}`).send({ enabled: false }).expect(200);
    const while_ = alertEvent('BTC-USD');
    await publish(while_);
    await storedAlert(api, while_.id);
    expect(await deliveries(api, hook.id)).toHaveLength(0);
    await request(api.url).patch(`/webhooks/${hook.id}`).send({ enabled: true }).expect(200);
    const after = alertEvent('BTC-USD');
    await publish(after);
    const [got] = await eventually('the alert after re-enabling at the receiver', () =>
      receiver.at('/paused').length > 0 ? receiver.at('/paused') : undefined,
    );
    expect(bodyOf(got).data.id).toBe(after.id);
    expect(receiver.at('/paused')).toHaveLength(1);
    await request(api.url).delete(`/webhooks/${hook.id}`).expect(204);
  });

  it('delivers monitor.failed with its reason and monitor.recovered when the monitor runs again', async () => {
    receiver.answer = () => ({ status: 200 });
    const hook = await register(api, {
      url: receiver.url('/monitors'),
      events: ['monitor.failed', 'monitor.recovered'],
      pairs: ['XRP-USD'],
    });
    const other = await register(api, { url: receiver.url('/alerts-only') });
    // A monitor as the lifecycle sees it; its transitions are the lifecycle's own (no worker needed for them).
    const [{ id }] = await api.db.query<{ id: string }[]>(
      `INSERT INTO monitors (pair, interval_ms, threshold_percent, price_field, direction, cooldown_ms, status)
       VALUES ('XRP-USD', 600000, 1, 'ask', 'both', 0, 'running') RETURNING id`,
    );
    const lifecycle = api.app.get(MonitorLifecycle);
    const monitor = await api.app.get(MonitorsRepository).findById(id);
    if (!monitor) throw new Error('monitor row missing');
    expect(await lifecycle.fail(monitor, 'worker keeps dying: exit 1')).toBe(true);
    expect(
      await lifecycle.reactivate(monitor, { limitPerMin: 1_000_000, relay: false, pairEndpointOnly: [] }),
    ).toBe(true);
    expect(await lifecycle.markRunning(monitor, 'worker-1')).toBe(true);
    const got = await eventually('both monitor events at the receiver', () =>
      receiver.at('/monitors').length >= 2 ? receiver.at('/monitors') : undefined,
    );
    const bodies = got.map(bodyOf);
    expect(bodies.map((b) => b.type).sort()).toEqual(['monitor.failed', 'monitor.recovered']);
    const dataOf = (type: string) => bodies.find((b) => b.type === type)?.data;
    expect(dataOf('monitor.failed')).toMatchObject({
      monitorId: id,
      pair: 'XRP-USD',
      reason: 'worker keeps dying: exit 1',
    });
    expect(dataOf('monitor.recovered')).toMatchObject({ monitorId: id, pair: 'XRP-USD', status: 'running' });
    for (const r of got)
      expect(() => new Webhook(hook.secret).verify(r.body, signatureHeadersOf(r))).not.toThrow();
    expect(await lifecycle.stop(monitor)).toBe(true);
    expect(await deliveries(api, other.id)).toHaveLength(0);
    for (const h of [hook, other]) await request(api.url).delete(`/webhooks/${h.id}`).expect(204);
  });

  it('pages the delivery log newest first', async () => {
    receiver.answer = () => ({ status: 200 });
    const hook = await register(api, { url: receiver.url('/paged') });
    for (let i = 0; i < 5; i += 1) await request(api.url).post(`/webhooks/${hook.id}/test`).expect(202);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res = await request(api.url)
        .get(`/webhooks/${hook.id}/deliveries`)
        .query({ limit: 2, ...(cursor ? { cursor } : {}) })
        .expect(200);
      const page = res.body as DeliveryPageDto;
      expect(page.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.items.map((d) => d.id));
      cursor = page.nextCursor;
    } while (cursor !== null);
    const all = (await deliveries(api, hook.id)).map((d) => d.id);
    expect(seen).toEqual(all);
    expect(new Set(seen).size).toBe(5);
    await request(api.url).get(`/webhooks/${hook.id}/deliveries`).query({ cursor: 'nope' }).expect(400);
    await request(api.url).delete(`/webhooks/${hook.id}`).expect(204);
  });
});

describeWithDocker('a real worker alert reaches a webhook (Docker, Postgres, Redis)', () => {
  let ticker: FakeUpholdServer;
  let receiver: WebhookReceiver;
  let api: TestApi;

  beforeAll(async () => {
    ticker = new FakeUpholdServer();
    const { url } = await ticker.start(0, '127.0.0.1');
    ticker.setQuote('BTC-USD', { ask: '63120.45', bid: '63100.00' });
    ticker.setQuote('ETH-USD', { ask: '3120.45', bid: '3100.00' });
    receiver = await new WebhookReceiver().start();
    api = await startApi({ env: { UPHOLD_API_URL: url, WEBHOOK_ALLOWED_HOSTS: receiver.hostPort } });
  });

  afterAll(async () => {
    await api?.close();
    await removeAllWorkers();
    await ticker?.stop();
    await receiver?.stop();
  });

  it('delivers the stored alert, fields exact, signed, within 2 s of its commit', async () => {
    const hook = await register(api, { url: receiver.url('/worker'), pairs: ['BTC-USD'] });
    const created = await request(api.url)
      .post('/monitors')
      .send({ pair: 'BTC-USD', intervalMs: 1000, thresholdPercent: 0.5 })
      .expect(201);
    const monitor = created.body as MonitorBody;
    await eventually('the worker to read its first price', async () => {
      const res = await request(api.url).get(`/monitors/${monitor.id}`).expect(200);
      const worker = (res.body as { worker: { lastPrice: string | null } | null }).worker;
      return worker?.lastPrice === '63120.45' ? worker : undefined;
    });
    ticker.setQuote('BTC-USD', { ask: '63499.1727', bid: '63480.00' });
    const [got] = await eventually(
      'the alert at the receiver',
      () => (receiver.at('/worker').length > 0 ? receiver.at('/worker') : undefined),
      30_000,
    );
    const verified = new Webhook(hook.secret).verify(got.body, signatureHeadersOf(got)) as StandardBody;
    const res = await request(api.url).get('/alerts').query({ monitorId: monitor.id }).expect(200);
    const [alert] = (res.body as { items: AlertBody[] }).items;
    expect(verified).toEqual({ type: 'alert.created', timestamp: alert.createdAt, data: alert });
    expect(alert).toMatchObject({
      pair: 'BTC-USD',
      direction: 'up',
      price: '63499.1727',
      changePercent: '0.6',
    });
    expect(got.at - Date.parse(alert.createdAt)).toBeLessThan(2000);
    await request(api.url).delete(`/monitors/${monitor.id}`).expect(204);
  });

  it('delivers monitor.stale once when the worker stops reporting, and monitor.recovered when it reports again', async () => {
    const hook = await register(api, {
      url: receiver.url('/stale'),
      events: ['monitor.stale', 'monitor.recovered'],
      pairs: ['ETH-USD'],
    });
    const created = await request(api.url)
      .post('/monitors')
      .send({ pair: 'ETH-USD', intervalMs: 1000, thresholdPercent: 5 })
      .expect(201);
    const monitor = created.body as MonitorBody;
    const workerOf = async () => {
      const res = await request(api.url).get(`/monitors/${monitor.id}`).expect(200);
      return (
        res.body as { worker: { stale: boolean; lastPrice: string | null; lastTickAt: string | null } | null }
      ).worker;
    };
    // Its first report (a worker that has not ticked yet is not stale either).
    await eventually('the worker to report', async () => ((await workerOf())?.lastTickAt ? true : undefined));
    const [container] = await workerContainers(monitor.id);
    // Paused, the worker neither ticks nor reports: its report expires (TTL 15 s at a 1 s interval).
    await docker.getContainer(container.Id).pause();
    let resumed = false;
    try {
      const [stale] = await eventually(
        'monitor.stale at the receiver',
        () => (receiver.at('/stale').length > 0 ? receiver.at('/stale') : undefined),
        45_000,
      );
      expect(bodyOf(stale)).toMatchObject({
        type: 'monitor.stale',
        data: { monitorId: monitor.id, pair: 'ETH-USD', status: 'running' },
      });
      expect(() => new Webhook(hook.secret).verify(stale.body, signatureHeadersOf(stale))).not.toThrow();
      expect((await workerOf())?.stale).toBe(true);
      await docker.getContainer(container.Id).unpause();
      resumed = true;
      const got = await eventually(
        'monitor.recovered at the receiver',
        () => (receiver.at('/stale').length >= 2 ? receiver.at('/stale') : undefined),
        30_000,
      );
      expect(got.map((r) => bodyOf(r).type)).toEqual(['monitor.stale', 'monitor.recovered']);
      expect(bodyOf(got[1]).data).toMatchObject({ monitorId: monitor.id, pair: 'ETH-USD' });
      // The episode is closed and was announced once: one delivery of each, whatever the checks since.
      const items = await deliveries(api, hook.id);
      expect(items.map((d) => d.eventType).sort()).toEqual(['monitor.recovered', 'monitor.stale']);
      const [row] = await api.db.query<{ stale_since: Date | null }[]>(
        'SELECT stale_since FROM monitors WHERE id = $1',
        [monitor.id],
      );
      expect(row.stale_since).toBeNull();
    } finally {
      if (!resumed)
        await docker
          .getContainer(container.Id)
          .unpause()
          .catch(() => undefined);
    }
    await request(api.url).delete(`/monitors/${monitor.id}`).expect(204);
    await request(api.url).delete(`/webhooks/${hook.id}`).expect(204);
  });
});
