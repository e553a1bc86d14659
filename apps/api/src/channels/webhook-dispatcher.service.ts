import {
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
  OnApplicationShutdown,
  Optional,
} from '@nestjs/common';
import { AlertNotificationsRepository } from '../alerts/alert-notifications.repository';
import { BackgroundLoop } from '../common/background-loop';
import { APP_CONFIG, AppConfig } from '../config/app.config';
import { PairwatchMetrics } from '../telemetry/pairwatch-metrics';
import { nextRetryDelay, parseRetryAfter } from './retry-schedule';
import { typeOfFormat, WEBHOOK_LIMITS } from '../notify/webhook-events';
import { ChannelTransport } from './channel-transport';
import { hasNoiseRules, hourStart, planNoise } from './noise-plan';
import { AttemptOutcome, ClaimedDelivery, WebhooksRepository } from './webhooks.repository';

export const DISPATCHER_DEFAULTS = {
  /**
   * How often the queue is asked for due deliveries when nothing was due. New alerts do not wait for it: their
   * commit notification wakes the dispatcher of every replica at once; the poll finds retries, holds that end,
   * monitor events and tests, and what a lost notification connection missed.
   */
  pollMs: 200,
  /** Requests this process has in flight at most, over all endpoints. */
  maxInFlight: 64,
  /** A taken delivery is due again after this if its dispatcher died: longer than the send timeout. */
  leaseMs: 60_000,
  retentionEveryMs: 60 * 60 * 1000,
  maxBackoffMs: 10_000,
  /** The upkeep (suppress, release ended holds, decide new alerts) runs at most this often. */
  upkeepEveryMs: 50,
  /** Alert deliveries the noise rules decide about in one pass, at most. */
  decideBatch: 2000,
} as const;

/**
 * Sends due deliveries of every channel type, in every API replica: takes them with FOR UPDATE SKIP LOCKED under a lease (so two
 * replicas never send one at once, and a replica's crash leaves them due again), at most 4 in flight per
 * endpoint, and records every attempt. 2xx is delivered; anything else is retried on the schedule with jitter
 * (a longer Retry-After wins) until it fails; a refusal for good (410 Gone, a blocked bot, an address refused)
 * disables the channel. Each pass also logs due deliveries of snoozed channels `suppressed`, turns ended holds
 * into digests, asks the noise rules about new alerts, and deletes finished deliveries past the retention.
 */
@Injectable()
export class WebhookDispatcher implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(WebhookDispatcher.name);
  private readonly options = DISPATCHER_DEFAULTS;
  private readonly inFlight = new Map<string, number>();
  private readonly sends = new Set<Promise<void>>();
  private readonly loop = new BackgroundLoop({
    name: 'webhook dispatch',
    pass: () => this.step(),
    everyMs: DISPATCHER_DEFAULTS.pollMs,
    backoff: { baseMs: 400, maxMs: DISPATCHER_DEFAULTS.maxBackoffMs },
    onError: (error, _failures, retryInMs) =>
      this.logger.error(`webhook dispatch failed, retrying in ${retryInMs} ms: ${error.message}`),
    logger: this.logger,
  });
  private lastRetentionAt = 0;
  private lastUpkeepAt = 0;
  private stopWaking: (() => void) | undefined;
  /**
   * Channels whose receiver asked for a pause (429 with Retry-After), until when (ms): what a claim already in
   * flight took of them when the answer came is put back, not sent. The row's `send_after` keeps the others
   * (and other replicas) from taking any.
   */
  private readonly pausedUntil = new Map<string, number>();

  constructor(
    private readonly webhooks: WebhooksRepository,
    private readonly transport: ChannelTransport,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Optional() private readonly metrics?: PairwatchMetrics,
    @Optional() private readonly committed?: AlertNotificationsRepository,
  ) {}

  onApplicationBootstrap(): void {
    this.loop.start();
    // Alerts just stored (by any replica) have deliveries due now: take them at once, not at the next poll.
    this.stopWaking = this.committed?.onCommit(() => this.loop.wake());
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopWaking?.();
    await this.loop.stop();
    await Promise.all([...this.sends]);
  }

  /** Takes and starts what is due now; answers how many were taken. Exported for tests. */
  async dispatchDue(): Promise<number> {
    const free = this.options.maxInFlight - this.sends.size;
    if (free <= 0) return 0;
    const claimed = await this.webhooks.claimDue(
      free,
      WEBHOOK_LIMITS.inFlightPerEndpoint,
      new Map(this.inFlight),
      this.options.leaseMs,
    );
    const ready = await this.applyNoise(claimed, new Date());
    const now = Date.now();
    const paused = new Map<number, string[]>();
    for (const delivery of ready) {
      const until = this.pausedUntil.get(delivery.webhookId);
      if (until === undefined || until <= now) this.start(delivery);
      else paused.set(until, [...(paused.get(until) ?? []), delivery.id]);
    }
    for (const [until, ids] of paused) await this.webhooks.postpone(ids, new Date(until));
    for (const [webhookId, until] of this.pausedUntil) if (until <= now) this.pausedUntil.delete(webhookId);
    return claimed.length;
  }

  /** Sends one delivery and records the attempt; `sent` is called once the request to the receiver is over. */
  async attempt(
    delivery: ClaimedDelivery,
    now = new Date(),
    sent: () => void = () => undefined,
  ): Promise<void> {
    const result = await this.transport.send(delivery, now, sent);
    const attempts = delivery.attemptCount + 1;
    const { ok } = result;
    const error = ok ? null : result.error;
    const retryAfterMs = parseRetryAfter(result.retryAfter);
    if (result.status === 429 && retryAfterMs !== undefined && retryAfterMs > 0) {
      // Too many requests: the whole channel waits, not only this delivery (Telegram counts per bot and chat).
      const until = Date.now() + retryAfterMs;
      this.pausedUntil.set(
        delivery.webhookId,
        Math.max(until, this.pausedUntil.get(delivery.webhookId) ?? 0),
      );
      await this.webhooks.pauseChannel(delivery.webhookId, retryAfterMs);
    }
    const delay =
      ok || result.disable
        ? null
        : nextRetryDelay(this.config.webhooks.retryScheduleMs, attempts, retryAfterMs);
    const outcome: AttemptOutcome = {
      attempt: { at: now.toISOString(), status: result.status, durationMs: result.durationMs, error },
      status: ok ? 'delivered' : delay === null ? 'failed' : 'pending',
      nextAttemptAt: delay === null ? null : new Date(Date.now() + delay),
    };
    await this.webhooks.recordAttempt(delivery.id, outcome);
    const counted = outcome.status === 'pending' ? 'retrying' : ok ? 'delivered' : 'failed';
    this.metrics?.webhookAttempt(counted);
    this.metrics?.channelDelivery(typeOfFormat(delivery.format), counted);
    if (result.disable) {
      const reason = `${result.disable} at ${now.toISOString()}`;
      await this.webhooks.disable(delivery.webhookId, reason);
      this.logger.warn({ msg: 'channel disabled', webhookId: delivery.webhookId, reason });
    } else if (!ok) {
      this.logger.debug({ msg: 'channel delivery failed', deliveryId: delivery.id, attempts, error });
    }
  }

  /**
   * The alerts just claimed that their channel's noise rules have not decided about yet: decided per channel
   * (DESIGN.md "Noise control"); answers those that go now. The rest are held (their digest goes out when the
   * hold ends) and leave this pass.
   */
  private async applyNoise(claimed: ClaimedDelivery[], now: Date): Promise<ClaimedDelivery[]> {
    const undecided = new Map<string, ClaimedDelivery[]>();
    const ready: ClaimedDelivery[] = [];
    for (const delivery of claimed) {
      if (delivery.releasedAt === null && delivery.eventType === 'alert.created' && hasNoiseRules(delivery)) {
        undecided.set(delivery.webhookId, [...(undecided.get(delivery.webhookId) ?? []), delivery]);
      } else ready.push(delivery);
    }
    for (const [webhookId, deliveries] of undecided) {
      const settings = deliveries[0];
      const send = new Set(
        await this.webhooks.decideNoise(
          webhookId,
          deliveries.map((d) => d.id),
          hourStart(now),
          (state) => planNoise(settings, state, now),
        ),
      );
      ready.push(...deliveries.filter((d) => send.has(d.id)));
      this.metrics?.channelDelivery(typeOfFormat(settings.format), 'held', deliveries.length - send.size);
    }
    return ready;
  }

  /**
   * Asks the noise rules about every due alert they have not decided about yet, per channel, in arrival order,
   * whatever is in flight: held ones leave the queue for their digest, the others are let go and claimed to be
   * sent like any delivery. Deciding does not wait for a send slot, so a burst to a digest channel is decided as
   * it arrives (one digest), not four alerts a pass behind the sends. Answers how many were decided.
   */
  private async decideDue(now: Date): Promise<number> {
    const due = await this.webhooks.undecided(this.options.decideBatch);
    const byChannel = new Map<string, typeof due>();
    for (const d of due) byChannel.set(d.webhookId, [...(byChannel.get(d.webhookId) ?? []), d]);
    for (const [webhookId, deliveries] of byChannel) {
      const settings = deliveries[0];
      const send = await this.webhooks.decideNoise(
        webhookId,
        deliveries.map((d) => d.id),
        hourStart(now),
        (state) => planNoise(settings, state, now),
      );
      this.metrics?.channelDelivery(typeOfFormat(settings.format), 'held', deliveries.length - send.length);
    }
    return due.length;
  }

  private start(delivery: ClaimedDelivery): void {
    this.inFlight.set(delivery.webhookId, (this.inFlight.get(delivery.webhookId) ?? 0) + 1);
    // The endpoint's slot is free once its request is over; recording the attempt needs none.
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      const left = (this.inFlight.get(delivery.webhookId) ?? 1) - 1;
      if (left > 0) this.inFlight.set(delivery.webhookId, left);
      else this.inFlight.delete(delivery.webhookId);
    };
    const send = this.attempt(delivery, new Date(), release)
      .catch((error: unknown) => {
        // The lease brings it back: the attempt is made again once it runs out.
        this.logger.error(
          `webhook delivery ${delivery.id} could not be recorded: ${(error as Error).message}`,
        );
      })
      .finally(() => {
        release();
        this.sends.delete(send);
        this.loop.wake();
      });
    this.sends.add(send);
  }

  /**
   * One step of the loop: takes what is due. When nothing was, the next poll comes `pollMs` later, or sooner
   * when a send ends first (an endpoint at its in-flight limit can take the next of its due deliveries at once,
   * instead of one poll later).
   */
  private async step(): Promise<number | void> {
    await this.deleteExpiredIfDue();
    let decided = 0;
    // The upkeep (suppress, release ended holds, decide new alerts) at most every upkeepEveryMs, its three
    // statements side by side: passes back to back under load are one claim each (a round trip), so an
    // endpoint's four in-flight slots come round at the database's pace, not five statements' (at 100 alerts/s
    // to 10 channels the five-statement pass held the whole dispatcher to ~650 deliveries/s).
    if (Date.now() - this.lastUpkeepAt >= this.options.upkeepEveryMs) {
      this.lastUpkeepAt = Date.now();
      const [suppressed, , count] = await Promise.all([
        this.webhooks.suppressSnoozed(),
        this.webhooks.releaseDueHolds(),
        this.decideDue(new Date()),
      ]);
      for (const [format, n] of suppressed)
        this.metrics?.channelDelivery(typeOfFormat(format), 'suppressed', n);
      decided = count;
    }
    const taken = await this.dispatchDue();
    if (taken === 0) return decided > 0 ? 0 : undefined;
    if (this.sends.size >= this.options.maxInFlight) await Promise.race([...this.sends]);
    return 0;
  }

  private async deleteExpiredIfDue(): Promise<void> {
    if (Date.now() - this.lastRetentionAt < this.options.retentionEveryMs) return;
    this.lastRetentionAt = Date.now();
    const deleted = await this.webhooks.deleteFinishedBefore(
      new Date(Date.now() - this.config.webhooks.retentionMs),
    );
    if (deleted > 0) this.logger.log(`deleted ${deleted} webhook deliveries past retention`);
  }
}
