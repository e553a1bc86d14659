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
import { typeOfFormat, WEBHOOK_LIMITS, type WebhookFormat } from '../notify/webhook-events';
import { MAIL_CONNECTIONS } from '../notify/mail-sender';
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
  /**
   * Deliveries taken per channel beyond WEBHOOK_LIMITS.inFlightPerEndpoint, waiting in this process for a slot
   * (inFlightLimit): a slot that comes free starts the next at once instead of waiting for the next claim (a
   * round trip to the database and a pass; at 100 alerts/s a channel, four slots that each waited for a claim
   * were too few). Under a lease like the others: at 4 in flight and a 10 s send timeout, the last of 12 waits
   * 30 s at worst, well inside the default 60 s lease (one that waited longer than the lease less two send
   * timeouts is left to its lease, not sent).
   */
  queuedPerEndpoint: 12,
  /** Deliveries this process holds at most, in flight and waiting for a slot. */
  maxTaken: 256,
  retentionEveryMs: 60 * 60 * 1000,
  maxBackoffMs: 10_000,
  /**
   * The upkeep (suppress, release ended holds, decide new alerts, retention) runs in a loop of its own, at most
   * this often while it finds work or alerts keep coming, and every pollMs otherwise.
   */
  upkeepEveryMs: 50,
  /** Alert deliveries the noise rules decide about in one pass, at most. */
  decideBatch: 2000,
} as const;

/**
 * Sends due deliveries of every channel type, in every API replica: takes them with FOR UPDATE SKIP LOCKED
 * under a lease (so two replicas never send one at once, and a replica's crash leaves them due again), a few
 * per channel ahead of its in-flight limit (4 per endpoint; email: the SMTP pool's connections), and records
 * every attempt. 2xx is delivered; anything else is retried on the schedule with jitter (a longer Retry-After
 * wins) until it fails; a refusal for good (410 Gone, a blocked bot, an address refused) disables the channel.
 * An upkeep loop beside it logs due deliveries of snoozed channels `suppressed`, turns ended holds into
 * digests, asks the noise rules about new alerts, and deletes finished deliveries past the retention.
 */
@Injectable()
export class WebhookDispatcher implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(WebhookDispatcher.name);
  private readonly options = DISPATCHER_DEFAULTS;
  private readonly inFlight = new Map<string, number>();
  /** Per endpoint, deliveries taken and waiting for one of its slots (oldest first), and when each was taken. */
  private readonly queued = new Map<string, { delivery: ClaimedDelivery; takenAt: number }[]>();
  private queuedCount = 0;
  /** Channels the last claim took up to their limit (it may have left some of their due deliveries behind). */
  private readonly atLimit = new Set<string>();
  /** Whether the last claim took as many as the process could hold (maxTaken). */
  private claimCut = false;
  /** Sends started and not yet recorded. */
  private readonly sends = new Set<Promise<void>>();
  /**
   * Requests in flight over all endpoints (maxInFlight): a send whose request is over and whose attempt is
   * being recorded (RECORD_GATHER_MS and a write) holds no slot.
   */
  private requests = 0;
  /** Writes started outside a pass (putting back what a paused channel had queued), awaited on shutdown. */
  private readonly chores = new Set<Promise<void>>();
  private stopping = false;
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
  /**
   * The upkeep beside the sending loop, not in it: in series before every claim, its three statements (tens of
   * ms on a busy database) held up the claims that free the endpoints' slots.
   */
  private readonly upkeepLoop = new BackgroundLoop({
    name: 'channel upkeep',
    pass: () => this.upkeep(),
    everyMs: DISPATCHER_DEFAULTS.pollMs,
    backoff: { baseMs: 400, maxMs: DISPATCHER_DEFAULTS.maxBackoffMs },
    onError: (error, _failures, retryInMs) =>
      this.logger.error(`channel upkeep failed, retrying in ${retryInMs} ms: ${error.message}`),
    logger: this.logger,
  });
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
    // The SMTP sessions opened now, not under the first burst of alerts (ChannelTransport.ready).
    this.chore(
      this.webhooks.hasEnabled('email').then((has) => {
        if (has) this.transport.ready('email');
      }),
    );
    this.loop.start();
    this.upkeepLoop.start();
    // Alerts just stored (by any replica) have deliveries due now: take them at once, not at the next poll (and
    // decide about those of channels with noise rules within upkeepEveryMs).
    this.stopWaking = this.committed?.onCommit(() => {
      this.loop.wake();
      this.upkeepLoop.wake(this.options.upkeepEveryMs);
    });
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopWaking?.();
    this.stopping = true;
    await Promise.all([this.loop.stop(), this.upkeepLoop.stop()]);
    // What waits for a slot is ours under its lease: due again now, for any replica, instead of when it ends.
    const waiting = [...this.queued.values()].flat().map((q) => q.delivery.id);
    this.queued.clear();
    this.queuedCount = 0;
    if (waiting.length > 0) this.chore(this.webhooks.postpone(waiting, new Date()));
    await Promise.all([...this.sends, ...this.chores]);
  }

  /**
   * Takes what is due now, up to what each endpoint can have in flight and queued behind it, and starts what
   * has a free slot; answers how many were taken. Exported for tests.
   */
  async dispatchDue(): Promise<number> {
    const free = this.options.maxTaken - this.sends.size - this.queuedCount;
    if (free <= 0) return 0;
    const taken = new Map(this.inFlight);
    for (const [webhookId, waiting] of this.queued)
      taken.set(webhookId, (taken.get(webhookId) ?? 0) + waiting.length);
    const claimed = await this.webhooks.claimDue(
      free,
      WEBHOOK_LIMITS.inFlightPerEndpoint + this.options.queuedPerEndpoint,
      taken,
      this.config.webhooks.leaseMs,
    );
    // Which channels may have more due than this claim left room for (at their limit now), and whether the
    // process-wide limit cut it: only their sends bring the next claim forward (see start).
    const perChannel = WEBHOOK_LIMITS.inFlightPerEndpoint + this.options.queuedPerEndpoint;
    const after = new Map(taken);
    for (const delivery of claimed) after.set(delivery.webhookId, (after.get(delivery.webhookId) ?? 0) + 1);
    this.atLimit.clear();
    for (const [webhookId, n] of after) if (n >= perChannel) this.atLimit.add(webhookId);
    this.claimCut = claimed.length >= free;
    const ready = await this.applyNoise(claimed, new Date());
    const takenAt = Date.now();
    for (const delivery of ready) {
      const waiting = this.queued.get(delivery.webhookId) ?? [];
      this.queued.set(delivery.webhookId, waiting);
      waiting.push({ delivery, takenAt });
      this.queuedCount += 1;
    }
    await this.pump();
    for (const [webhookId, until] of this.pausedUntil)
      if (until <= Date.now()) this.pausedUntil.delete(webhookId);
    return claimed.length;
  }

  /** Sends one delivery and records the attempt; `sent` is called once the request to the receiver is over. */
  async attempt(
    delivery: ClaimedDelivery,
    now = new Date(),
    sent: () => void = () => undefined,
  ): Promise<void> {
    const result = await this.transport.send(delivery, now);
    const attempts = delivery.attemptCount + 1;
    const { ok } = result;
    const error = ok ? null : result.error;
    const retryAfterMs = parseRetryAfter(result.retryAfter);
    const pause = result.status === 429 && retryAfterMs !== undefined && retryAfterMs > 0;
    if (pause) {
      // Too many requests: the whole channel waits, not only this delivery (Telegram counts per bot and chat).
      this.pausedUntil.set(
        delivery.webhookId,
        Math.max(Date.now() + retryAfterMs, this.pausedUntil.get(delivery.webhookId) ?? 0),
      );
    }
    // A channel refused for good sends nothing more: what waits for its slots is failed with it (disable).
    if (result.disable) this.drop(delivery.webhookId, this.queued.get(delivery.webhookId)?.length ?? 0);
    // The slot is free once the request is over and a pause it asked for is known (the channel's queued
    // deliveries are then put back, not sent).
    sent();
    if (pause) await this.webhooks.pauseChannel(delivery.webhookId, retryAfterMs);
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

  /**
   * Starts queued deliveries where their endpoint has a free slot (and the process one), oldest first. A paused
   * channel's (429 Retry-After) are put back, due when the pause ends; one taken so long ago that its lease
   * might run out before its answer is left to the lease (it is due again when it ends), never sent twice.
   */
  private pump(): Promise<void> {
    if (this.stopping) return Promise.resolve();
    const now = Date.now();
    const paused = new Map<number, string[]>();
    for (const [webhookId, waiting] of this.queued) {
      const until = this.pausedUntil.get(webhookId);
      if (until !== undefined && until > now) {
        paused.set(until, [...(paused.get(until) ?? []), ...waiting.map((q) => q.delivery.id)]);
        this.drop(webhookId, waiting.length);
        continue;
      }
      while (
        waiting.length > 0 &&
        (this.inFlight.get(webhookId) ?? 0) < inFlightLimit(waiting[0].delivery.format) &&
        this.requests < this.options.maxInFlight
      ) {
        const { delivery, takenAt } = waiting[0];
        this.drop(webhookId, 1);
        if (now - takenAt < this.config.webhooks.leaseMs - 2 * WEBHOOK_LIMITS.timeoutMs) this.start(delivery);
        else
          this.logger.warn({
            msg: 'delivery left to its lease: waited too long for a slot',
            deliveryId: delivery.id,
          });
      }
    }
    return Promise.all([...paused].map(([until, ids]) => this.webhooks.postpone(ids, new Date(until)))).then(
      () => undefined,
    );
  }

  /** Removes the first `n` queued deliveries of the endpoint. */
  private drop(webhookId: string, n: number): void {
    const waiting = this.queued.get(webhookId) ?? [];
    waiting.splice(0, n);
    this.queuedCount -= n;
    if (waiting.length === 0) this.queued.delete(webhookId);
  }

  private chore(work: Promise<void>): void {
    const done = work
      .catch((error: unknown) => this.logger.error(`webhook dispatch: ${(error as Error).message}`))
      .finally(() => this.chores.delete(done));
    this.chores.add(done);
  }

  private start(delivery: ClaimedDelivery): void {
    this.inFlight.set(delivery.webhookId, (this.inFlight.get(delivery.webhookId) ?? 0) + 1);
    this.requests += 1;
    // The endpoint's slot is free once its request is over (its next queued delivery starts at once); recording
    // the attempt needs none.
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.requests -= 1;
      const left = (this.inFlight.get(delivery.webhookId) ?? 1) - 1;
      if (left > 0) this.inFlight.set(delivery.webhookId, left);
      else this.inFlight.delete(delivery.webhookId);
      this.chore(this.pump());
      if (this.wantsClaim(delivery.webhookId)) this.loop.wake();
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
        // What the process holds is less by one: a claim the process-wide limit cut can take more.
        if (this.claimCut) this.loop.wake();
      });
    this.sends.add(send);
  }

  /**
   * Whether a slot of this channel coming free calls for a claim now: when the last claim left due deliveries
   * behind for it (it was at its limit) and what it has waiting is down to half, or when the process-wide limit
   * cut the last claim. Otherwise everything due was taken, and what becomes due next wakes the loop itself
   * (a commit, the upkeep letting deliveries go) or is found by the poll (retries, ended pauses and leases).
   * Waking at every send's end made a claim (a round trip) for every few deliveries, most of them finding
   * nothing new.
   */
  private wantsClaim(webhookId: string): boolean {
    return (
      this.claimCut ||
      (this.atLimit.has(webhookId) &&
        (this.queued.get(webhookId)?.length ?? 0) <= this.options.queuedPerEndpoint / 2)
    );
  }

  /**
   * One step of the loop: takes what is due. The next pass comes `pollMs` later, or sooner when woken: by a
   * commit, by the upkeep, or by a send's end when the claim had left deliveries of its channel behind
   * (wantsClaim).
   */
  private async step(): Promise<number | void> {
    const taken = await this.dispatchDue();
    if (taken === 0) return undefined;
    if (this.requests >= this.options.maxInFlight) await Promise.race([...this.sends]);
    return this.claimCut ? 0 : undefined;
  }

  /**
   * One pass of the upkeep: logs suppressed what a snooze or a mute keeps back, turns ended holds into digests
   * and asks the noise rules about new alerts (three statements side by side, each only when a first statement
   * says it can find anything), and deletes finished deliveries past the retention now and then. What it lets
   * go is due now: the sending loop is woken for it.
   */
  private async upkeep(): Promise<number | void> {
    await this.deleteExpiredIfDue();
    // One statement says which of the three can find anything (most passes under load: none of them).
    const due = await this.webhooks.upkeepDue();
    const [suppressed, digests, decided] = await Promise.all([
      due.suppress ? this.webhooks.suppressSnoozed() : new Map<WebhookFormat, number>(),
      due.release ? this.webhooks.releaseDueHolds() : 0,
      due.decide ? this.decideDue(new Date()) : 0,
    ]);
    let count = 0;
    for (const [format, n] of suppressed) {
      this.metrics?.channelDelivery(typeOfFormat(format), 'suppressed', n);
      count += n;
    }
    if (digests + decided > 0) this.loop.wake();
    if (decided >= this.options.decideBatch) return 0;
    return digests + decided + count > 0 ? this.options.upkeepEveryMs : undefined;
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

/**
 * Requests one channel has in flight at most. A user's endpoint (HTTP, Telegram's chat) gets
 * WEBHOOK_LIMITS.inFlightPerEndpoint. Email goes to the installation's own SMTP server, whose pooled
 * connections (MAIL_CONNECTIONS) are the limit that counts: at 4 in flight a channel would get 4 of them and
 * at most 4 messages per SMTP exchange (20-50 ms on a busy machine: under the 100 alerts/s it may be asked for).
 */
export function inFlightLimit(format: WebhookFormat): number {
  return format === 'email' ? MAIL_CONNECTIONS : WEBHOOK_LIMITS.inFlightPerEndpoint;
}
