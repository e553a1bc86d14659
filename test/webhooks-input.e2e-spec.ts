import { createServer, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import type { DeliveryPageDto, WebhookWithSecretDto } from '../apps/api/src/channels/dto/webhook.dto';
import { eventually, startApi, TestApi } from './support/api';
import type { ErrorBody } from './support/bodies';
import { WebhookReceiver } from './support/webhook-receiver';

/**
 * A listening local server no webhook may reach (its port is not allowed): counts the connections made to it,
 * so even a connection that sends no request counts.
 */
async function startTrap(): Promise<{ server: Server; port: number; hits: () => number }> {
  let hits = 0;
  const server = createServer((_req, res) => res.end('reached'));
  server.on('connection', () => (hits += 1));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port, hits: () => hits };
}

async function webhookRows(api: TestApi): Promise<number> {
  const [row] = await api.db.query<{ n: number }[]>('SELECT count(*)::int AS n FROM channels');
  return row.n;
}

describe('webhook endpoints: input rules and SSRF', () => {
  let receiver: WebhookReceiver;
  let trap: Awaited<ReturnType<typeof startTrap>>;
  let api: TestApi;

  beforeAll(async () => {
    receiver = await new WebhookReceiver().start();
    trap = await startTrap();
    api = await startApi({
      env: { WEBHOOK_ALLOWED_HOSTS: receiver.hostPort, WEBHOOK_RETRY_SCHEDULE: '200ms' },
    });
  });

  afterAll(async () => {
    await api?.close();
    await receiver?.stop();
    await new Promise((resolve) => trap?.server.close(resolve));
  });

  const url = 'https://example.com/hook';
  it.each([
    ['url', {}],
    ['url', { url: 42 }],
    ['url', { url: 'not a url' }],
    ['url', { url: 'ftp://example.com/hook' }],
    ['url', { url: 'file:///etc/passwd' }],
    ['url', { url: 'https://user:pass@example.com/hook' }],
    ['url', { url: `https://example.com/${'a'.repeat(2048)}` }],
    ['events', { url, events: 'alert.created' }],
    ['events', { url, events: ['alert.deleted'] }],
    ['events', { url, events: ['alert.created', 'alert.created'] }],
    ['events', { url, events: null }],
    ['pairs', { url, pairs: ['BTC'] }],
    ['pairs', { url, pairs: [7] }],
    ['pairs', { url, pairs: Array.from({ length: 101 }, (_, i) => `C${i}-USD`) }],
    ['format', { url, format: 'teams' }],
    ['description', { url, description: 'x'.repeat(201) }],
    ['description', { url, description: 5 }],
    ['secret', { url, secret: 'whsec_mine' }],
  ])('POST refuses a bad %s with 400 naming it, storing nothing', async (field, body) => {
    const res = await request(api.url).post('/webhooks').send(body).expect(400);
    expect((res.body as ErrorBody).errors?.map((e) => e.field)).toContain(field);
    expect(await webhookRows(api)).toBe(0);
  });

  it.each([
    'http://127.0.0.1:2375/containers/json',
    'http://127.0.0.2:2375/',
    'http://[::1]/',
    'http://0.0.0.0/',
    'http://[::]/',
    'http://169.254.169.254/latest/meta-data/',
    'http://10.1.2.3/',
    'http://172.16.0.1/',
    'http://192.168.0.1/',
    'http://[fd00::1]/',
    'http://[fe80::1]/',
    'http://224.0.0.1/',
    'http://[ff02::1]/',
    'http://[::ffff:127.0.0.1]/',
    'http://[::ffff:169.254.169.254]/',
    'http://2130706433/',
    'http://0x7f000001/',
    'http://127.0.0.1/',
    'https://127.0.0.1/',
  ])('POST refuses %s with 422 on url, storing nothing', async (target) => {
    const res = await request(api.url).post('/webhooks').send({ url: target }).expect(422);
    expect((res.body as ErrorBody).errors?.[0].field).toBe('url');
    expect(await webhookRows(api)).toBe(0);
  });

  it('PATCH applies the same rules and changes nothing when refused', async () => {
    const created = await request(api.url)
      .post('/webhooks')
      .send({ url: receiver.url('/p') })
      .expect(201);
    const hook = created.body as WebhookWithSecretDto;
    await request(api.url).patch(`/webhooks/${hook.id}`).send({ url: 'http://10.0.0.1/' }).expect(422);
    const bad = await request(api.url).patch(`/webhooks/${hook.id}`).send({ enabled: 'yes' }).expect(400);
    expect((bad.body as ErrorBody).errors?.[0].field).toBe('enabled');
    await request(api.url).patch(`/webhooks/${hook.id}`).send({ format: 'slack' }).expect(400);
    const after = await request(api.url).get(`/webhooks/${hook.id}`).expect(200);
    expect(after.body).toMatchObject({ url: receiver.url('/p'), enabled: true, format: 'standard' });
    const changed = await request(api.url)
      .patch(`/webhooks/${hook.id}`)
      .send({ pairs: ['eth-btc'], description: 'd' })
      .expect(200);
    expect(changed.body).toMatchObject({ pairs: ['ETH-BTC'], description: 'd', events: ['alert.created'] });
    await request(api.url).get('/webhooks/not-a-uuid').expect(400);
    await request(api.url).get('/webhooks/00000000-0000-4000-8000-000000000000').expect(404);
    await request(api.url).get(`/webhooks/${hook.id}/deliveries`).query({ status: 'lost' }).expect(400);
    await request(api.url).delete(`/webhooks/${hook.id}`).expect(204);
    await request(api.url).delete(`/webhooks/${hook.id}`).expect(404);
  });

  it('documents the webhook endpoints and bodies in Swagger', async () => {
    const doc = (await request(api.url).get('/docs-json').expect(200)).body as {
      paths: Record<string, Record<string, unknown>>;
      components: { schemas: Record<string, { properties?: Record<string, unknown> }> };
    };
    expect(Object.keys(doc.paths['/webhooks']).sort()).toEqual(['get', 'post']);
    expect(Object.keys(doc.paths['/webhooks/{id}']).sort()).toEqual(['delete', 'get', 'patch']);
    const props = (name: string) => Object.keys(doc.components.schemas[name]?.properties ?? {}).sort();
    expect(props('CreateWebhookDto')).toEqual(['description', 'events', 'format', 'pairs', 'url']);
    expect(props('UpdateWebhookDto')).toEqual(['description', 'enabled', 'events', 'pairs', 'url']);
    expect(props('WebhookWithSecretDto')).toContain('secret');
    expect(props('WebhookDto')).not.toContain('secret');
    expect(props('DeliveryPageDto')).toEqual(['items', 'nextCursor']);
  });

  it('never reaches a listening local server through a name or a redirect (its requests: 0)', async () => {
    // A name that resolves to loopback, on a port WEBHOOK_ALLOWED_HOSTS does not list: accepted (it is a name),
    // refused when connecting.
    const byName = await request(api.url)
      .post('/webhooks')
      .send({ url: `http://localhost:${trap.port}/` })
      .expect(201);
    const named = byName.body as WebhookWithSecretDto;
    // An allowed receiver that redirects to the trap: the redirect is not followed.
    receiver.answer = (req) =>
      req.path === '/redirect'
        ? { status: 302, headers: { location: `http://127.0.0.1:${trap.port}/` } }
        : { status: 200 };
    const redirecting = (
      await request(api.url)
        .post('/webhooks')
        .send({ url: receiver.url('/redirect') })
        .expect(201)
    ).body as WebhookWithSecretDto;
    for (const hook of [named, redirecting])
      await request(api.url).post(`/webhooks/${hook.id}/test`).expect(202);

    const [blocked] = await eventually('the named delivery failed, blocked', async () => {
      const res = await request(api.url).get(`/webhooks/${named.id}/deliveries`).expect(200);
      const items = (res.body as DeliveryPageDto).items;
      return items[0]?.status === 'failed' ? items : undefined;
    });
    expect(blocked.attempts).toHaveLength(2);
    for (const attempt of blocked.attempts) {
      expect(attempt.status).toBeNull();
      expect(attempt.error).toMatch(/blocked: localhost resolves to .* loopback address/);
    }
    const [redirected] = await eventually('the redirected delivery failed', async () => {
      const res = await request(api.url).get(`/webhooks/${redirecting.id}/deliveries`).expect(200);
      const items = (res.body as DeliveryPageDto).items;
      return items[0]?.status === 'failed' ? items : undefined;
    });
    expect(redirected.attempts.map((a) => a.status)).toEqual([302, 302]);
    expect(receiver.at('/redirect')).toHaveLength(2);
    expect(trap.hits()).toBe(0);
  });
});
