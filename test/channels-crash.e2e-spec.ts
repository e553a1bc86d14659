import Redis from 'ioredis';
import { Client } from 'pg';
import type { AlertEvent } from '@pairwatch/contracts';
import { alertEvent, publishAlerts } from './support/alert-events';
import { eventually, resetTestState } from './support/api';
import { ApiProcess, spawnApi } from './support/api-process';
import { testDatabaseUrl, testRedisUrl } from './support/test-env';
import { WebhookReceiver } from './support/webhook-receiver';

const BOT_TOKEN = '987654321:AAFsecretbottokenforthelogtest_xyz12';
const NTFY_TOKEN = 'tk_logtestsecretntfytoken42';
const SMTP_PASSWORD = 'smtp-password-never-logged-91';
const EVERY_DAY = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];

/** Time enough before a quiet window's end to hold its alerts, start the cut digest and stop the API. */
const QUIET_LEAD_MS = 20_000;

/** The HH:MM that `at` (ms) shows in `zone`. */
const zonedClock = (zone: string, at: number) =>
  new Intl.DateTimeFormat('en-GB', {
    timeZone: zone,
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  }).format(new Date(at));

interface DigestBody {
  type: string;
  data: { alerts: { id: string }[] };
}

/** The API as its own process, SIGKILLed: held digests and a digest cut mid-send still go out, whole. */
describe('channels across an API crash (SIGKILL), and secrets in its logs', () => {
  let receiver: WebhookReceiver;
  let telegram: WebhookReceiver;
  let redis: Redis;
  let db: Client;
  const apis: ApiProcess[] = [];
  const outputs: string[] = [];

  const env = () => ({
    CHANNEL_ALLOWED_HOSTS: receiver.hostPort,
    TELEGRAM_API_URL: `http://${telegram.hostPort}`,
    SMTP_URL: `smtp://pairwatch:${SMTP_PASSWORD}@127.0.0.1:9`,
    WEBHOOK_RETRY_SCHEDULE: '300ms,300ms',
    // The lease at its minimum (60 s by default): the cut digest is due again when it runs out.
    WEBHOOK_LEASE_MS: '30000',
    LOG_LEVEL: 'debug',
  });
  const start = async () => {
    const api = await spawnApi(env());
    apis.push(api);
    return api;
  };
  const post = async (api: ApiProcess, path: string, body: unknown) => {
    const res = await fetch(`${api.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (res.status >= 300) throw new Error(`POST ${path} answered ${res.status}: ${await res.text()}`);
    return (await res.json()) as { id: string; secret?: string };
  };
  const publish = (events: AlertEvent[]) => publishAlerts(redis, events);
  const statuses = async (channelId: string) =>
    (
      await db.query<{ status: string; n: number }>(
        `SELECT status, count(*)::int AS n FROM webhook_deliveries WHERE webhook_id = $1 GROUP BY status`,
        [channelId],
      )
    ).rows.reduce<Record<string, number>>((all, r) => ({ ...all, [r.status]: r.n }), {});

  beforeAll(async () => {
    await resetTestState();
    receiver = await new WebhookReceiver().start();
    telegram = await new WebhookReceiver().start();
    telegram.answer = () => ({
      status: 400,
      body: JSON.stringify({ ok: false, error_code: 400, description: 'Bad Request: chat not found' }),
    });
    redis = new Redis(testRedisUrl());
    db = new Client({ connectionString: testDatabaseUrl() });
    await db.connect();
  });

  afterAll(async () => {
    for (const api of apis) await api.kill('SIGKILL');
    redis?.disconnect();
    await db?.end();
    await receiver?.stop();
    await telegram?.stop();
    await resetTestState();
  });

  it(
    'SIGKILL while quiet hours hold alerts and a digest is mid-send: once back, the held digest goes out after ' +
      'the window ended with no API running, and the cut digest again with the same id and all its alerts',
    async () => {
      // One API down-time serves both: the quiet window ends while no API runs, and the cut digest's lease (30 s)
      // runs out meanwhile (or soon after the new API starts). Each channel takes its own pair, so each sees only its own alerts.
      let cut = false;
      receiver.answer = (req) => {
        if (req.path === '/digest' && !cut) {
          cut = true;
          return { status: 200, delayMs: 120_000 };
        }
        return { status: 200 };
      };
      let api = await start();
      // A window in the channel's zone (+05:45, so the zone's arithmetic is in play) that ends at a minute
      // boundary far enough ahead to hold 5 alerts, start the digest and stop the API first; the system clock then
      // ends it while no API runs.
      const now = Date.now();
      let endsAt = Math.ceil((now + 1) / 60_000) * 60_000;
      if (endsAt - now < QUIET_LEAD_MS) endsAt += 60_000;
      const zone = 'Asia/Kathmandu';
      const quiet = await post(api, '/channels', {
        type: 'webhook',
        config: { url: receiver.url('/quiet') },
        filter: { pairs: ['BTC-USD', 'ETH-USD'] },
        quietHours: {
          timeZone: zone,
          windows: [
            { days: EVERY_DAY, from: zonedClock(zone, endsAt - 2 * 3_600_000), to: zonedClock(zone, endsAt) },
          ],
        },
      });
      const digest = await post(api, '/channels', {
        type: 'webhook',
        config: { url: receiver.url('/digest') },
        filter: { pairs: ['SOL-USD'] },
        // Long enough that the 4 alerts, stored within moments of each other, make one digest on a loaded machine too.
        digest: { windowMs: 5000 },
      });
      const held = Array.from({ length: 5 }, (_, i) => alertEvent(i % 2 ? 'BTC-USD' : 'ETH-USD'));
      const digested = Array.from({ length: 4 }, () => alertEvent('SOL-USD'));
      await publish([...held, ...digested]);
      await eventually('5 held', async () => ((await statuses(quiet.id)).held === 5 ? true : undefined));
      await eventually('the digest under way', () => receiver.requests.find((r) => r.path === '/digest'));
      // Held until the window's end, as the API worked it out in the zone.
      const holds = await db.query<{ until: Date }>(
        `SELECT DISTINCT next_attempt_at AS until FROM webhook_deliveries WHERE webhook_id = $1`,
        [quiet.id],
      );
      expect(holds.rows.map((r) => r.until.getTime())).toEqual([endsAt]);
      await api.kill('SIGKILL');
      const killedAt = Date.now();
      outputs.push(api.output());
      expect(killedAt).toBeLessThan(endsAt);
      // The window ends while no API runs: the system clock passes its end.
      await eventually(
        'the quiet window to end',
        () => (Date.now() > endsAt + 500 ? true : undefined),
        90_000,
      );
      expect(receiver.requests.filter((r) => r.path === '/quiet')).toHaveLength(0);
      const startedAt = Date.now();
      api = await start();
      await eventually('the held digest delivered', async () =>
        (await statuses(quiet.id)).delivered === 1 ? true : undefined,
      );
      const deliveredAfter = Date.now() - startedAt;
      const got = receiver.requests.filter((r) => r.path === '/quiet');
      expect(got).toHaveLength(1);
      const body = JSON.parse(got[0].body) as DigestBody;
      expect(body.type).toBe('digest');
      expect(body.data.alerts.map((a) => a.id).sort()).toEqual(held.map((e) => e.id).sort());
      expect(await statuses(quiet.id)).toEqual({ digested: 5, delivered: 1 });
      console.log(
        `[faults] quiet hours ending while the API is down: held=5 zone=${zone} windowEnd=${new Date(endsAt).toISOString()} ` +
          `killed ${((endsAt - killedAt) / 1000).toFixed(1)} s before it, new API started ${((startedAt - endsAt) / 1000).toFixed(1)} s after it; ` +
          `digests=${got.length} with ${body.data.alerts.length} alerts, delivered ${(deliveredAfter / 1000).toFixed(1)} s after the start`,
      );
      // The dead API's lease on the cut digest runs out (30 s from its claim): the new one sends it again.
      const sent = await eventually(
        'the cut digest sent again',
        () => {
          const again = receiver.requests.filter((r) => r.path === '/digest');
          return again.length >= 2 ? again : undefined;
        },
        100_000,
      );
      expect(sent).toHaveLength(2);
      expect(sent[1].headers['webhook-id']).toBe(sent[0].headers['webhook-id']);
      for (const request of sent) {
        const cutBody = JSON.parse(request.body) as DigestBody;
        expect(cutBody.data.alerts.map((a) => a.id).sort()).toEqual(digested.map((e) => e.id).sort());
      }
      await eventually('the cut digest delivered', async () =>
        (await statuses(digest.id)).delivered === 1 ? true : undefined,
      );
      expect(await statuses(digest.id)).toEqual({ digested: 4, delivered: 1 });
      await api.kill('SIGTERM');
      outputs.push(api.output());
    },
    240_000,
  );

  it('no secret or token in any line the API logged, even of failed and refused sends', async () => {
    const api = await start();
    const hook = await post(api, '/channels', { type: 'webhook', config: { url: receiver.url('/hook') } });
    const rotated = await post(api, `/channels/${hook.id}/rotate-secret`, {});
    const bot = await post(api, '/channels', {
      type: 'telegram',
      config: { botToken: BOT_TOKEN, chatId: '-100123' },
    });
    receiver.answer = () => ({ status: 500 });
    const push = await post(api, '/channels', {
      type: 'ntfy',
      config: { url: receiver.url('/t'), token: NTFY_TOKEN },
    });
    for (const channel of [hook, bot, push]) await post(api, `/channels/${channel.id}/test`, {});
    await eventually('the telegram channel disabled, the others failed', async () => {
      const rows = await db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM webhook_deliveries WHERE webhook_id = ANY ($1::uuid[]) AND status = 'failed'`,
        [[hook.id, bot.id, push.id]],
      );
      return rows.rows[0].n === 3 ? true : undefined;
    });
    await api.kill('SIGTERM');
    const all = [...outputs, api.output()].join('\n');
    expect(all).toContain('channel disabled');
    for (const secret of [
      BOT_TOKEN,
      NTFY_TOKEN,
      SMTP_PASSWORD,
      hook.secret ?? 'whsec_',
      rotated.secret ?? 'whsec_',
    ]) {
      expect(all).not.toContain(secret);
    }
  });
});
