import Redis from 'ioredis';
import request from 'supertest';
import type { AlertEvent } from '@pairwatch/contracts';
import type { ChannelWithSecretDto } from '../apps/api/src/channels/dto/channel.dto';
import type { ChannelDeliveryPageDto } from '../apps/api/src/channels/dto/channel-delivery.dto';
import { alertEvent, publishAlerts } from './support/alert-events';
import { eventually, startApi, TestApi } from './support/api';
import { TestSmtpServer } from './support/smtp-server';
import { testRedisUrl } from './support/test-env';

const header = (mail: { headers: Map<string, unknown> }, name: string) =>
  mail.headers.get(name.toLowerCase());

/** The email channel against a real SMTP server (STARTTLS, AUTH), read back as a mail server stores it. */
describe('email channel (a real SMTP server)', () => {
  let smtp: TestSmtpServer;
  let api: TestApi;
  let redis: Redis;

  const publish = (...events: AlertEvent[]) => publishAlerts(redis, events);

  beforeAll(async () => {
    smtp = await new TestSmtpServer().start();
    api = await startApi({
      env: {
        SMTP_URL: smtp.url,
        SMTP_FROM: 'pairwatch alerts <alerts@pairwatch.test>',
        WEBHOOK_RETRY_SCHEDULE: Array.from({ length: 20 }, () => '1s').join(','),
      },
    });
    redis = new Redis(testRedisUrl());
  });

  // Each case's channel alone: one left by a failed case would take the next case's alerts too.
  beforeEach(async () => {
    await api.db.query('DELETE FROM webhooks');
  });

  afterAll(async () => {
    await api?.close();
    redis?.disconnect();
    await smtp?.stop();
  });

  it('sends an alert with a subject that says what happened, text and HTML bodies, the delivery id in a header', async () => {
    const channel = (
      await request(api.url)
        .post('/channels')
        .send({ type: 'email', config: { to: ['ops@example.com', 'me@example.org'] } })
        .expect(201)
    ).body as ChannelWithSecretDto;
    const event = alertEvent('BTC-USD', {
      referencePrice: '99120.45',
      price: '100250.10',
      changePercent: '1.14',
    });
    await publish(event);
    const mail = await eventually('the message at the SMTP server', () =>
      smtp.messages.find((m) => (m.subject ?? '').includes('BTC-USD')),
    );
    const [delivery] = (
      (await request(api.url).get(`/channels/${channel.id}/deliveries`).expect(200))
        .body as ChannelDeliveryPageDto
    ).items;
    expect(mail.subject).toBe(
      '[pairwatch] BTC-USD up 1.14 % — 99,120.45 → 100,250.10 (ask), ' +
        event.observedAt.slice(11, 19) +
        ' UTC',
    );
    expect(mail.text).toContain('price: 100250.10');
    expect(mail.html).toContain('<strong>BTC-USD up 1.14 %');
    expect(header(mail, 'X-Pairwatch-Delivery-Id')).toBe(delivery.id);
    expect(mail.messageId).toBe(`<${delivery.id}@pairwatch>`);
    expect(mail.from?.value[0]).toMatchObject({ name: 'pairwatch alerts', address: 'alerts@pairwatch.test' });
    expect((Array.isArray(mail.to) ? mail.to : [mail.to]).map((a) => a?.text).join(',')).toBe(
      'ops@example.com, me@example.org',
    );
    // STARTTLS was taken before the message went (AUTH over it).
    expect(smtp.secureSessions.at(-1)).toBe(true);
    await eventually('the delivery recorded', async () => {
      const [d] = (
        (await request(api.url).get(`/channels/${channel.id}/deliveries`).expect(200))
          .body as ChannelDeliveryPageDto
      ).items;
      return d.status === 'delivered' ? d : undefined;
    });
    await request(api.url).delete(`/channels/${channel.id}`).expect(204);
  });

  it('SMTP server refusing connections while 200 alerts arrive: each delivered once after it is back', async () => {
    const channel = (
      await request(api.url)
        .post('/channels')
        .send({ type: 'email', config: { to: ['ops@example.com'] } })
        .expect(201)
    ).body as ChannelWithSecretDto;
    await smtp.stop();
    const before = smtp.messages.length;
    const events = Array.from({ length: 200 }, (_, i) => alertEvent(i % 2 ? 'BTC-USD' : 'ETH-USD'));
    await publish(...events);
    // Every delivery has met the refusal at least once.
    await eventually(
      'every delivery refused once',
      async () => {
        const rows = await api.db.query<{ n: number }[]>(
          `SELECT count(*)::int AS n FROM webhook_deliveries WHERE webhook_id = $1 AND jsonb_array_length(attempts) >= 1 AND status = 'pending'`,
          [channel.id],
        );
        return rows[0].n === 200 ? true : undefined;
      },
      60_000,
    );
    await smtp.start();
    const got = await eventually(
      '200 messages after the server is back',
      () => {
        const mine = smtp.messages.slice(before);
        return mine.length >= 200 ? mine : undefined;
      },
      90_000,
    );
    const ids = got.map((m) => header(m, 'X-Pairwatch-Delivery-Id') as string);
    expect(new Set(ids).size).toBe(200);
    const rows = await api.db.query<{ id: string; status: string; attempts: number }[]>(
      `SELECT id, status, jsonb_array_length(attempts) AS attempts FROM webhook_deliveries WHERE webhook_id = $1`,
      [channel.id],
    );
    expect(rows.every((r) => r.status === 'delivered' && r.attempts >= 2)).toBe(true);
    expect(new Set(rows.map((r) => r.id))).toEqual(new Set(ids));
    await request(api.url).delete(`/channels/${channel.id}`).expect(204);
  }, 180_000);
});
