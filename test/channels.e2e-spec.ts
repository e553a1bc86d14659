import { randomUUID } from 'node:crypto';
import Redis from 'ioredis';
import { Webhook } from 'standardwebhooks';
import request from 'supertest';
import type { AlertEvent } from '@pairwatch/contracts';
import type { ChannelDto, ChannelWithSecretDto } from '../apps/api/src/channels/dto/channel.dto';
import type {
  ChannelDeliveryDto,
  ChannelDeliveryPageDto,
} from '../apps/api/src/channels/dto/channel-delivery.dto';
import { alertEvent, publishAlerts } from './support/alert-events';
import { eventually, startApi, TestApi } from './support/api';
import { testRedisUrl } from './support/test-env';
import { signatureHeadersOf, WebhookReceiver } from './support/webhook-receiver';

const BOT_TOKEN = '123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw_1';
const NTFY_TOKEN = 'tk_secretntfytoken0123456789';

/** The HH:MM (UTC) `minutes` from now. */
const utcClock = (minutes: number) => new Date(Date.now() + minutes * 60_000).toISOString().slice(11, 16);

describe('/channels: types on the one outbox, bad input, noise rules', () => {
  let receiver: WebhookReceiver;
  let telegram: WebhookReceiver;
  let api: TestApi;
  let redis: Redis;

  const publish = (...events: AlertEvent[]) => publishAlerts(redis, events);
  const create = async (body: Record<string, unknown>) =>
    (await request(api.url).post('/channels').send(body).expect(201)).body as ChannelWithSecretDto;
  const log = async (id: string) =>
    (
      (await request(api.url).get(`/channels/${id}/deliveries?limit=100`).expect(200))
        .body as ChannelDeliveryPageDto
    ).items;
  const channelCount = async () =>
    (await api.db.query<{ n: number }[]>('SELECT count(*)::int AS n FROM channels'))[0].n;

  beforeAll(async () => {
    receiver = await new WebhookReceiver().start();
    telegram = await new WebhookReceiver().start();
    api = await startApi({
      env: {
        CHANNEL_ALLOWED_HOSTS: receiver.hostPort,
        WEBHOOK_RETRY_SCHEDULE: '300ms,300ms,300ms',
        TELEGRAM_API_URL: `http://${telegram.hostPort}`,
      },
    });
    redis = new Redis(testRedisUrl());
  });

  afterAll(async () => {
    await api?.close();
    redis?.disconnect();
    await receiver?.stop();
    await telegram?.stop();
  });

  const badBodies: [string, Record<string, unknown>, string, RegExp][] = [
    ['an unknown type', { type: 'pager', config: {} }, 'type', /type must be one of/],
    [
      'a field of another type',
      { type: 'webhook', config: { url: 'https://example.com/h', botToken: BOT_TOKEN } },
      'config.botToken',
      /not a field of webhook/,
    ],
    [
      'an invalid address',
      { type: 'email', config: { to: ['not-an-address'] } },
      'config.to[0]',
      /email address/,
    ],
    [
      '21 recipients',
      { type: 'email', config: { to: Array.from({ length: 21 }, (_, i) => `a${i}@example.com`) } },
      'config.to',
      /at most 20/,
    ],
    [
      'a bot token of the wrong shape',
      { type: 'telegram', config: { botToken: 'abc', chatId: '1' } },
      'config.botToken',
      /bot token/,
    ],
    [
      'a chat id of the wrong shape',
      { type: 'telegram', config: { botToken: BOT_TOKEN, chatId: 'me!' } },
      'config.chatId',
      /chat id/,
    ],
    [
      'a non-http ntfy URL',
      { type: 'ntfy', config: { url: 'ftp://ntfy.sh/x' } },
      'config.url',
      /http or https/,
    ],
    [
      'a non-http Alertmanager URL',
      { type: 'alertmanager', config: { url: 'file:///etc/passwd' } },
      'config.url',
      /http or https/,
    ],
    [
      'an unknown zone',
      {
        type: 'webhook',
        config: { url: 'https://example.com/h' },
        quietHours: { timeZone: 'Mars/Base', windows: [{ days: ['mon'], from: '22:00', to: '07:00' }] },
      },
      'quietHours.timeZone',
      /IANA/,
    ],
    [
      'an unknown day',
      {
        type: 'webhook',
        config: { url: 'https://example.com/h' },
        quietHours: { timeZone: 'UTC', windows: [{ days: ['funday'], from: '22:00', to: '07:00' }] },
      },
      'quietHours.windows[0].days[0]',
      /one of mon/,
    ],
    [
      '25:00',
      {
        type: 'webhook',
        config: { url: 'https://example.com/h' },
        quietHours: { timeZone: 'UTC', windows: [{ days: ['mon'], from: '25:00', to: '07:00' }] },
      },
      'quietHours.windows[0].from',
      /HH:MM/,
    ],
    [
      'an empty window',
      {
        type: 'webhook',
        config: { url: 'https://example.com/h' },
        quietHours: { timeZone: 'UTC', windows: [{ days: ['mon'], from: '07:00', to: '07:00' }] },
      },
      'quietHours.windows[0]',
      /empty/,
    ],
    [
      'a digest under 1 s',
      { type: 'webhook', config: { url: 'https://example.com/h' }, digest: { windowMs: 999 } },
      'digest.windowMs',
      /at least 1000/,
    ],
    [
      'a digest over 1 h',
      { type: 'webhook', config: { url: 'https://example.com/h' }, digest: { windowMs: 3_600_001 } },
      'digest.windowMs',
      /at most 3600000/,
    ],
    [
      'maxPerHour 0',
      { type: 'webhook', config: { url: 'https://example.com/h' }, maxPerHour: 0 },
      'maxPerHour',
      /at least 1/,
    ],
  ];
  it.each(badBodies.map(([name, body, field, message]) => [name, field, body, message] as const))(
    '400 for %s, naming %s, nothing created',
    async (_name, field, body, message) => {
      const before = await channelCount();
      const res = await request(api.url).post('/channels').send(body).expect(400);
      const errors = (res.body as { errors: { field: string; messages: string[] }[] }).errors;
      const named = errors.find((e) => e.field === field);
      expect(named?.messages.join(' ')).toMatch(message);
      expect(await channelCount()).toBe(before);
    },
  );

  it('422 for an email channel on an installation without SMTP_URL, saying what to set', async () => {
    const res = await request(api.url)
      .post('/channels')
      .send({ type: 'email', config: { to: ['ops@example.com'] } })
      .expect(422);
    expect((res.body as { message: string[] }).message[0]).toMatch(/SMTP_URL/);
    expect(await channelCount()).toBe(0);
  });

  it('422 for an internal target, nothing created', async () => {
    const before = await channelCount();
    const res = await request(api.url)
      .post('/channels')
      .send({ type: 'alertmanager', config: { url: 'http://169.254.169.254:9093' } })
      .expect(422);
    expect((res.body as { errors: { field: string }[] }).errors[0].field).toBe('config.url');
    // It named only WEBHOOK_ALLOWED_HOSTS, where the channels' docs name CHANNEL_ALLOWED_HOSTS (both are read).
    expect((res.body as { message: string[] }).message[0]).toMatch(/\(CHANNEL_ALLOWED_HOSTS, or the older/);
    expect(await channelCount()).toBe(before);
  });

  it('PATCH null clears quiet hours, the digest and the hourly limit; a bad PATCH changes nothing', async () => {
    const noisy = await create({
      type: 'webhook',
      config: { url: receiver.url('/cleared') },
      quietHours: { timeZone: 'UTC', windows: [{ days: ['mon'], from: '22:00', to: '07:00' }] },
      digest: { windowMs: 60_000 },
      maxPerHour: 5,
    });
    const row = async () =>
      (
        await api.db.query<{ quiet: unknown; digest: number | null; max: number | null }[]>(
          'SELECT quiet_hours AS quiet, digest_window_ms AS digest, max_per_hour AS max FROM channels WHERE id = $1',
          [noisy.id],
        )
      )[0];
    const set = await row();
    const bad = await request(api.url)
      .patch(`/channels/${noisy.id}`)
      .send({ digest: 'hourly', maxPerHour: null })
      .expect(400);
    expect((bad.body as { errors: { field: string; messages: string[] }[] }).errors).toEqual([
      { field: 'digest', messages: ['digest must be an object {windowMs}'] },
    ]);
    expect(await row()).toEqual(set);

    const cleared = (
      await request(api.url)
        .patch(`/channels/${noisy.id}`)
        .send({ quietHours: null, digest: null, maxPerHour: null })
        .expect(200)
    ).body as ChannelDto;
    expect(cleared).toMatchObject({ quietHours: null, digest: null, maxPerHour: null });
    expect(await row()).toEqual({ quiet: null, digest: null, max: null });
    await request(api.url).delete(`/channels/${noisy.id}`).expect(204);
  });

  // A test for a disabled channel answered 202 and waited, pending, until someone enabled it (an alert queues
  // nothing for a disabled channel, and a retry answers 409).
  it('a test for a disabled channel answers 409 with the reason, on /channels and /webhooks, and queues nothing', async () => {
    const paused = await create({ type: 'webhook', config: { url: receiver.url('/paused-test') } });
    await request(api.url).patch(`/channels/${paused.id}`).send({ enabled: false }).expect(200);
    for (const path of [`/channels/${paused.id}/test`, `/webhooks/${paused.id}/test`]) {
      const res = await request(api.url).post(path).expect(409);
      const body = res.body as { message: string[]; errors: { field: string }[] };
      expect(body.errors.map((e) => e.field)).toEqual(['id']);
      expect(body.message[0]).toMatch(/is disabled.*enable it/);
    }
    expect(await log(paused.id)).toEqual([]);
    await request(api.url).patch(`/channels/${paused.id}`).send({ enabled: true }).expect(200);
    await request(api.url).post(`/channels/${paused.id}/test`).expect(202);
    await request(api.url).delete(`/channels/${paused.id}`).expect(204);
  });

  it('the webhook types are the rows /webhooks shows; the others only /channels; no secret in answers or rows', async () => {
    const hook = await create({ type: 'webhook', name: 'ops hook', config: { url: receiver.url('/hook') } });
    expect(hook.secret).toMatch(/^whsec_/);
    const bot = await create({ type: 'telegram', config: { botToken: BOT_TOKEN, chatId: '-1001234567890' } });
    const push = await create({
      type: 'ntfy',
      config: { url: receiver.url('/alerts-topic'), token: NTFY_TOKEN },
    });
    expect(bot).not.toHaveProperty('secret');
    expect(bot.config).toEqual({ chatId: '-1001234567890', hasToken: true });
    const listed = (await request(api.url).get('/channels').expect(200)).body as ChannelDto[];
    expect(listed.map((c) => c.id)).toEqual(expect.arrayContaining([hook.id, bot.id, push.id]));
    const hooks = (await request(api.url).get('/webhooks').expect(200)).body as { id: string }[];
    expect(hooks.map((h) => h.id)).toContain(hook.id);
    expect(hooks.map((h) => h.id)).not.toContain(bot.id);
    await request(api.url).get(`/webhooks/${bot.id}`).expect(404);
    const everything = JSON.stringify([
      listed,
      await request(api.url).get(`/channels/${bot.id}`).expect(200),
    ]);
    const dump = JSON.stringify(await api.db.query('SELECT row_to_json(w)::text FROM channels w'));
    for (const secret of [BOT_TOKEN, NTFY_TOKEN, hook.secret ?? '']) {
      expect(everything).not.toContain(secret);
      expect(dump).not.toContain(secret);
    }
    for (const id of [hook.id, bot.id, push.id]) await request(api.url).delete(`/channels/${id}`).expect(204);
  });

  it('POST /channels/:id/rotate-secret: the new secret once, sealed at rest, the old one signing alongside for 24 h', async () => {
    const hook = await create({ type: 'slack', config: { url: receiver.url('/rotated') } });
    const before = Date.now();
    const rotated = (await request(api.url).post(`/channels/${hook.id}/rotate-secret`).expect(200))
      .body as ChannelWithSecretDto;
    expect(rotated.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(rotated.secret).not.toBe(hook.secret);
    expect(rotated).toMatchObject({ id: hook.id, type: 'slack', config: { url: receiver.url('/rotated') } });
    const until = Date.parse(rotated.previousSecretValidUntil ?? '');
    expect(until).toBeGreaterThanOrEqual(before + 24 * 3_600_000);
    expect(until).toBeLessThanOrEqual(Date.now() + 24 * 3_600_000);
    // The same rotation /webhooks shows: one row, one grace.
    const viaWebhooks = (await request(api.url).get(`/webhooks/${hook.id}`).expect(200)).body as {
      previousSecretValidUntil: string;
    };
    expect(viaWebhooks.previousSecretValidUntil).toBe(rotated.previousSecretValidUntil);
    // Shown only in that answer; sealed in the row (a dump has neither secret in any form).
    const shown = JSON.stringify([
      (await request(api.url).get('/channels').expect(200)).body,
      (await request(api.url).get(`/channels/${hook.id}`).expect(200)).body,
      (await request(api.url).get('/webhooks').expect(200)).body,
    ]);
    const [row] = await api.db.query<{ secret: string; previous_secret: string; all: string }[]>(
      'SELECT secret, previous_secret, row_to_json(w)::text AS all FROM channels w WHERE id = $1',
      [hook.id],
    );
    expect(row.secret).toMatch(/^pw1:/);
    expect(row.previous_secret).toMatch(/^pw1:/);
    for (const secret of [hook.secret ?? '', rotated.secret ?? '']) {
      const key = secret.slice('whsec_'.length);
      expect(shown).not.toContain(key);
      expect(row.all).not.toContain(key);
      expect(row.all).not.toContain(Buffer.from(key, 'base64').toString('hex'));
    }
    // Deliveries now carry both signatures: a receiver still on the old secret keeps verifying.
    await request(api.url).post(`/channels/${hook.id}/test`).expect(202);
    const [got] = await eventually('the test message', () =>
      receiver.at('/rotated').length ? receiver.at('/rotated') : undefined,
    );
    for (const secret of [rotated.secret ?? '', hook.secret ?? ''])
      expect(new Webhook(secret).verify(got.body, signatureHeadersOf(got))).toBeDefined();
    // A second rotation: the first secret stops signing, the second goes on alongside the third.
    const third = (await request(api.url).post(`/channels/${hook.id}/rotate-secret`).expect(200))
      .body as ChannelWithSecretDto;
    await request(api.url).post(`/channels/${hook.id}/test`).expect(202);
    const [, again] = await eventually('the second test message', () =>
      receiver.at('/rotated').length >= 2 ? receiver.at('/rotated') : undefined,
    );
    expect(new Webhook(third.secret ?? '').verify(again.body, signatureHeadersOf(again))).toBeDefined();
    expect(new Webhook(rotated.secret ?? '').verify(again.body, signatureHeadersOf(again))).toBeDefined();
    expect(() => new Webhook(hook.secret ?? '').verify(again.body, signatureHeadersOf(again))).toThrow();
    await request(api.url).delete(`/channels/${hook.id}`).expect(204);
  });

  it('rotate-secret: 404 for an unknown channel, 400 for an id that is not one, 409 for a type without a signing secret', async () => {
    const unknown = await request(api.url).post(`/channels/${randomUUID()}/rotate-secret`).expect(404);
    expect(JSON.stringify(unknown.body)).toMatch(/no channel with this id/);
    await request(api.url).post('/channels/not-a-uuid/rotate-secret').expect(400);
    const bot = await create({ type: 'telegram', config: { botToken: BOT_TOKEN, chatId: '-1001234567890' } });
    const before = await api.db.query<{ secret: string }[]>('SELECT secret FROM channels WHERE id = $1', [
      bot.id,
    ]);
    const refused = await request(api.url).post(`/channels/${bot.id}/rotate-secret`).expect(409);
    expect(JSON.stringify(refused.body)).toMatch(/a telegram channel has no signing secret to rotate/);
    expect(JSON.stringify(refused.body)).not.toContain(BOT_TOKEN);
    const after = await api.db.query<{ secret: string }[]>('SELECT secret FROM channels WHERE id = $1', [
      bot.id,
    ]);
    expect(after).toEqual(before);
    await request(api.url).delete(`/channels/${bot.id}`).expect(204);
  });

  it('ntfy: the JSON publish shape to the server root, token as Bearer, title/priority/tags by event', async () => {
    const push = await create({
      type: 'ntfy',
      config: { url: receiver.url('/alerts-topic'), token: NTFY_TOKEN },
    });
    const queued = (await request(api.url).post(`/channels/${push.id}/test`).expect(202)).body as {
      deliveryId: string;
    };
    await publish(alertEvent('BTC-USD', { direction: 'down' }));
    const got = await eventually('two ntfy messages', () => {
      const mine = receiver.requests.filter((r) => r.path === '/' && r.headers['x-pairwatch-delivery-id']);
      return mine.length >= 2 ? mine : undefined;
    });
    const bodies = got.map((r) => JSON.parse(r.body) as Record<string, unknown>);
    expect(got[0].headers.authorization).toBe(`Bearer ${NTFY_TOKEN}`);
    expect(bodies).toContainEqual(
      expect.objectContaining({ topic: 'alerts-topic', priority: 2, tags: ['bell'] }),
    );
    expect(bodies).toContainEqual(
      expect.objectContaining({
        topic: 'alerts-topic',
        priority: 4,
        tags: ['chart_with_downwards_trend'],
        title: expect.stringMatching(/^BTC-USD down 1\.02 %/) as unknown,
      }),
    );
    expect(got.map((r) => r.headers['x-pairwatch-delivery-id'])).toContain(queued.deliveryId);
    await request(api.url).delete(`/channels/${push.id}`).expect(204);
  });

  it('telegram: sendMessage in HTML with escaping; 429 retry_after: 5 → no request for 5 s, then delivered; "chat not found" disables', async () => {
    const RETRY_AFTER_S = 5;
    let first = true;
    telegram.answer = (req) => {
      const body = JSON.parse(req.body) as { chat_id: string };
      if (body.chat_id === '@gonechannel')
        return {
          status: 400,
          body: JSON.stringify({ ok: false, error_code: 400, description: 'Bad Request: chat not found' }),
        };
      if (first) {
        first = false;
        return {
          status: 429,
          body: JSON.stringify({
            ok: false,
            error_code: 429,
            description: `Too Many Requests: retry after ${RETRY_AFTER_S}`,
            parameters: { retry_after: RETRY_AFTER_S },
          }),
        };
      }
      return { status: 200, body: JSON.stringify({ ok: true, result: { message_id: 1 } }) };
    };
    const bot = await create({
      type: 'telegram',
      name: 'a <b> & c',
      config: { botToken: BOT_TOKEN, chatId: '-1001234567890' },
    });
    const firstAlert = { ...alertEvent('ETH-USD'), priceField: 'bid' as const };
    await publish(firstAlert);
    await eventually('the 429 recorded', async () => {
      const [d] = await log(bot.id);
      return d?.attempts.length === 1 ? d : undefined;
    });
    // Two more alerts for the same bot during the pause: they wait for its end too.
    const later = [alertEvent('BTC-USD'), alertEvent('BTC-USD')];
    await publish(...later);
    const items = await eventually(
      'the three telegram messages delivered',
      async () => {
        const all = await log(bot.id);
        return all.length === 3 && all.every((d) => d.status === 'delivered') ? all : undefined;
      },
      30_000,
    );
    const calls = telegram.requests.filter((r) => r.path === `/bot${BOT_TOKEN}/sendMessage`);
    expect(calls).toHaveLength(4);
    const quietMs = calls[1].at - calls[0].at;
    const duringPause = calls.slice(1).filter((c) => c.at - calls[0].at < RETRY_AFTER_S * 1000).length;
    console.log(
      `[faults] telegram 429 retry_after=${RETRY_AFTER_S}: requests during the pause=${duringPause} ` +
        `(next request ${quietMs} ms after the 429), alerts=${1 + later.length} delivered=${items.length}, ` +
        `requests=${calls.length} (one refused)`,
    );
    expect(duringPause).toBe(0);
    for (const call of calls.slice(1))
      expect(call.at - calls[0].at).toBeGreaterThanOrEqual(RETRY_AFTER_S * 1000);
    const retried = items.find((d) => d.attempts.length === 2);
    expect(retried?.attempts.map((a) => a.status)).toEqual([429, 200]);
    const sent = calls
      .slice(1)
      .map((c) => JSON.parse(c.body) as { chat_id: string; text: string; parse_mode: string })
      .find((b) => b.text.startsWith('<b>ETH-USD'));
    expect(sent).toMatchObject({ chat_id: '-1001234567890', parse_mode: 'HTML' });
    expect(sent?.text).toMatch(/^<b>ETH-USD up 1\.02 % — 63,120\.45 → 63,764\.10 \(bid\)/);

    const gone = await create({ type: 'telegram', config: { botToken: BOT_TOKEN, chatId: '@gonechannel' } });
    await request(api.url).post(`/channels/${gone.id}/test`).expect(202);
    const disabled = await eventually('the channel disabled', async () => {
      const c = (await request(api.url).get(`/channels/${gone.id}`).expect(200)).body as ChannelDto;
      return c.enabled ? undefined : c;
    });
    expect(disabled.disabledReason).toMatch(/chat not found/);
    for (const id of [bot.id, gone.id]) await request(api.url).delete(`/channels/${id}`).expect(204);
  });

  it('filters by direction and monitor', async () => {
    const monitorId = randomUUID();
    const downs = await create({
      type: 'webhook',
      config: { url: receiver.url('/downs') },
      filter: { directions: ['down'], monitorIds: [monitorId] },
    });
    const wanted = alertEvent('BTC-USD', { direction: 'down', monitorId: monitorId });
    await publish(
      alertEvent('BTC-USD', { direction: 'up', monitorId: monitorId }),
      alertEvent('BTC-USD', { direction: 'down' }),
      wanted,
    );
    const [only] = await eventually('the wanted alert delivered', async () => {
      const items = await log(downs.id);
      return items.length && items.every((d) => d.status === 'delivered') ? items : undefined;
    });
    expect(only.eventId).toBe(wanted.id);
    expect(await log(downs.id)).toHaveLength(1);
    await request(api.url).delete(`/channels/${downs.id}`).expect(204);
  });

  it("POST /monitors/:id/mute: its alerts are logged suppressed on every channel, other monitors' go out", async () => {
    const [monitor] = await api.db.query<{ id: string }[]>(
      `INSERT INTO monitors (pair, interval_ms, threshold_percent, price_field, direction, cooldown_ms, status)
       VALUES ('BTC-USD', 5000, 1, 'ask', 'both', 0, 'stopped') RETURNING id`,
    );
    const until = new Date(Date.now() + 3_600_000).toISOString();
    await request(api.url).post(`/monitors/${randomUUID()}/mute`).send({ until }).expect(404);
    const past = await request(api.url)
      .post(`/monitors/${monitor.id}/mute`)
      .send({ until: new Date(Date.now() - 1000).toISOString() })
      .expect(400);
    expect((past.body as { errors: { field: string }[] }).errors[0].field).toBe('until');
    const muted = await request(api.url).post(`/monitors/${monitor.id}/mute`).send({ until }).expect(200);
    expect(muted.body).toEqual({ id: monitor.id, mutedUntil: until });
    const channel = await create({ type: 'webhook', config: { url: receiver.url('/muted') } });
    const quiet = alertEvent('BTC-USD', { direction: 'up', monitorId: monitor.id });
    const loud = alertEvent('BTC-USD', { direction: 'up' });
    await publish(quiet, loud);
    const items = await eventually('both settled', async () => {
      const all = await log(channel.id);
      return all.length === 2 && all.every((d) => d.status !== 'pending') ? all : undefined;
    });
    expect(items.find((d) => d.eventId === quiet.id)).toMatchObject({
      status: 'suppressed',
      lastError: 'monitor muted',
    });
    expect(items.find((d) => d.eventId === loud.id)?.status).toBe('delivered');
    expect(
      receiver.requests
        .filter((r) => r.path === '/muted')
        .map((r) => (JSON.parse(r.body) as { data: { id: string } }).data.id),
    ).toEqual([loud.id]);
    await request(api.url).delete(`/monitors/${monitor.id}/mute`).expect(204);
    await request(api.url).delete(`/channels/${channel.id}`).expect(204);
  });

  it('every alert ends in exactly one of: its own message, a digest listing it, a suppressed entry', async () => {
    const plain = await create({ type: 'webhook', config: { url: receiver.url('/plain') } });
    const digest = await create({
      type: 'webhook',
      config: { url: receiver.url('/digest') },
      digest: { windowMs: 1500 },
    });
    const limited = await create({
      type: 'webhook',
      config: { url: receiver.url('/limited') },
      maxPerHour: 3,
    });
    const quiet = await create({
      type: 'webhook',
      config: { url: receiver.url('/quiet') },
      quietHours: {
        timeZone: 'UTC',
        windows: [
          { days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'], from: utcClock(-60), to: utcClock(120) },
        ],
      },
    });
    const snoozed = await create({ type: 'webhook', config: { url: receiver.url('/snoozed') } });
    await request(api.url)
      .post(`/channels/${snoozed.id}/snooze`)
      .send({ until: new Date(Date.now() + 3_600_000).toISOString() })
      .expect(200);

    const events = Array.from({ length: 12 }, (_, i) => alertEvent(i % 2 ? 'BTC-USD' : 'ETH-USD'));
    await publish(...events);
    const ids = new Set(events.map((e) => e.id));
    const settled = (items: ChannelDeliveryDto[], final: string[]) =>
      items.filter((d) => d.eventType === 'alert.created').length === 12 &&
      items.filter((d) => d.eventType === 'alert.created').every((d) => final.includes(d.status));

    await eventually('plain: 12 own messages', async () =>
      settled(await log(plain.id), ['delivered']) ? true : undefined,
    );
    await eventually(
      'digest: all carried',
      async () => (settled(await log(digest.id), ['digested']) ? true : undefined),
      15_000,
    );
    await eventually('snoozed: all suppressed', async () =>
      settled(await log(snoozed.id), ['suppressed']) ? true : undefined,
    );
    await eventually('quiet: all held', async () =>
      settled(await log(quiet.id), ['held']) ? true : undefined,
    );
    await eventually('limited: 3 sent, 9 held', async () => {
      const items = (await log(limited.id)).filter((d) => d.eventType === 'alert.created');
      return items.length === 12 &&
        items.filter((d) => d.status === 'delivered').length === 3 &&
        items.filter((d) => d.status === 'held').length === 9
        ? true
        : undefined;
    });
    // The quiet window and the hour end (as the clock would bring them): the held alerts go out as digests.
    await api.db.query(
      `UPDATE webhook_deliveries SET next_attempt_at = now() WHERE status = 'held' AND webhook_id = ANY ($1::uuid[])`,
      [[quiet.id, limited.id]],
    );

    for (const channel of [plain, digest, limited, quiet, snoozed]) {
      const items = await eventually(
        `${channel.id}: settled`,
        async () => {
          const all = await log(channel.id);
          const alerts = all.filter((d) => d.eventType === 'alert.created');
          const digests = all.filter((d) => d.eventType === 'digest');
          const done =
            alerts.every((d) => ['delivered', 'digested', 'suppressed'].includes(d.status)) &&
            digests.every((d) => d.status === 'delivered' || d.status === 'suppressed');
          return done ? all : undefined;
        },
        15_000,
      );
      const alerts = items.filter((d) => d.eventType === 'alert.created');
      const digests = items.filter((d) => d.eventType === 'digest');
      // Each alert once, and accounted for once.
      expect(new Set(alerts.map((d) => d.eventId))).toEqual(ids);
      const own = alerts.filter((d) => d.status === 'delivered').map((d) => d.eventId);
      const carried = digests.flatMap((d) => d.alertIds ?? []);
      const suppressed = alerts.filter((d) => d.status === 'suppressed').map((d) => d.eventId);
      expect([...own, ...carried, ...suppressed].sort()).toEqual([...ids].sort());
      for (const d of alerts.filter((a) => a.status === 'digested')) {
        expect(digests.find((g) => g.id === d.digestId)?.alertIds).toContain(d.eventId);
      }
    }
    // What the receivers got matches the log: one request per own message and per digest.
    const digestBodies = receiver.requests
      .filter((r) => r.path === '/digest')
      .map((r) => JSON.parse(r.body) as { type: string; data: { alerts: { id: string }[] } });
    expect(digestBodies.every((b) => b.type === 'digest')).toBe(true);
    expect(digestBodies.flatMap((b) => b.data.alerts.map((a) => a.id)).sort()).toEqual([...ids].sort());
    expect(receiver.requests.filter((r) => r.path === '/snoozed')).toHaveLength(0);
    expect(receiver.requests.filter((r) => r.path === '/plain')).toHaveLength(12);
    expect(receiver.requests.filter((r) => r.path === '/limited')).toHaveLength(4);
  });
});
