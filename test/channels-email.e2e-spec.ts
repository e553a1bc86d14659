import Redis from 'ioredis';
import request from 'supertest';
import type { AlertEvent } from '@pairwatch/contracts';
import type { ChannelWithSecretDto } from '../apps/api/src/channels/dto/channel.dto';
import type { ChannelDeliveryPageDto } from '../apps/api/src/channels/dto/channel-delivery.dto';
import { MAIL_CONNECTIONS } from '../apps/api/src/notify/mail-sender';
import { alertEvent, publishAlerts } from './support/alert-events';
import { eventually, startApi, TestApi } from './support/api';
import { sleep } from './support/faults/util';
import { TestSmtpServer } from './support/smtp-server';
import { testRedisUrl } from './support/test-env';

const ALERTS = 200;
/** The SMTP server refuses connections this long (the figure). */
const REFUSED_MS = 60_000;
/** Five alerts every 1 s: the 200 arrive over the first 40 s of the outage. */
const ALERT_GAP_MS = 1_000;
/** Long enough in all (less 20 % jitter: over 84 s; at most 20 steps) to outlast the refusal; 6 s steps at its end. */
const RETRY_SCHEDULE = ['1s', '2s', '3s', '4s', ...Array.from({ length: 16 }, () => '6s')].join(',');

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
        WEBHOOK_RETRY_SCHEDULE: RETRY_SCHEDULE,
      },
    });
    redis = new Redis(testRedisUrl());
  });

  // Each case's channel alone: one left by a failed case would take the next case's alerts too.
  beforeEach(async () => {
    await api.db.query('DELETE FROM channels');
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

  it(`opens the SMTP sessions (${MAIL_CONNECTIONS}) when an email channel is made, and its first alert goes over one of them`, async () => {
    await request(api.url)
      .post('/channels')
      .send({ type: 'email', config: { to: ['first@example.com'] } })
      .expect(201);
    await eventually(`${MAIL_CONNECTIONS} sessions logged in at the SMTP server`, () =>
      smtp.openSessions >= MAIL_CONNECTIONS && smtp.logins >= MAIL_CONNECTIONS ? true : undefined,
    );
    const logins = smtp.logins;
    const event = alertEvent('ETH-USD');
    await publish(event);
    await eventually('the message at the SMTP server', () =>
      smtp.messages.find((m) => (m.subject ?? '').includes('ETH-USD')),
    );
    // No session was opened for it: it went over one opened ahead.
    expect(smtp.logins).toBe(logins);
    expect(smtp.openSessions).toBe(MAIL_CONNECTIONS);
  });

  it(`SMTP server refusing connections for ${REFUSED_MS / 1000} s while ${ALERTS} alerts arrive: each delivered once after it is back, by delivery id`, async () => {
    const channel = (
      await request(api.url)
        .post('/channels')
        .send({ type: 'email', config: { to: ['ops@example.com'] } })
        .expect(201)
    ).body as ChannelWithSecretDto;
    await smtp.stop();
    const refusedAt = Date.now();
    const before = smtp.messages.length;
    // The alerts arrive over the first 40 s of the outage, five at a time (the pace is the load, not a wait).
    const events = Array.from({ length: ALERTS }, (_, i) => alertEvent(i % 2 ? 'BTC-USD' : 'ETH-USD'));
    for (let i = 0; i < ALERTS; i += 5) {
      await publish(...events.slice(i, i + 5));
      await sleep(ALERT_GAP_MS);
    }
    const arrivedIn = Date.now() - refusedAt;
    // Every delivery has met the refusal at least once.
    await eventually(
      'every delivery refused once',
      async () => {
        const rows = await api.db.query<{ n: number }[]>(
          `SELECT count(*)::int AS n FROM webhook_deliveries WHERE webhook_id = $1 AND jsonb_array_length(attempts) >= 1 AND status = 'pending'`,
          [channel.id],
        );
        return rows[0].n === ALERTS ? true : undefined;
      },
      Math.max(10_000, refusedAt + REFUSED_MS - Date.now()),
    );
    const refusedAttempts = (
      await api.db.query<{ n: number }[]>(
        `SELECT coalesce(sum(jsonb_array_length(attempts)), 0)::int AS n FROM webhook_deliveries WHERE webhook_id = $1`,
        [channel.id],
      )
    )[0].n;
    // The outage lasts its REFUSED_MS whatever the machine's pace: this is the fault, not a wait for an outcome.
    await sleep(Math.max(0, refusedAt + REFUSED_MS - Date.now()));
    expect(smtp.messages.length).toBe(before);
    await smtp.start();
    const backAt = Date.now();
    await eventually(
      `${ALERTS} deliveries delivered after the server is back`,
      async () => {
        const rows = await api.db.query<{ n: number }[]>(
          `SELECT count(*)::int AS n FROM webhook_deliveries WHERE webhook_id = $1 AND status = 'delivered'`,
          [channel.id],
        );
        return rows[0].n === ALERTS ? true : undefined;
      },
      60_000,
    );
    const allAfterBack = Date.now() - backAt;
    const got = smtp.messages.slice(before);
    const ids = got.map((m) => header(m, 'X-Pairwatch-Delivery-Id') as string);
    const distinct = new Set(ids);
    const rows = await api.db.query<{ id: string; status: string; attempts: number }[]>(
      `SELECT id, status, jsonb_array_length(attempts) AS attempts FROM webhook_deliveries WHERE webhook_id = $1`,
      [channel.id],
    );
    const missing = rows.filter((r) => !distinct.has(r.id)).length;
    const unknown = [...distinct].filter((id) => !rows.some((r) => r.id === id)).length;
    console.log(
      `[faults] email, SMTP refusing ${REFUSED_MS / 1000} s: alerts=${ALERTS} (arrived over ${(arrivedIn / 1000).toFixed(1)} s) ` +
        `deliveries=${rows.length} received=${got.length} distinctIds=${distinct.size} missing=${missing} ` +
        `unknownIds=${unknown} duplicates=${ids.length - distinct.size} refusedAttempts=${refusedAttempts} ` +
        `allDeliveredAfterBack=${(allAfterBack / 1000).toFixed(1)} s`,
    );
    expect(rows).toHaveLength(ALERTS);
    expect(rows.every((r) => r.status === 'delivered' && r.attempts >= 2)).toBe(true);
    expect(missing).toBe(0);
    expect(unknown).toBe(0);
    expect(ids).toHaveLength(ALERTS);
    expect(distinct.size).toBe(ALERTS);
    await request(api.url).delete(`/channels/${channel.id}`).expect(204);
  }, 240_000);
});
