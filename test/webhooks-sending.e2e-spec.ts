import request from 'supertest';
import type {
  DeliveryDto,
  DeliveryPageDto,
  WebhookWithSecretDto,
} from '../apps/api/src/channels/dto/webhook.dto';
import { eventually, startApi, TestApi } from './support/api';
import { WebhookReceiver } from './support/webhook-receiver';

const MB = 1024 * 1024;

/** The sender's limits against real sockets: the 10 s timeout of the contract and the 64 KB read. */
describe('webhook sending limits: a hanging endpoint, a huge answer', () => {
  let receiver: WebhookReceiver;
  let api: TestApi;

  beforeAll(async () => {
    receiver = await new WebhookReceiver().start();
    api = await startApi({
      env: { WEBHOOK_ALLOWED_HOSTS: receiver.hostPort, WEBHOOK_RETRY_SCHEDULE: '300ms,300ms' },
    });
  });

  afterAll(async () => {
    await api?.close();
    await receiver?.stop();
  });

  async function testDelivery(path: string): Promise<{ hook: WebhookWithSecretDto; deliveryId: string }> {
    const hook = (
      await request(api.url)
        .post('/webhooks')
        .send({ url: receiver.url(path) })
        .expect(201)
    ).body as WebhookWithSecretDto;
    const queued = await request(api.url).post(`/webhooks/${hook.id}/test`).expect(202);
    return { hook, deliveryId: (queued.body as { deliveryId: string }).deliveryId };
  }

  async function delivered(hookId: string, timeoutMs: number): Promise<DeliveryDto> {
    const [delivery] = await eventually(
      'the delivery delivered',
      async () => {
        const res = await request(api.url).get(`/webhooks/${hookId}/deliveries`).expect(200);
        const items = (res.body as DeliveryPageDto).items;
        return items[0]?.status === 'delivered' ? items : undefined;
      },
      timeoutMs,
    );
    return delivery;
  }

  it('cuts an attempt that hangs 30 s at 10 s, records it as timed out, and retries it', async () => {
    receiver.answer = (req, received) =>
      req.path === '/hang' && received.length === 1 ? { status: 200, delayMs: 30_000 } : { status: 200 };
    const { hook, deliveryId } = await testDelivery('/hang');
    const delivery = await delivered(hook.id, 25_000);
    expect(delivery.id).toBe(deliveryId);
    const [cut, retried] = delivery.attempts;
    expect(delivery.attempts).toHaveLength(2);
    expect(cut.status).toBeNull();
    expect(cut.error).toMatch(/timed out after 10000 ms/);
    expect(cut.durationMs).toBeGreaterThanOrEqual(10_000);
    expect(cut.durationMs).toBeLessThan(11_500);
    expect(retried).toMatchObject({ status: 200, error: null });
    // The retry came on the short schedule after the cut, not after the 30 s hang.
    expect(Date.parse(retried.at) - Date.parse(cut.at)).toBeLessThan(10_000 + 2_000);
    const got = receiver.at('/hang');
    expect(got).toHaveLength(2);
    expect(new Set(got.map((r) => r.headers['webhook-id']))).toEqual(new Set([deliveryId]));
    await request(api.url).delete(`/webhooks/${hook.id}`).expect(204);
  });

  it('keeps a delivery failed when its channel is disabled while the attempt is in flight, and that attempt fails', async () => {
    let answer: () => void = () => undefined;
    const answered = new Promise<void>((resolve) => (answer = resolve));
    receiver.answer = (req) =>
      req.path === '/disabled-mid' ? { status: 500, after: answered } : { status: 200 };
    const { hook, deliveryId } = await testDelivery('/disabled-mid');
    await eventually('the attempt in flight', () => receiver.at('/disabled-mid')[0], 10_000);
    await request(api.url).patch(`/webhooks/${hook.id}`).send({ enabled: false }).expect(200);
    answer();
    const [delivery] = await eventually(
      'the attempt recorded',
      async () => {
        const res = await request(api.url).get(`/webhooks/${hook.id}/deliveries`).expect(200);
        const items = (res.body as DeliveryPageDto).items;
        return items[0]?.attempts.length === 1 ? items : undefined;
      },
      15_000,
    );
    expect(delivery).toMatchObject({
      id: deliveryId,
      status: 'failed',
      lastError: 'the webhook was disabled',
    });
    expect(delivery.attempts[0]).toMatchObject({ status: 500 });
  });

  it('reads at most 64 KB of a 50 MB answer, closing the connection, and records the 2xx as delivered', async () => {
    receiver.answer = (req) =>
      req.path === '/huge' ? { status: 200, streamBytes: 50 * MB } : { status: 200 };
    const { hook } = await testDelivery('/huge');
    const delivery = await delivered(hook.id, 10_000);
    expect(delivery.attempts).toHaveLength(1);
    // A 2xx is delivered whatever follows it; the connection is closed once 64 KB have been read.
    expect(delivery.attempts[0]).toMatchObject({ status: 200, error: null });
    expect(delivery.attempts[0].durationMs).toBeLessThan(5_000);
    const streamed = await eventually('the receiver to see the connection closed', () =>
      receiver.streamed.length === 1 && receiver.streamed[0] > 0 ? receiver.streamed[0] : undefined,
    );
    // What left the receiver: the 64 KB read plus what the kernel's socket buffers took, far from 50 MB.
    expect(streamed).toBeGreaterThanOrEqual(64 * 1024);
    expect(streamed).toBeLessThan(8 * MB);
    console.log(`50 MB answer: the receiver got ${(streamed / MB).toFixed(2)} MB out before the close`);
    await request(api.url).delete(`/webhooks/${hook.id}`).expect(204);
  });
});
