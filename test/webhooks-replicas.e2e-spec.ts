import request from 'supertest';
import type { WebhookWithSecretDto } from '../apps/api/src/channels/dto/webhook.dto';
import { WebhookSender } from '../apps/api/src/notify/webhook-sender';
import { eventually, startApi, TestApi } from './support/api';
import { WebhookReceiver } from './support/webhook-receiver';

const QUEUED = 300;

describe('two API replicas dispatching one queue', () => {
  let receiver: WebhookReceiver;
  let first: TestApi;
  let second: TestApi;

  beforeAll(async () => {
    receiver = await new WebhookReceiver().start();
    const env = { WEBHOOK_ALLOWED_HOSTS: receiver.hostPort };
    first = await startApi({ env });
    second = await startApi({ env, keepState: true });
  });

  afterAll(async () => {
    await second?.close();
    await first?.close();
    await receiver?.stop();
  });

  it('sends every delivery once: none by both, none missing', async () => {
    const sends = [first, second].map((api) => jest.spyOn(api.app.get(WebhookSender), 'send'));
    // Every request waits until both replicas have sent one: the first to claim fills its per-endpoint limit
    // with requests that do not end, so the other's next poll has the rest to take. Without that, a fast
    // replica could drain the whole queue between two polls of the other, and the test would prove nothing.
    let bothSending: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (bothSending = resolve));
    receiver.answer = () => {
      if (sends.every((spy) => spy.mock.calls.length > 0)) bothSending();
      return { status: 200, after: gate };
    };
    const hooks: WebhookWithSecretDto[] = [];
    for (const path of ['/a', '/b', '/c']) {
      hooks.push(
        (
          await request(first.url)
            .post('/webhooks')
            .send({ url: receiver.url(path) })
            .expect(201)
        ).body,
      );
    }
    // The queue, written at once: QUEUED deliveries over three endpoints, all due now.
    await first.db.query(
      `INSERT INTO webhook_deliveries (webhook_id, event_type, event_id, occurred_at, payload, next_attempt_at)
       SELECT ($1::uuid[])[1 + i % 3], 'webhook.test', i::text, now(), jsonb_build_object('n', i), now()
       FROM generate_series(1, $2::int) AS i`,
      [hooks.map((h) => h.id), QUEUED],
    );
    await eventually(
      'every delivery delivered',
      async () => {
        const [row] = await first.db.query<{ n: number }[]>(
          `SELECT count(*)::int AS n FROM webhook_deliveries WHERE status = 'delivered'`,
        );
        return row.n === QUEUED ? true : undefined;
      },
      60_000,
    );
    const ids = receiver.requests.map((r) => String(r.headers['webhook-id']));
    expect(ids).toHaveLength(QUEUED);
    expect(new Set(ids).size).toBe(QUEUED);
    const [a, b] = sends.map((spy) => spy.mock.calls.length);
    expect(a + b).toBe(QUEUED);
    // Both took part (the gate above waits for that; the test would prove nothing otherwise).
    expect(a).toBeGreaterThan(0);
    expect(b).toBeGreaterThan(0);
    const [attempts] = await first.db.query<{ n: number }[]>(
      `SELECT max(jsonb_array_length(attempts))::int AS n FROM webhook_deliveries`,
    );
    expect(attempts.n).toBe(1);
  });
});
