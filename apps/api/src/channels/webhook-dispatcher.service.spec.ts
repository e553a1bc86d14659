import { Webhook } from 'standardwebhooks';
import { loadConfig } from '../config/app.config';
import type { PublicOf } from '../monitors/testing/monitors-repository.mock';
import { newWebhooksRepositoryMock } from './testing/webhooks-repository.mock';
import { WebhookDispatcher } from './webhook-dispatcher.service';
import { ChannelTransport } from './channel-transport';
import { MAIL_CONNECTIONS, MailSender } from '../notify/mail-sender';
import { TelegramClient } from '../notify/telegram-client';
import type { WebhookRequest, WebhookResponse, WebhookSender } from '../notify/webhook-sender';
import { newWebhookSecret } from '../notify/webhook-signer';
import type { ClaimedDelivery, WebhooksRepository } from './webhooks.repository';
import type { AlertNotificationsRepository } from '../alerts/alert-notifications.repository';

const secret = newWebhookSecret();

function claimed(overrides: Partial<ClaimedDelivery> = {}): ClaimedDelivery {
  return {
    id: 'd1',
    webhookId: 'w1',
    eventType: 'webhook.test',
    occurredAt: new Date('2026-01-01T00:00:00.000Z'),
    payload: { message: 'hi' },
    attemptCount: 0,
    url: 'https://example.com/hook',
    format: 'standard',
    secret,
    previousSecret: null,
    previousSecretUntil: null,
    config: {},
    quietHours: null,
    digestWindowMs: null,
    maxPerHour: null,
    releasedAt: new Date(),
    ...overrides,
  };
}

function setUp(answer: Partial<WebhookResponse>, schedule = '1s,1m', env: Record<string, string> = {}) {
  const repository = newWebhooksRepositoryMock();
  const sender: jest.Mocked<PublicOf<WebhookSender>> = {
    send: jest.fn().mockResolvedValue({ status: 200, durationMs: 5, error: null, bytesRead: 0, ...answer }),
    onModuleDestroy: jest.fn(),
  };
  const config = loadConfig({ WEBHOOK_RETRY_SCHEDULE: schedule, ...env });
  const transport = new ChannelTransport(
    sender as unknown as WebhookSender,
    new MailSender(config),
    new TelegramClient(config),
  );
  const dispatcher = new WebhookDispatcher(repository as unknown as WebhooksRepository, transport, config);
  return { repository, sender, dispatcher };
}

describe('WebhookDispatcher.attempt', () => {
  const now = new Date();

  it('sends the standard body signed under the delivery id, and records it delivered', async () => {
    const { repository, sender, dispatcher } = setUp({ status: 204 });
    await dispatcher.attempt(claimed(), now);
    const sent = sender.send.mock.calls[0][0];
    expect(sent.url).toBe('https://example.com/hook');
    expect(JSON.parse(sent.body)).toEqual({
      type: 'webhook.test',
      timestamp: '2026-01-01T00:00:00.000Z',
      data: { message: 'hi' },
    });
    expect(sent.headers['webhook-id']).toBe('d1');
    expect(new Webhook(secret).verify(sent.body, sent.headers)).toBeDefined();
    expect(repository.recordAttempt).toHaveBeenCalledWith('d1', {
      attempt: { at: now.toISOString(), status: 204, durationMs: 5, error: null },
      status: 'delivered',
      nextAttemptAt: null,
    });
    expect(repository.disable).not.toHaveBeenCalled();
  });

  it('signs with the previous secret too during the grace', async () => {
    const previous = newWebhookSecret();
    const { sender, dispatcher } = setUp({});
    await dispatcher.attempt(
      claimed({ previousSecret: previous, previousSecretUntil: new Date(now.getTime() + 1000) }),
      now,
    );
    const sent: WebhookRequest = sender.send.mock.calls[0][0];
    expect(sent.headers['webhook-signature'].split(' ')).toHaveLength(2);
    expect(new Webhook(previous).verify(sent.body, sent.headers)).toBeDefined();
  });

  it.each([
    // answer, attempts before, expected status, delay bounds (ms)
    [{ status: 500 }, 0, 'pending', [800, 1200]],
    [{ status: 429, retryAfter: '30' }, 0, 'pending', [30_000, 30_000]],
    [{ status: 503, retryAfter: '0' }, 1, 'pending', [48_000, 72_000]],
    [{ status: null, error: 'connect ECONNREFUSED' }, 0, 'pending', [800, 1200]],
    [{ status: 500 }, 2, 'failed', null],
    [{ status: 302 }, 2, 'failed', null],
  ] as const)('%j after %d attempt(s) → %s', async (answer, before, status, bounds) => {
    const { repository, dispatcher } = setUp(answer);
    const startedAt = Date.now();
    await dispatcher.attempt(claimed({ attemptCount: before }), now);
    const [, outcome] = repository.recordAttempt.mock.calls[0];
    expect(outcome.status).toBe(status);
    expect(outcome.attempt.error).toBe(answer.status === null ? answer.error : `HTTP ${answer.status}`);
    if (bounds === null) {
      expect(outcome.nextAttemptAt).toBeNull();
    } else {
      const delay = (outcome.nextAttemptAt as Date).getTime() - startedAt;
      expect(delay).toBeGreaterThanOrEqual(bounds[0] - 50);
      expect(delay).toBeLessThanOrEqual(bounds[1] + 50);
    }
  });

  it('fails the delivery and disables the webhook on 410 Gone', async () => {
    const { repository, dispatcher } = setUp({ status: 410 });
    await dispatcher.attempt(claimed(), now);
    expect(repository.recordAttempt.mock.calls[0][1]).toMatchObject({
      status: 'failed',
      nextAttemptAt: null,
    });
    expect(repository.disable).toHaveBeenCalledWith('w1', expect.stringMatching(/410 Gone/));
  });
});

describe('WebhookDispatcher.dispatchDue', () => {
  it('claims with the per-endpoint limit and what is in flight, and sends each', async () => {
    const { repository, sender, dispatcher } = setUp({});
    let release: () => void = () => undefined;
    sender.send.mockImplementation(
      () =>
        new Promise((resolve) => {
          release = () => resolve({ status: 200, durationMs: 1, error: null, bytesRead: 0 });
        }),
    );
    repository.claimDue.mockResolvedValueOnce([claimed()]);
    expect(await dispatcher.dispatchDue()).toBe(1);
    // Per endpoint: 4 in flight and 12 taken ahead, waiting for a slot.
    expect(repository.claimDue).toHaveBeenLastCalledWith(256, 16, new Map(), 60_000);
    // While the send is in flight, the next claim knows it.
    await dispatcher.dispatchDue();
    expect(repository.claimDue).toHaveBeenLastCalledWith(255, 16, new Map([['w1', 1]]), 60_000);
    release();
    await dispatcher.onApplicationShutdown();
    expect(repository.recordAttempt).toHaveBeenCalledTimes(1);
  });

  it('claims under the lease WEBHOOK_LEASE_MS sets', async () => {
    const { repository, dispatcher } = setUp({}, '1s,1m', { WEBHOOK_LEASE_MS: '30000' });
    repository.claimDue.mockResolvedValueOnce([]);
    await dispatcher.dispatchDue();
    expect(repository.claimDue).toHaveBeenLastCalledWith(256, 16, new Map(), 30_000);
    await dispatcher.onApplicationShutdown();
  });

  it('at most 4 in flight per endpoint: the rest wait in order and each starts as soon as a slot is free', async () => {
    const { repository, sender, dispatcher } = setUp({});
    const answers: (() => void)[] = [];
    sender.send.mockImplementation(
      () =>
        new Promise((resolve) => {
          answers.push(() => resolve({ status: 200, durationMs: 1, error: null, bytesRead: 0 }));
        }),
    );
    const ids = ['d1', 'd2', 'd3', 'd4', 'd5', 'd6'];
    repository.claimDue.mockResolvedValueOnce(ids.map((id) => claimed({ id })));
    expect(await dispatcher.dispatchDue()).toBe(6);
    const sentIds = () => sender.send.mock.calls.map(([request]) => request.headers['webhook-id']);
    expect(sentIds()).toEqual(['d1', 'd2', 'd3', 'd4']);
    // The next claim counts the two waiting with the four in flight.
    await dispatcher.dispatchDue();
    expect(repository.claimDue).toHaveBeenLastCalledWith(250, 16, new Map([['w1', 6]]), 60_000);
    // One answer frees one slot: the oldest waiting goes, with no claim in between.
    const claims = repository.claimDue.mock.calls.length;
    answers[0]();
    for (let i = 0; i < 50 && sentIds().length < 5; i += 1) await new Promise((r) => setImmediate(r));
    expect(sentIds()).toEqual(['d1', 'd2', 'd3', 'd4', 'd5']);
    expect(repository.claimDue.mock.calls.length).toBe(claims);
    // Shutting down: what still waits for a slot is put back, due now; what is in flight ends and is recorded.
    const stopped = dispatcher.onApplicationShutdown();
    for (const answer of answers.slice(1)) answer();
    await stopped;
    expect(sentIds()).toHaveLength(5);
    expect(repository.postpone).toHaveBeenCalledWith(['d6'], expect.any(Date));
    expect(repository.recordAttempt).toHaveBeenCalledTimes(5);
  });

  it('a channel refused for good (410) sends none of what waits for its slots', async () => {
    const { repository, sender, dispatcher } = setUp({});
    const answers: ((status: number) => void)[] = [];
    sender.send.mockImplementation(
      () =>
        new Promise((resolve) => {
          answers.push((status) => resolve({ status, durationMs: 1, error: null, bytesRead: 0 }));
        }),
    );
    const ids = ['d1', 'd2', 'd3', 'd4', 'd5', 'd6'];
    repository.claimDue.mockResolvedValueOnce(ids.map((id) => claimed({ id })));
    await dispatcher.dispatchDue();
    expect(sender.send).toHaveBeenCalledTimes(4);
    answers[0](410);
    for (let i = 0; i < 50 && repository.disable.mock.calls.length === 0; i += 1)
      await new Promise((r) => setImmediate(r));
    expect(repository.disable).toHaveBeenCalledWith('w1', expect.stringMatching(/410 Gone/));
    const stopped = dispatcher.onApplicationShutdown();
    for (const answer of answers.slice(1)) answer(200);
    await stopped;
    expect(sender.send).toHaveBeenCalledTimes(4);
    expect(repository.postpone).not.toHaveBeenCalled();
  });

  it('an email channel has as many in flight as the SMTP pool has connections (the server is ours)', async () => {
    const { repository, dispatcher } = setUp({});
    const answers: (() => void)[] = [];
    const send = jest.spyOn(MailSender.prototype, 'send').mockImplementation(
      () =>
        new Promise((resolve) => {
          answers.push(() => resolve({ ok: true, status: 250, durationMs: 1, error: null }));
        }),
    );
    try {
      const ids = Array.from({ length: MAIL_CONNECTIONS + 2 }, (_, i) => `e${i}`);
      repository.claimDue.mockResolvedValueOnce(
        ids.map((id) => claimed({ id, format: 'email', url: null, config: { to: ['a@example.com'] } })),
      );
      await dispatcher.dispatchDue();
      expect(send).toHaveBeenCalledTimes(MAIL_CONNECTIONS);
      const stopped = dispatcher.onApplicationShutdown();
      for (const answer of answers) answer();
      await stopped;
      expect(repository.postpone).toHaveBeenCalledWith(ids.slice(MAIL_CONNECTIONS), expect.any(Date));
    } finally {
      send.mockRestore();
    }
  });

  it('a 429 with Retry-After pauses the whole channel: what a claim took of it meanwhile is put back unsent', async () => {
    const { repository, sender, dispatcher } = setUp({ status: 429, retryAfter: '5' });
    const before = Date.now();
    await dispatcher.attempt(claimed(), new Date());
    expect(repository.pauseChannel).toHaveBeenCalledWith('w1', 5000);
    expect(sender.send).toHaveBeenCalledTimes(1);
    // A claim already under way when the 429 came took another of its deliveries, and one of another channel.
    repository.claimDue.mockResolvedValueOnce([
      claimed({ id: 'd2' }),
      claimed({ id: 'd3', webhookId: 'w2' }),
    ]);
    expect(await dispatcher.dispatchDue()).toBe(2);
    await dispatcher.onApplicationShutdown();
    expect(sender.send).toHaveBeenCalledTimes(2);
    expect(sender.send.mock.calls[1][0].headers['webhook-id']).toBe('d3');
    const [ids, at] = repository.postpone.mock.calls[0];
    expect(ids).toEqual(['d2']);
    expect(at.getTime()).toBeGreaterThanOrEqual(before + 5000);
  });

  it('a 429 without Retry-After, or another status with one, pauses nothing', async () => {
    for (const answer of [{ status: 429 }, { status: 503, retryAfter: '5' }]) {
      const { repository, dispatcher } = setUp(answer);
      await dispatcher.attempt(claimed(), new Date());
      expect(repository.pauseChannel).not.toHaveBeenCalled();
    }
  });
});

describe('WebhookDispatcher: woken by committed alerts', () => {
  afterEach(() => jest.useRealTimers());

  it('a commit notification starts a pass at once, not at the next poll', async () => {
    // The poll's timer never fires here: only the notification can bring the second pass.
    jest.useFakeTimers({ doNotFake: ['setImmediate', 'nextTick', 'queueMicrotask'] });
    const { repository, sender } = setUp({});
    const config = loadConfig({});
    let notify: () => void = () => undefined;
    const committed = {
      onCommit: jest.fn((listener: () => void) => {
        notify = listener;
        return () => (notify = () => undefined);
      }),
    };
    const dispatcher = new WebhookDispatcher(
      repository as unknown as WebhooksRepository,
      new ChannelTransport(
        sender as unknown as WebhookSender,
        new MailSender(config),
        new TelegramClient(config),
      ),
      config,
      undefined,
      committed as unknown as AlertNotificationsRepository,
    );
    const passes = async (n: number) => {
      for (let i = 0; i < 1000 && repository.claimDue.mock.calls.length < n; i += 1)
        await new Promise((resolve) => setImmediate(resolve));
      return repository.claimDue.mock.calls.length;
    };
    dispatcher.onApplicationBootstrap();
    expect(await passes(1)).toBe(1);
    // Asleep until the poll: nothing more happens by itself.
    expect(await passes(2)).toBe(1);
    repository.claimDue.mockResolvedValueOnce([claimed({ eventType: 'alert.created' })]);
    notify();
    expect(await passes(2)).toBe(2);
    const shutdown = dispatcher.onApplicationShutdown();
    await shutdown;
    expect(sender.send).toHaveBeenCalledTimes(1);
    // Stopped: a late notification wakes nothing.
    notify();
    expect(await passes(3)).toBe(2);
  });
});
