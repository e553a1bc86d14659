import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { EntityManager, In, Repository } from 'typeorm';
import type { DeliveryAttempt } from './webhook-delivery.entity';
import { WebhookDeliveryEntity } from './webhook-delivery.entity';
import type { DeliveryStatus, WebhookEvent, WebhookFormat } from '../notify/webhook-events';
import { SecretBox } from '../common/secret-box';
import { CHANNEL_LIMITS, type ChannelConfig, type QuietHours } from '../notify/channel-types';
import { isoText } from '../database/sql-text';
import { WebhookEntity } from './webhook.entity';

/**
 * The enabled channels that want event `event` of pair `pair` and monitor `monitor` (an empty filter list: all).
 */
const WANTS = (event: string, pair: string, monitor: string) =>
  `w.enabled AND ${event} = ANY (w.events) AND (cardinality(w.pairs) = 0 OR ${pair} = ANY (w.pairs))
   AND (cardinality(w.monitor_ids) = 0 OR ${monitor} = ANY (w.monitor_ids))`;

/** An alert's own filters: its direction and its rule's kind. */
const ALERT_WANTS = (a: string) =>
  `(cardinality(w.directions) = 0 OR ${a}.direction = ANY (w.directions))
   AND (cardinality(w.kinds) = 0 OR ${a}.kind = ANY (w.kinds))`;

export function queueAlertDeliveriesSql(stored: string): string {
  return `INSERT INTO webhook_deliveries (webhook_id, event_type, event_id, occurred_at, payload, next_attempt_at)
SELECT w.id, 'alert.created', a.id::text, a.created_at, jsonb_build_object(
    'id', a.id, 'monitorId', a.monitor_id, 'pair', a.pair, 'ruleId', a.rule_id, 'kind', a.kind,
    'details', a.details, 'direction', a.direction,
    'priceField', a.price_field, 'referencePrice', a.reference_price::text, 'price', a.price::text,
    'changePercent', a.change_percent::text, 'thresholdPercent', a.threshold_percent::text,
    'intervalMs', a.interval_ms, 'observedAt', ${isoText('a.observed_at')}, 'createdAt', ${isoText('a.created_at')}
  ), now()
FROM ${stored} a JOIN channels w ON ${WANTS(`'alert.created'`, 'a.pair', 'a.monitor_id::text')} AND ${ALERT_WANTS('a')}
ON CONFLICT DO NOTHING`;
}

/** One event of a pair for every webhook that wants it. */
const QUEUE_EVENT_SQL = `INSERT INTO webhook_deliveries (webhook_id, event_type, event_id, occurred_at, payload, next_attempt_at)
SELECT w.id, $1::text, $2::text, $3::timestamptz, $5::jsonb, now() FROM channels w
WHERE ${WANTS('$1::text', '$4::text', `($5::jsonb ->> 'monitorId')`)}
ON CONFLICT DO NOTHING
RETURNING id`;

/** A delivery taken by a dispatcher, with what it needs of its webhook to send it. */
export interface ClaimedDelivery {
  id: string;
  webhookId: string;
  eventType: WebhookEvent;
  occurredAt: Date;
  payload: Record<string, unknown>;
  attemptCount: number;
  url: string | null;
  format: WebhookFormat;
  /** In clear once claimed (sealed in the row). */
  secret: string | null;
  previousSecret: string | null;
  previousSecretUntil: Date | null;
  config: ChannelConfig;
  quietHours: QuietHours | null;
  digestWindowMs: number | null;
  maxPerHour: number | null;
  /** Null: the channel's noise rules have not decided about this alert yet. */
  releasedAt: Date | null;
}

/** An alert delivery `d` whose monitor is muted now (`m` the monitor). */
const MUTED = (d: string) =>
  // An uncorrelated IN: the muted monitors are read once per statement (a hashed subplan), not once per row.
  `${d}.event_type = 'alert.created' AND (${d}.payload ->> 'monitorId') IN (
     SELECT m.id::text FROM monitors m WHERE m.muted_until > now())`;

/**
 * True when some channel is snoozed or some monitor muted now: evaluated once per statement (an InitPlan), it
 * spares the statements that look for deliveries to suppress a scan of the whole due queue when there are none.
 */
const ANY_SNOOZED_OR_MUTED = `(EXISTS (SELECT 1 FROM channels s WHERE s.snoozed_until > now())
  OR EXISTS (SELECT 1 FROM monitors m WHERE m.muted_until > now()))`;

/** True when some enabled channel has noise rules (once per statement, as above). */
const ANY_NOISY = `EXISTS (SELECT 1 FROM channels n WHERE n.enabled AND (n.quiet_hours IS NOT NULL
  OR n.digest_window_ms IS NOT NULL OR n.max_per_hour IS NOT NULL))`;

/** A delivery `d` of a snoozed channel `w` that has not gone out (tests excepted, digests not yet tried). */
const SNOOZED = (d: string, w: string) =>
  `coalesce(${w}.snoozed_until > now(), false) AND (
     (${d}.released_at IS NULL AND ${d}.event_type NOT IN ('channel.test', 'webhook.test'))
     OR (${d}.event_type = 'digest' AND ${d}.attempts = '[]'::jsonb))`;

/** Whether delivery `d` is an alert its channel `w`'s noise rules decide about (the others go out as they come). */
const NOISY = (d: string, w: string) =>
  `${d}.event_type = 'alert.created' AND (${w}.quiet_hours IS NOT NULL OR ${w}.digest_window_ms IS NOT NULL
   OR ${w}.max_per_hour IS NOT NULL)`;

/**
 * Takes up to `limit` due deliveries of enabled webhooks, at most `perWebhook` (less what this process already
 * holds of it, `$3`/`$4`) per webhook, oldest first, skipping rows another dispatcher holds, and leases them:
 * their next_attempt_at moves `$5` ms ahead, so a dispatcher that dies mid-send leaves them due again then.
 *
 * Per channel, from webhook_deliveries_channel_due_idx: the channels with a due row, one index probe each (a
 * loose index scan: channels with nothing pending cost nothing), then each one's oldest due rows. A window
 * over the queue's oldest rows instead let one slow channel's backlog fill it and starve every other channel.
 */
const CLAIM_SQL = `WITH RECURSIVE due_channels AS (
  (SELECT q.webhook_id FROM webhook_deliveries q
   WHERE q.status = 'pending' AND q.next_attempt_at <= now() ORDER BY q.webhook_id LIMIT 1)
  UNION ALL
  SELECT (SELECT q.webhook_id FROM webhook_deliveries q
          WHERE q.status = 'pending' AND q.next_attempt_at <= now() AND q.webhook_id > c.webhook_id
          ORDER BY q.webhook_id LIMIT 1)
  FROM due_channels c WHERE c.webhook_id IS NOT NULL
), due AS (
  SELECT q.id, q.next_attempt_at FROM due_channels c
  LEFT JOIN unnest($3::uuid[], $4::int[]) AS busy(webhook_id, n) ON busy.webhook_id = c.webhook_id
  CROSS JOIN LATERAL (
    SELECT q.id, q.next_attempt_at FROM webhook_deliveries q
    WHERE q.webhook_id = c.webhook_id AND q.status = 'pending' AND q.next_attempt_at <= now()
    ORDER BY q.next_attempt_at LIMIT greatest(0, $2 - coalesce(busy.n, 0))) q
  WHERE c.webhook_id IS NOT NULL
    -- A channel whose receiver asked for a pause (429 Retry-After) gets nothing before its end.
    AND NOT EXISTS (SELECT 1 FROM channels p WHERE p.id = c.webhook_id AND p.send_after > now())
), picked AS (
  -- The chosen few looked up by primary key (an array, so the planner cannot choose to hash-join them against
  -- every due row instead: at a backlog of 10,000 that was 10 of a 14 ms claim).
  SELECT d.id FROM webhook_deliveries d
  WHERE d.id = ANY (ARRAY(SELECT due.id FROM due ORDER BY due.next_attempt_at LIMIT $1))
    AND d.status = 'pending' AND d.next_attempt_at <= now()
  ORDER BY d.next_attempt_at
  LIMIT $1
  FOR UPDATE OF d SKIP LOCKED
)
UPDATE webhook_deliveries d SET next_attempt_at = now() + make_interval(secs => $5::double precision / 1000),
  released_at = CASE WHEN d.released_at IS NULL AND NOT (${NOISY('d', 'w')}) THEN now() ELSE d.released_at END
FROM picked, channels w
WHERE d.id = picked.id AND w.id = d.webhook_id AND w.enabled
  -- A snoozed channel's or a muted monitor's deliveries wait for suppressSnoozed (the next pass).
  AND NOT (${SNOOZED('d', 'w')}) AND NOT (d.released_at IS NULL AND ${MUTED('d')})
RETURNING d.id, d.webhook_id AS "webhookId", d.event_type AS "eventType", d.occurred_at AS "occurredAt",
  d.payload, jsonb_array_length(d.attempts) AS "attemptCount", w.url, w.format, w.secret,
  w.previous_secret AS "previousSecret", w.previous_secret_until AS "previousSecretUntil", w.config,
  w.quiet_hours AS "quietHours", w.digest_window_ms AS "digestWindowMs", w.max_per_hour AS "maxPerHour",
  d.released_at AS "releasedAt"`;

/** See WebhooksRepository.undecided. */
const UNDECIDED_SQL = `SELECT d.id, d.webhook_id AS "webhookId", w.format, w.quiet_hours AS "quietHours",
  w.digest_window_ms AS "digestWindowMs", w.max_per_hour AS "maxPerHour"
FROM webhook_deliveries d JOIN channels w ON w.id = d.webhook_id
WHERE ${ANY_NOISY} AND d.status = 'pending' AND d.next_attempt_at <= now() AND d.released_at IS NULL
  AND w.enabled AND ${NOISY('d', 'w')} AND NOT (${SNOOZED('d', 'w')}) AND NOT (${MUTED('d')})
ORDER BY d.next_attempt_at, d.id
LIMIT $1`;

/** An alert delivery waiting for its channel's noise rules, and those rules. */
export interface UndecidedDelivery {
  id: string;
  webhookId: string;
  format: WebhookFormat;
  quietHours: QuietHours | null;
  digestWindowMs: number | null;
  maxPerHour: number | null;
}

/** See WebhooksRepository.upkeepDue. */
const UPKEEP_DUE_SQL = `SELECT ${ANY_SNOOZED_OR_MUTED} AS "suppress",
  EXISTS (SELECT 1 FROM webhook_deliveries h WHERE h.status = 'held' AND h.next_attempt_at <= now()) AS "release",
  ${ANY_NOISY} AS "decide"`;

/** Which parts of the upkeep have anything to do now (WebhooksRepository.upkeepDue). */
export interface UpkeepDue {
  /** Some channel is snoozed or some monitor muted: suppressSnoozed may find deliveries. */
  suppress: boolean;
  /** Some hold has ended: releaseDueHolds has digests to make. */
  release: boolean;
  /** Some enabled channel has noise rules: undecided may find alerts. */
  decide: boolean;
}

/** See WebhooksRepository.suppressSnoozed. */
const SUPPRESS_SQL = `UPDATE webhook_deliveries d
SET status = 'suppressed', next_attempt_at = NULL,
  last_error = CASE WHEN ${SNOOZED('d', 'w')} THEN 'channel snoozed until ' || ${isoText('w.snoozed_until')}
    ELSE 'monitor muted' END
FROM channels w
WHERE ${ANY_SNOOZED_OR_MUTED} AND w.id = d.webhook_id AND d.status = 'pending' AND d.next_attempt_at <= now()
  AND ((${SNOOZED('d', 'w')}) OR (d.released_at IS NULL AND ${MUTED('d')}))
RETURNING w.format`;

/** Attempts written by one statement at most. */
const RECORD_BATCH = 500;

/**
 * How long the first attempt of a batch waits for the next ones before they are written together. At 1,000
 * deliveries/s, writing whenever no write was under way made a statement for every few attempts (each a round
 * trip the API pays in CPU); a few ms later is nothing to the delivery log, and the send's slot is already free.
 */
export const RECORD_GATHER_MS = 10;

/** The delivery was failed while its attempt was in flight (its channel disabled), and the attempt did not deliver it. */
const FAILED_MEANWHILE = `(d.status = 'failed' AND u.status <> 'delivered')`;

/**
 * Appends each attempt to its delivery's log and moves the delivery on (arrays of one element per attempt). One
 * failed meanwhile stays failed with its reason: a retry would leave it pending on a channel that takes none.
 */
const RECORD_SQL = `UPDATE webhook_deliveries d SET attempts = d.attempts || u.attempt,
  status = CASE WHEN ${FAILED_MEANWHILE} THEN 'failed' ELSE u.status END,
  next_attempt_at = CASE WHEN ${FAILED_MEANWHILE} THEN NULL ELSE u.next_attempt_at END,
  last_error = CASE WHEN ${FAILED_MEANWHILE} THEN d.last_error ELSE u.last_error END,
  last_status = u.last_status, delivered_at = CASE WHEN u.status = 'delivered' THEN now() END
FROM unnest($1::uuid[], $2::jsonb[], $3::varchar[], $4::timestamptz[], $5::int[], $6::text[])
  AS u(id, attempt, status, next_attempt_at, last_status, last_error)
WHERE d.id = u.id`;

/** What an attempt leads to. */
export interface AttemptOutcome {
  attempt: DeliveryAttempt;
  status: DeliveryStatus;
  /** When pending: the next attempt. */
  nextAttemptAt: Date | null;
}

export interface DeliveryPageFilter {
  webhookId: string;
  status?: DeliveryStatus;
  after?: { createdAt: Date; id: string };
  limit: number;
}

/**
 * Webhooks and their deliveries in Postgres. Signing secrets go in and come out in clear here and are stored
 * sealed (SecretBox); the entities this class returns carry them sealed.
 */
@Injectable()
export class WebhooksRepository {
  constructor(
    @InjectRepository(WebhookEntity) private readonly webhooks: Repository<WebhookEntity>,
    @InjectRepository(WebhookDeliveryEntity) private readonly deliveries: Repository<WebhookDeliveryEntity>,
    private readonly secrets: SecretBox,
  ) {}

  /** `values.secret` in clear: stored sealed. */
  insert(values: Omit<WebhookEntity, 'id' | 'createdAt' | 'updatedAt'>): Promise<WebhookEntity> {
    const seal = (value: string | null) => (value === null ? null : this.secrets.seal(value));
    return this.webhooks.save(
      this.webhooks.create({
        ...values,
        secret: seal(values.secret),
        previousSecret: seal(values.previousSecret),
      }),
    );
  }

  /** A new secret (in clear) for the webhook; the current one keeps signing until `previousUntil`. */
  rotateSecret(webhook: WebhookEntity, secret: string, previousUntil: Date): Promise<WebhookEntity> {
    return this.update(webhook, {
      secret: this.secrets.seal(secret),
      previousSecret: webhook.secret === null ? null : this.secrets.reseal(webhook.secret),
      previousSecretUntil: previousUntil,
    });
  }

  list(): Promise<WebhookEntity[]> {
    return this.webhooks.find({ order: { createdAt: 'ASC', id: 'ASC' } });
  }

  findById(id: string): Promise<WebhookEntity | null> {
    return this.webhooks.findOneBy({ id });
  }

  /**
   * Writes a change. Disabling fails the webhook's pending deliveries (a disabled webhook gets nothing; they
   * can be retried once it is enabled again), in the same transaction.
   */
  async update(webhook: WebhookEntity, change: Partial<WebhookEntity>): Promise<WebhookEntity> {
    return this.webhooks.manager.transaction(async (manager) => {
      await manager.update(WebhookEntity, { id: webhook.id }, change);
      if (change.enabled === false) await this.failPending(manager, webhook.id, 'the webhook was disabled');
      return manager.findOneByOrFail(WebhookEntity, { id: webhook.id });
    });
  }

  /** Deletes the webhook and (cascade) its deliveries; false when there was none. */
  async delete(id: string): Promise<boolean> {
    const result = await this.webhooks.delete({ id });
    return (result.affected ?? 0) > 0;
  }

  /** Queues one event of `pair` for every enabled webhook that wants it. Returns how many were queued. */
  async queueEvent(event: {
    type: WebhookEvent;
    id: string;
    pair: string;
    occurredAt: Date;
    data: Record<string, unknown>;
  }): Promise<number> {
    const rows = await this.deliveries.query<unknown[]>(QUEUE_EVENT_SQL, [
      event.type,
      event.id,
      event.occurredAt,
      event.pair,
      JSON.stringify(event.data),
    ]);
    return rows.length;
  }

  /** Queues an event for one webhook, whatever it subscribes to (a test). */
  async queueFor(
    webhookId: string,
    event: { type: WebhookEvent; id: string; occurredAt: Date; data: Record<string, unknown> },
  ): Promise<WebhookDeliveryEntity> {
    return this.deliveries.save(
      this.deliveries.create({
        webhookId,
        eventType: event.type,
        eventId: event.id,
        occurredAt: event.occurredAt,
        payload: event.data,
        nextAttemptAt: new Date(),
      }),
    );
  }

  /** Newest first, keyset-paginated on (created_at, id), which webhook_deliveries_log_idx serves in order. */
  page(filter: DeliveryPageFilter): Promise<WebhookDeliveryEntity[]> {
    const query = this.deliveries
      .createQueryBuilder('d')
      .where('d.webhook_id = :webhookId', { webhookId: filter.webhookId });
    if (filter.status) query.andWhere('d.status = :status', { status: filter.status });
    if (filter.after) {
      query.andWhere('(d.created_at, d.id) < (:afterAt, :afterId)', {
        afterAt: filter.after.createdAt,
        afterId: filter.after.id,
      });
    }
    return query.orderBy('d.created_at', 'DESC').addOrderBy('d.id', 'DESC').limit(filter.limit).getMany();
  }

  findDelivery(webhookId: string, id: string): Promise<WebhookDeliveryEntity | null> {
    return this.deliveries.findOneBy({ webhookId, id });
  }

  /** Makes a delivery pending and due now (one more attempt); false when it is gone. */
  async requeue(id: string): Promise<boolean> {
    const result = await this.deliveries.update({ id }, { status: 'pending', nextAttemptAt: new Date() });
    return (result.affected ?? 0) > 0;
  }

  /** See CLAIM_SQL. `busy`: webhook id → requests this process has in flight to it. */
  async claimDue(
    limit: number,
    perWebhook: number,
    busy: ReadonlyMap<string, number>,
    leaseMs: number,
  ): Promise<ClaimedDelivery[]> {
    const [rows] = await this.deliveries.query<[ClaimedDelivery[], number]>(CLAIM_SQL, [
      limit,
      perWebhook,
      [...busy.keys()],
      [...busy.values()],
      leaseMs,
    ]);
    const stale = new Map<string, ClaimedDelivery>();
    for (const row of rows) {
      if (
        (row.secret !== null && !this.secrets.isCurrent(row.secret)) ||
        (row.previousSecret && !this.secrets.isCurrent(row.previousSecret))
      )
        stale.set(row.webhookId, row);
    }
    if (stale.size > 0) await this.resealSecrets([...stale.values()]);
    return rows.map((row) => ({
      ...row,
      secret: row.secret === null ? null : this.open(row.secret),
      previousSecret: row.previousSecret === null ? null : this.open(row.previousSecret),
    }));
  }

  /**
   * Sealed secrets already opened, by their sealed text: a claim returns the channel's sealed secret with every
   * delivery, and opening it (AES-GCM) once per channel instead of once per delivery is enough. A sealed text
   * always opens to the same secret (a rotation writes a new sealed text); a handful of channels' worth kept.
   */
  private readonly opened = new Map<string, string>();

  private open(sealed: string): string {
    let plain = this.opened.get(sealed);
    if (plain === undefined) {
      plain = this.secrets.open(sealed);
      if (this.opened.size >= 1024) this.opened.clear();
      this.opened.set(sealed, plain);
    }
    return plain;
  }

  /**
   * The channel's receiver answered 429 with Retry-After (Telegram's `retry_after`): none of its deliveries is
   * taken for `pauseMs` from now (Postgres' clock, as the claim's). A longer pause already set stays.
   */
  async pauseChannel(webhookId: string, pauseMs: number): Promise<void> {
    await this.webhooks.query(
      `UPDATE channels SET send_after = greatest(send_after, now() + make_interval(secs => $2::double precision / 1000))
       WHERE id = $1`,
      [webhookId, pauseMs],
    );
  }

  /** Leaves taken deliveries unsent and due again at `at` (their channel was paused after they were taken). */
  async postpone(ids: readonly string[], at: Date): Promise<void> {
    await this.deliveries.query(
      `UPDATE webhook_deliveries SET next_attempt_at = $2 WHERE id = ANY ($1::uuid[]) AND status = 'pending'`,
      [ids, at],
    );
  }

  /** Seals again under SECRETS_KEY what a rotation of the key left under SECRETS_KEY_PREVIOUS, as rows are used. */
  private async resealSecrets(rows: readonly ClaimedDelivery[]): Promise<void> {
    for (const row of rows) {
      // Only where the row still holds what was read: a rotation in between wins.
      await this.webhooks.query(
        `UPDATE channels SET secret = $3, previous_secret = $5
         WHERE id = $1 AND secret IS NOT DISTINCT FROM $2 AND previous_secret IS NOT DISTINCT FROM $4`,
        [
          row.webhookId,
          row.secret,
          row.secret === null ? null : this.secrets.reseal(row.secret),
          row.previousSecret,
          row.previousSecret === null ? null : this.secrets.reseal(row.previousSecret),
        ],
      );
    }
  }

  /**
   * Appends an attempt to the log and moves the delivery on; resolves once that is committed. The attempts
   * recorded within RECORD_GATHER_MS of the first, or while a write is under way, go together in the next
   * write (one statement for all of them), so a busy dispatcher makes one round trip per batch rather than one
   * per few deliveries.
   */
  recordAttempt(id: string, outcome: AttemptOutcome): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.unrecorded.push({ id, outcome, resolve, reject });
      this.recording ??= new Promise<void>((gathered) => setTimeout(gathered, RECORD_GATHER_MS))
        .then(() => this.writeAttempts())
        .finally(() => {
          this.recording = undefined;
        });
    });
  }

  private readonly unrecorded: {
    id: string;
    outcome: AttemptOutcome;
    resolve: () => void;
    reject: (error: unknown) => void;
  }[] = [];
  private recording: Promise<void> | undefined;

  private async writeAttempts(): Promise<void> {
    while (this.unrecorded.length > 0) {
      const batch = this.unrecorded.splice(0, RECORD_BATCH);
      try {
        await this.deliveries.query(RECORD_SQL, [
          batch.map((b) => b.id),
          batch.map((b) => JSON.stringify([b.outcome.attempt])),
          batch.map((b) => b.outcome.status),
          batch.map((b) => b.outcome.nextAttemptAt),
          batch.map((b) => b.outcome.attempt.status),
          batch.map((b) => b.outcome.attempt.error),
        ]);
        for (const b of batch) b.resolve();
      } catch (error) {
        for (const b of batch) b.reject(error);
      }
    }
  }

  /** Disables a channel with a reason and fails its pending and held deliveries (logged, never left waiting). */
  async disable(webhookId: string, reason: string): Promise<void> {
    await this.webhooks.manager.transaction(async (manager) => {
      await manager.update(WebhookEntity, { id: webhookId }, { enabled: false, disabledReason: reason });
      await this.failPending(manager, webhookId, 'the webhook was disabled');
    });
  }

  /** Deletes delivered and failed deliveries created before `before`; returns how many. */
  async deleteFinishedBefore(before: Date, limit = 10_000): Promise<number> {
    const [, affected] = await this.deliveries.query<[unknown, number]>(
      `DELETE FROM webhook_deliveries WHERE id IN (
         SELECT id FROM webhook_deliveries WHERE status <> 'pending' AND created_at < $1 LIMIT $2)`,
      [before, limit],
    );
    return affected;
  }

  /** Pending deliveries (the queue's depth). */
  countPending(): Promise<number> {
    return this.deliveries.countBy({ status: 'pending' });
  }

  /** The channels of these formats, oldest first. */
  listOf(formats: readonly WebhookFormat[]): Promise<WebhookEntity[]> {
    return this.webhooks.find({
      where: { format: In([...formats]) },
      order: { createdAt: 'ASC', id: 'ASC' },
    });
  }

  /**
   * Which of the upkeep's statements can find anything now, in one round trip (each part's own statement
   * starts with the same test): with no snooze, mute, ended hold or noise rule, a pass of the upkeep is this
   * one statement instead of five round trips.
   */
  async upkeepDue(): Promise<UpkeepDue> {
    const [row] = await this.deliveries.query<UpkeepDue[]>(UPKEEP_DUE_SQL);
    return { suppress: row.suppress === true, release: row.release === true, decide: row.decide === true };
  }

  /**
   * Due deliveries that are not to go out are logged `suppressed` instead of sent: a snoozed channel's not yet
   * let go (tests excepted) and its digests not yet tried; a muted monitor's alerts. Returns how many.
   */
  async suppressSnoozed(): Promise<Map<WebhookFormat, number>> {
    const [rows] = await this.deliveries.query<[{ format: WebhookFormat }[], number]>(SUPPRESS_SQL);
    const byFormat = new Map<WebhookFormat, number>();
    for (const row of rows) byFormat.set(row.format, (byFormat.get(row.format) ?? 0) + 1);
    return byFormat;
  }

  /**
   * Due alert deliveries that their channel's noise rules have not decided about yet (oldest first), with the
   * channel's rules: decided in bulk by the dispatcher before it claims anything to send, so a burst is decided
   * as it arrives and not a few per channel per pass at the pace of the sends. Snoozed channels' and muted
   * monitors' are left to suppressSnoozed.
   */
  undecided(limit: number): Promise<UndecidedDelivery[]> {
    return this.deliveries.query<UndecidedDelivery[]>(UNDECIDED_SQL, [limit]);
  }

  /**
   * Asks the channel's noise rules about alerts just claimed (`released_at` null): under a per-channel advisory
   * lock (so two replicas deciding for one channel count its hour and join its digest together), `plan` says
   * for each, in order, whether it goes now or is held until when. Returns the ids to send now.
   */
  async decideNoise(
    webhookId: string,
    ids: readonly string[],
    hourStart: Date,
    plan: (state: {
      openHoldUntil: Date | null;
      releasedThisHour: number;
    }) => { action: 'send' } | { action: 'hold'; until: Date },
  ): Promise<string[]> {
    return this.deliveries.manager.transaction(async (manager) => {
      await manager.query(`SELECT pg_advisory_xact_lock(hashtext('pairwatch:channel-noise:' || $1))`, [
        webhookId,
      ]);
      // Only those still undecided (another replica may have decided some between their reading and this lock).
      const undecided = await manager.query<{ id: string }[]>(
        `SELECT id FROM webhook_deliveries WHERE id = ANY ($1::uuid[]) AND status = 'pending' AND released_at IS NULL`,
        [ids],
      );
      const open = new Set(undecided.map((r) => r.id));
      const [state] = await manager.query<{ open: Date | null; released: number }[]>(
        `SELECT (SELECT max(next_attempt_at) FROM webhook_deliveries WHERE webhook_id = $1 AND status = 'held') AS open,
                (SELECT count(*)::int FROM webhook_deliveries WHERE webhook_id = $1 AND released_at >= $2) AS released`,
        [webhookId, hourStart],
      );
      let openHoldUntil = state.open === null ? null : new Date(state.open);
      let releasedThisHour = state.released;
      const send: string[] = [];
      const held: { id: string; until: Date }[] = [];
      for (const id of ids) {
        if (!open.has(id)) continue;
        const decision = plan({ openHoldUntil, releasedThisHour });
        if (decision.action === 'send') {
          send.push(id);
          releasedThisHour += 1;
        } else {
          held.push({ id, until: decision.until });
          if (openHoldUntil === null || decision.until.getTime() > openHoldUntil.getTime())
            openHoldUntil = decision.until;
        }
      }
      if (send.length)
        await manager.query(`UPDATE webhook_deliveries SET released_at = now() WHERE id = ANY ($1::uuid[])`, [
          send,
        ]);
      if (held.length)
        await manager.query(
          `UPDATE webhook_deliveries d SET status = 'held', next_attempt_at = u.until
           FROM unnest($1::uuid[], $2::timestamptz[]) AS u(id, until) WHERE d.id = u.id AND d.status = 'pending'`,
          [held.map((h) => h.id), held.map((h) => h.until)],
        );
      return send;
    });
  }

  /**
   * Held deliveries whose hold has ended go out: per channel, one digest delivery carrying them (at most
   * CHANNEL_LIMITS.digestAlerts each), written with their move to `digested` in one transaction. Rows another
   * replica is releasing are skipped. Returns the digests made.
   */
  async releaseDueHolds(limit = 4 * CHANNEL_LIMITS.digestAlerts): Promise<number> {
    return this.deliveries.manager.transaction(async (manager) => {
      const rows = await manager.query<
        { id: string; webhook_id: string; payload: Record<string, unknown> }[]
      >(
        `SELECT id, webhook_id, payload FROM webhook_deliveries
         WHERE status = 'held' AND next_attempt_at <= now()
         ORDER BY webhook_id, created_at, id LIMIT $1 FOR UPDATE SKIP LOCKED`,
        [limit],
      );
      const byChannel = new Map<string, typeof rows>();
      for (const row of rows) byChannel.set(row.webhook_id, [...(byChannel.get(row.webhook_id) ?? []), row]);
      // The limit may have cut the last channel's held rows: leave them all to the next pass (which starts with
      // them), so its alerts go out in as few digests as one release makes. When one channel alone fills the
      // limit, its digests are whole ones (the limit is a multiple of their size), the rest in the next pass.
      if (rows.length === limit && byChannel.size > 1) byChannel.delete(rows[rows.length - 1].webhook_id);
      let made = 0;
      for (const [webhookId, held] of byChannel) {
        for (let i = 0; i < held.length; i += CHANNEL_LIMITS.digestAlerts) {
          const part = held.slice(i, i + CHANNEL_LIMITS.digestAlerts);
          const [digest] = await manager.query<{ id: string }[]>(
            `INSERT INTO webhook_deliveries (webhook_id, event_type, event_id, occurred_at, payload, next_attempt_at, released_at)
             VALUES ($1, 'digest', gen_random_uuid()::text, now(), $2::jsonb, now(), now()) RETURNING id`,
            [webhookId, JSON.stringify({ count: part.length, alerts: part.map((r) => r.payload) })],
          );
          await manager.query(
            `UPDATE webhook_deliveries SET status = 'digested', digest_id = $2, next_attempt_at = NULL
             WHERE id = ANY ($1::uuid[])`,
            [part.map((r) => r.id), digest.id],
          );
          made += 1;
        }
      }
      return made;
    });
  }

  /** Whether an enabled channel of this type exists (the dispatcher readies the type's transport then). */
  async hasEnabled(format: WebhookFormat): Promise<boolean> {
    return this.webhooks.exists({ where: { format, enabled: true } });
  }

  /** Sets or lifts (null) a channel's snooze. */
  async snooze(webhookId: string, until: Date | null): Promise<WebhookEntity> {
    await this.webhooks.update({ id: webhookId }, { snoozedUntil: until });
    return this.webhooks.findOneByOrFail({ id: webhookId });
  }

  private async failPending(manager: EntityManager, webhookId: string, reason: string): Promise<void> {
    await manager.query(
      `UPDATE webhook_deliveries SET status = 'failed', next_attempt_at = NULL, last_error = $2
       WHERE webhook_id = $1 AND status IN ('pending', 'held')`,
      [webhookId, reason],
    );
  }
}
