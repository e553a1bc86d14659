import { randomUUID } from 'node:crypto';
import Redis, { Cluster, RedisOptions, ReplyError } from 'ioredis';
import type { Logger } from 'pino';
import {
  ALERT_EVENT_FIELD,
  ALERTS_STREAM,
  AlertEvent,
  alertSentKey,
  closingOnPurpose,
  alertEventSchema,
  alertsChannel,
  DEFAULT_MAX_PENDING_ALERTS,
  DEFAULT_PRICE_HISTORY_MS,
  encodePriceTick,
  encodeRuleState,
  encodeWorkerState,
  parseRuleStates,
  PRICE_TICK_FIELD,
  PriceTick,
  ReplayTick,
  RuleFiring,
  RuleState,
  ruleStateKey,
  TICK_EVENT_FIELD,
  TickEvent,
  tickEventJson,
  TICKS_STREAM,
  priceStreamCap,
  priceStreamTtlMs,
  readPriceTick,
  redisClientPlan,
  RedisMode,
  RedisSettings,
  reviveWhenEnded,
  tickAtOrAfter,
  WorkerSettings,
  workerPricesKey,
  workerSnapshotKey,
  WorkerState,
  workerStateKey,
} from '@pairwatch/contracts';
import { TIMED_OUT, withTimeout } from './clock';

/** One Redis command, as ioredis' `multi([...])` takes it. */
export type RedisCommand = [name: string, ...args: Array<string | number>];

/**
 * The slice of Redis the publisher needs: run commands in one MULTI/EXEC. Rejects when the transaction
 * did not run, or when any command in it failed. {@link IoRedisTransactions} is the real one.
 */
export interface RedisTransactions {
  multiExec(commands: RedisCommand[]): Promise<void>;
  /**
   * Runs the commands at most once per `marker`: in one atomic step (a Lua script) unless the marker key exists,
   * setting it (PX `markerTtlMs`) with them. Resolves true when they ran, false when an earlier call with the same
   * marker's had (its answer lost). Rejects as {@link multiExec} does; with {@link OutcomeUnknownError} when the
   * call may have run nonetheless (the command was sent, its answer never read).
   */
  execOnce(marker: string, markerTtlMs: number, commands: RedisCommand[]): Promise<boolean>;
  /** HGETALL key: a hash's fields and values ({} when there is none). */
  hgetall(key: string): Promise<Record<string, string>>;
  /** GET key: a string's value (null when there is none). */
  get(key: string): Promise<string | null>;
  /**
   * A page of a recent-tick stream: at most `count` entries from `start` on (an id, or `(id` for the entries after
   * it), as XRANGE key start + COUNT count lists them (see {@link TickStreamPage}).
   */
  readTickPage(key: string, start: string, count: number): Promise<TickStreamPage>;
  /**
   * {@link execOnce}, then WAIT for `replicas` replicas (at most `timeoutMs`), on the same connection (in cluster
   * mode, the node that ran the script). Resolves with whether the commands ran, how many replicas acknowledged
   * the connection's writes and how many the master had connected then (ROLE); rejects as {@link execOnce} does.
   * A call that finds the marker still WAITs: for the earlier write's replication.
   */
  execOnceWait(
    marker: string,
    markerTtlMs: number,
    commands: RedisCommand[],
    replicas: number,
    timeoutMs: number,
  ): Promise<Replication & { ran: boolean }>;
  /** Closes the connection politely (QUIT), giving up after `timeoutMs`. */
  close(timeoutMs: number): Promise<void>;
}

/**
 * A send that may have run although it failed: the command went out, its answer was never read (ioredis' command
 * timeout fired, as it does on an event loop starved for longer than it, or the connection was cut). Any other
 * failure is known not to have run: Redis refused it (a ReplyError), or nothing was sent (not connected).
 */
export class OutcomeUnknownError extends Error {
  constructor(cause: unknown) {
    super(`outcome unknown: ${describeError(cause)}`);
    this.name = 'OutcomeUnknownError';
  }
}

/** How long an alert's sent marker (alertSentKey) lives: far longer than any re-send of its alert comes after. */
export const SENT_MARKER_TTL_MS = 24 * 60 * 60 * 1000;

/**
 * {@link RedisTransactions.execOnce}'s script. KEYS[1]: the marker; KEYS[2..]: the keys the commands write
 * (declared, for Cluster); ARGV[1]: the marker's TTL (ms); ARGV[2]: the commands, as a JSON array of arrays. The
 * marker is set last: a command that fails stops the script before it, so the send is not taken for done.
 */
const EXEC_ONCE_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
for _, command in ipairs(cjson.decode(ARGV[2])) do redis.call(unpack(command)) end
redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
return 1`;

/**
 * A page of a recent-tick stream as {@link RedisTransactions.readTickPage} answers it: how many entries it holds and
 * the last one's id (where the next page starts), and either `values` — every entry is one {@link PRICE_TICK_FIELD}
 * field (as workers write them) and these are their values in order, joined by a line feed (no value holds one) —
 * or, when some entry is not like that (format 1, a hand-made entry), the `entries` as XRANGE gives them.
 */
export type TickStreamPage =
  | { count: number; lastId: string; values: string }
  | { count: number; lastId: string; entries: Array<[id: string, fields: string[]]> };

/**
 * {@link RedisTransactions.readTickPage} in one step on the server. KEYS[1]: the stream; ARGV[1]: the start id;
 * ARGV[2]: the page's size. Answers {count, last id, the values joined by "\n"}, or {count, last id, false, the
 * entries} when some entry is not a single `tick` field or its value holds a line feed. One bulk string instead of
 * five replies an entry: a starting worker at a quarter CPU spent more time on parsing 3,600 XRANGE entries than
 * on anything else it does before its first tick but the replay itself.
 */
const TICK_PAGE_SCRIPT = `
local page = redis.call('XRANGE', KEYS[1], ARGV[1], '+', 'COUNT', ARGV[2])
local n = #page
if n == 0 then return {0, '', ''} end
local values = {}
for i = 1, n do
  local fields = page[i][2]
  if #fields ~= 2 or fields[1] ~= '${PRICE_TICK_FIELD}' or string.find(fields[2], '\\n', 1, true) then
    return {n, page[n][1], false, page}
  end
  values[i] = fields[2]
end
return {n, page[n][1], table.concat(values, '\\n')}`;

/** EVAL's arguments after the script for {@link EXEC_ONCE_SCRIPT}. */
function execOnceArgs(
  marker: string,
  markerTtlMs: number,
  commands: RedisCommand[],
): [numKeys: number, ...rest: Array<string | number>] {
  const keys = [
    ...new Set(commands.filter(([name]) => !name.endsWith('publish')).map(([, key]) => String(key))),
  ];
  return [1 + keys.length, marker, ...keys, markerTtlMs, JSON.stringify(commands)];
}

/** What WAIT (and ROLE) answered after a MULTI. */
export interface Replication {
  acknowledged: number;
  connected: number;
}

/**
 * The part of the worker's state hash (libs/contracts: WorkerState) that the tick handler keeps; the publisher
 * adds its own counters, the pid and the start time when it writes the hash.
 */
export type TickState = Pick<
  WorkerState,
  'status' | 'lastTickAt' | 'lastPrice' | 'referencePrice' | 'consecutiveErrors' | 'lastError'
>;

export type PublishOutcome =
  /** on Redis, with everything queued before it */
  | { kind: 'sent'; event: AlertEvent }
  /** Redis failed: kept in memory, sent before the next event once Redis answers again */
  | { kind: 'queued'; event: AlertEvent; pending: number }
  /** the event does not pass the schema (a bug); it was logged in full, since it cannot be sent */
  | { kind: 'invalid'; error: string };

export interface AlertPublisherOptions {
  settings: Pick<WorkerSettings, 'monitorId' | 'pair' | 'intervalMs' | 'stateTtlMs'> &
    Partial<Pick<WorkerSettings, 'priceHistoryMs'>>;
  /**
   * Redis' mode (the live channel is sharded in cluster mode) and REDIS_WAIT_REPLICAS: an alert leaves the
   * queue once that many replicas have it. Standalone without WAIT when absent.
   */
  redis?: Pick<RedisSettings, 'mode' | 'waitReplicas'>;
  /** How long one WAIT may take before the alert counts as not confirmed (and is sent again). */
  waitTimeoutMs?: number;
  logger: Logger;
  /** How many undelivered events are kept; past it the oldest is dropped (and logged). */
  maxPending?: number;
  /** How many undelivered tick events are kept; past it the oldest is dropped (and counted). */
  maxPendingTicks?: number;
  newId?: () => string;
  startedAt?: Date;
  /** Entries read per XRANGE when the stored ticks are replayed ({@link REPLAY_PAGE_ENTRIES} by default). */
  replayPageEntries?: number;
}

export const DEFAULT_MAX_PENDING = DEFAULT_MAX_PENDING_ALERTS;
/** Tick events kept while Redis is unavailable (a few MB; at 1 s, close to three hours of ticks). */
export const DEFAULT_MAX_PENDING_TICKS = 10_000;
/**
 * Stored ticks read per XRANGE on start. A day at 1 s is 86,400 entries: read at once (and parsed) that took more
 * than the worker's 1 s command timeout at a quarter CPU, and the replay was lost. A page of 1,000 is a few
 * milliseconds of Redis and of parsing, far within it.
 */
export const REPLAY_PAGE_ENTRIES = 1000;
/** Tick events sent in one MULTI at most, when a backlog is flushed. */
export const TICK_FLUSH_BATCH = 500;

/** The publisher's options for a worker's settings: the queue bound comes from MAX_PENDING_ALERTS. */
export function publisherOptions(
  settings: AlertPublisherOptions['settings'] & Pick<WorkerSettings, 'maxPendingAlerts' | 'redis'>,
  logger: Logger,
): AlertPublisherOptions {
  return { settings, logger, maxPending: settings.maxPendingAlerts, redis: settings.redis };
}

/** The default of {@link AlertPublisherOptions.waitTimeoutMs}. */
export const DEFAULT_WAIT_TIMEOUT_MS = 500;

/**
 * The one class facing Redis. Publishes alerts (XADD to the stream, the durable path, and PUBLISH on
 * the pair's channel, the live path, in one MULTI) and reports the worker's state.
 *
 * Alerts are never dropped silently: when Redis fails, events wait in a bounded in-memory queue and are
 * flushed, in order, before any newer one; whatever cannot be delivered in the end is logged in full.
 */
export class AlertPublisher {
  private readonly queue: AlertEvent[] = [];
  /** The rule state each queued alert records (rule-state.ts), written in the alert's MULTI. */
  private readonly firingStates = new WeakMap<AlertEvent, string>();
  private readonly maxPending: number;
  /** Tick events for the archive not on Redis yet, oldest first (as JSON text, boxed: each its own identity). */
  private readonly ticks: { json: string }[] = [];
  private readonly maxPendingTicks: number;
  private ticksSent = 0;
  private ticksDropped = 0;
  private readonly newId: () => string;
  private readonly logger: Logger;
  private readonly startedAt: string;
  private flushing: Promise<boolean> | undefined;
  /**
   * The queue's head when its last send failed with an unknown outcome: it may be on Redis already, so a full
   * queue does not drop it (it would be counted dropped, and be stored); its re-send is written at most once.
   */
  private inDoubt: AlertEvent | undefined;
  private redisFailing = false;
  private sentCount = 0;
  private droppedCount = 0;
  private unreplicatedCount = 0;
  /** Whether the last alert sent reached REDIS_WAIT_REPLICAS replicas (undefined: WAIT is off). */
  private replicated: boolean | undefined;
  private readonly waitReplicas: number;
  private readonly waitTimeoutMs: number;
  private readonly mode: RedisMode;

  constructor(
    private readonly redis: RedisTransactions,
    private readonly options: AlertPublisherOptions,
  ) {
    this.maxPending = options.maxPending ?? DEFAULT_MAX_PENDING;
    this.maxPendingTicks = options.maxPendingTicks ?? DEFAULT_MAX_PENDING_TICKS;
    this.newId = options.newId ?? randomUUID;
    this.logger = options.logger;
    this.startedAt = (options.startedAt ?? new Date()).toISOString();
    this.mode = options.redis?.mode ?? 'standalone';
    this.waitReplicas = options.redis?.waitReplicas ?? 0;
    this.waitTimeoutMs = options.waitTimeoutMs ?? DEFAULT_WAIT_TIMEOUT_MS;
    if (this.waitReplicas > 0) this.replicated = true;
  }

  /** Events waiting for Redis. */
  get pending(): number {
    return this.queue.length;
  }

  get stats(): { sent: number; pending: number; dropped: number; unreplicated: number } {
    return {
      sent: this.sentCount,
      pending: this.queue.length,
      dropped: this.droppedCount,
      unreplicated: this.unreplicatedCount,
    };
  }

  /** The tick events for the archive: sent, waiting for Redis, dropped from a full queue. */
  get tickStats(): { ticksSent: number; ticksPending: number; ticksDropped: number } {
    return { ticksSent: this.ticksSent, ticksPending: this.ticks.length, ticksDropped: this.ticksDropped };
  }

  /** Builds the event for a rule's firing seen at `observedAtMs`; throws if it breaks the schema. */
  buildEvent(firing: RuleFiring, observedAtMs: number): AlertEvent {
    const { monitorId, pair, intervalMs } = this.options.settings;
    return alertEventSchema.parse({
      id: this.newId(),
      monitorId,
      pair,
      ruleId: firing.ruleId,
      kind: firing.kind,
      details: firing.details,
      direction: firing.direction,
      priceField: firing.priceField,
      referencePrice: firing.referencePrice,
      price: firing.price,
      changePercent: firing.changePercent,
      thresholdPercent: firing.thresholdPercent,
      intervalMs,
      observedAt: new Date(observedAtMs).toISOString(),
    });
  }

  /**
   * Sends one alert after any still queued. With `ruleState` (its rule's fires counting this one, and the quote),
   * that is written to the monitor's rule state in the same MULTI as the alert. Never throws.
   */
  async publish(firing: RuleFiring, observedAtMs: number, ruleState?: RuleState): Promise<PublishOutcome> {
    let event: AlertEvent;
    try {
      event = this.buildEvent(firing, observedAtMs);
    } catch (error) {
      const message = describeError(error);
      this.logger.error({ firing, observedAtMs, err: message }, 'alert event fails its schema; not sent');
      return { kind: 'invalid', error: message };
    }
    if (ruleState) this.firingStates.set(event, encodeRuleState(ruleState));
    this.enqueue(event);
    await this.flush();
    return this.queue.includes(event)
      ? { kind: 'queued', event, pending: this.queue.length }
      : { kind: 'sent', event };
  }

  /**
   * The monitor's rule state as its workers recorded it with their alerts (rule-state.ts), by rule id; fields that
   * break the schema are logged and left out. Rejects when Redis cannot answer: a worker must not guess it.
   */
  async ruleStates(): Promise<Record<string, RuleState>> {
    const hash = await this.redis.hgetall(ruleStateKey(this.options.settings.monitorId));
    const { states, problems } = parseRuleStates(hash ?? {});
    if (problems.length > 0)
      this.logger.warn({ problems }, 'rule state fields ignored (they break the schema)');
    return states;
  }

  /**
   * The rule snapshot this monitor's last worker wrote (rule-snapshot.ts), or null: none, or Redis cannot answer
   * (the replay then reads every stored tick, as without a snapshot). Never throws.
   */
  async ruleSnapshot(): Promise<string | null> {
    try {
      return await this.redis.get(workerSnapshotKey(this.options.settings.monitorId));
    } catch (error) {
      this.logger.warn(
        { err: describeError(error) },
        'could not read the rule snapshot; replaying every stored tick',
      );
      return null;
    }
  }

  /**
   * The ticks this monitor's workers stored at or after `sinceMs` (its recent-tick stream), oldest first, for a
   * replay on start. Read in pages of `replayPageEntries` (each page after the last id of the one before; a page is
   * one reply holding the entries' values, readTickPage), each value read as it comes with the API's fast reader
   * (readPriceTick) and dropped: only the compact ticks are kept. Entries that break the schema move no state: they
   * are skipped, counted and logged once. Never throws: Redis down (at any page) means nothing to replay, as a part
   * of the stream would be a wrong state.
   */
  async recentTicks(sinceMs: number): Promise<ReplayTick[]> {
    const key = workerPricesKey(this.options.settings.monitorId);
    const pageEntries = this.options.replayPageEntries ?? REPLAY_PAGE_ENTRIES;
    const sinceIso = new Date(sinceMs).toISOString();
    const ticks: ReplayTick[] = [];
    let skipped = 0;
    let firstProblem: string | undefined;
    const take = (fields: readonly string[]): void => {
      const read = readPriceTick(fields);
      const tick = read.ok ? replayTickOf(read.json, read.at) : undefined;
      if (!read.ok || !tick) {
        skipped += 1;
        firstProblem ??= read.ok ? 'tick: unreadable prices' : read.error;
        return;
      }
      if (tickAtOrAfter(read.at, sinceIso)) ticks.push(tick);
    };
    // Stream ids start with the time the entry was added; the tick's own `at` decides below.
    let start = String(Math.max(0, sinceMs - 60_000));
    for (let pages = 0; ; pages += 1) {
      let page: TickStreamPage;
      try {
        page = await this.redis.readTickPage(key, start, pageEntries);
      } catch (error) {
        this.logger.warn(
          { err: describeError(error), pagesRead: pages, pageEntries },
          'could not read the stored ticks to replay; starting without',
        );
        return [];
      }
      if ('values' in page) {
        const { values } = page;
        for (let i = 0, from = 0; i < page.count; i++) {
          const end = values.indexOf('\n', from);
          const to = end < 0 ? values.length : end;
          take([PRICE_TICK_FIELD, values.slice(from, to)]);
          from = to + 1;
        }
      } else {
        for (const [, fields] of page.entries) take(fields);
      }
      if (page.count < pageEntries) break;
      start = `(${page.lastId}`;
    }
    if (skipped > 0) {
      this.logger.warn(
        { skipped, firstProblem },
        'stored ticks skipped in the replay (they break the schema); they move no state',
      );
    }
    return ticks;
  }

  /**
   * Sends queued events, oldest first, stopping at the first failure. Resolves true when the queue is
   * empty. Calls made while a flush runs share it.
   */
  flush(): Promise<boolean> {
    this.flushing ??= this.drain().finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  /**
   * Writes the worker's state hash and renews its TTL, in one MULTI; with the tick's quote, appends it to the
   * price stream in the same MULTI (trimmed to an exact length: PRICE_HISTORY_MS over the interval, and
   * given a TTL so the stream of a removed monitor expires). Never throws; false on failure.
   *
   * The tick also becomes a tick event for the archive (libs/contracts: tick-event.ts), appended to the ticks
   * stream in a MULTI of its own (one key, so one slot on a cluster), after any still waiting: kept in a bounded
   * queue while Redis fails, so the archive gets every tick at least once.
   */
  async reportState(state: TickState, tick?: PriceTick, snapshot?: string): Promise<boolean> {
    if (tick) this.enqueueTick(tick);
    const stored = await this.writeState(state, tick, snapshot);
    if (stored && this.ticks.length > 0) await this.flushTicks();
    return stored;
  }

  private async writeState(state: TickState, tick?: PriceTick, snapshot?: string): Promise<boolean> {
    const { monitorId, stateTtlMs, intervalMs } = this.options.settings;
    const historyMs = this.options.settings.priceHistoryMs ?? DEFAULT_PRICE_HISTORY_MS;
    const key = workerStateKey(monitorId);
    const fields = encodeWorkerState({
      ...state,
      pendingAlerts: this.queue.length,
      alertsSent: this.sentCount,
      droppedAlerts: this.droppedCount,
      unreplicatedAlerts: this.unreplicatedCount,
      replication: this.replicated === undefined ? 'off' : this.replicated ? 'confirmed' : 'short',
      pid: process.pid,
      startedAt: this.startedAt,
    });
    const commands: RedisCommand[] = [
      ['hset', key, ...Object.entries(fields).flat()],
      ['pexpire', key, stateTtlMs],
    ];
    if (tick) {
      const prices = workerPricesKey(monitorId);
      commands.push(
        ['xadd', prices, 'MAXLEN', '=', priceStreamCap(intervalMs, historyMs), '*', ...encodePriceTick(tick)],
        ['pexpire', prices, priceStreamTtlMs(historyMs, stateTtlMs)],
      );
    }
    if (snapshot !== undefined) {
      commands.push([
        'set',
        workerSnapshotKey(monitorId),
        snapshot,
        'PX',
        priceStreamTtlMs(historyMs, stateTtlMs),
      ]);
    }
    try {
      await this.redis.multiExec(commands);
      this.markRedis(true);
      return true;
    } catch (error) {
      this.markRedis(false, error);
      return false;
    }
  }

  /**
   * Last flush, then QUIT, all within about `timeoutMs`. Whatever is still queued afterwards cannot be
   * delivered: see {@link logUndelivered}.
   */
  async close(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    if (this.queue.length > 0) await withTimeout(this.flush(), timeoutMs / 2);
    if (this.ticks.length > 0) await withTimeout(this.flushTicks(), timeoutMs / 4);
    this.logUndelivered('Redis unavailable at shutdown');
    await this.redis.close(Math.max(50, deadline - Date.now()));
  }

  /**
   * Empties the queue into the log: each undelivered event in full, at error level, so it can be
   * recovered from there. Synchronous, for last-moment exits. Returns how many there were.
   */
  logUndelivered(reason: string): number {
    const undelivered = this.queue.splice(0);
    for (const event of undelivered) this.logger.error({ event, reason }, 'alert not delivered');
    const ticks = this.ticks.splice(0);
    if (ticks.length > 0) {
      this.logger.error(
        { ticks: ticks.length, first: ticks[0].json, last: ticks[ticks.length - 1].json, reason },
        'tick events not delivered to the archive',
      );
    }
    return undelivered.length;
  }

  private enqueueTick(tick: PriceTick): void {
    const { monitorId, pair } = this.options.settings;
    const event: TickEvent = { monitorId, pair, at: tick.at, ask: tick.ask, bid: tick.bid };
    this.ticks.push({ json: tickEventJson(event) });
    if (this.ticks.length > this.maxPendingTicks) {
      const dropped = this.ticks.splice(0, this.ticks.length - this.maxPendingTicks);
      this.ticksDropped += dropped.length;
      this.logger.warn(
        { dropped: this.ticksDropped, maxPendingTicks: this.maxPendingTicks },
        'tick queue full while Redis is unavailable: dropped the oldest tick event',
      );
    }
  }

  /** Sends waiting tick events, oldest first, {@link TICK_FLUSH_BATCH} to a MULTI; stops at the first failure. */
  private async flushTicks(): Promise<void> {
    while (this.ticks.length > 0) {
      const batch = this.ticks.slice(0, TICK_FLUSH_BATCH);
      try {
        await this.redis.multiExec(
          batch.map(({ json }): RedisCommand => ['xadd', TICKS_STREAM, '*', TICK_EVENT_FIELD, json]),
        );
      } catch (error) {
        this.markRedis(false, error);
        return;
      }
      // The queue may have dropped its head while we awaited (only ever its head): what was sent leads it.
      const sent = new Set(batch);
      let count = 0;
      while (count < this.ticks.length && sent.has(this.ticks[count])) count += 1;
      this.ticks.splice(0, count);
      this.ticksSent += batch.length;
    }
  }

  private enqueue(event: AlertEvent): void {
    this.queue.push(event);
    while (this.queue.length > this.maxPending) {
      // The oldest, unless that one's send may have run (then the next: only the head is ever sent).
      const [dropped] = this.queue.splice(this.queue[0] === this.inDoubt ? 1 : 0, 1);
      this.droppedCount += 1;
      this.logger.warn(
        { event: dropped, dropped: this.droppedCount, maxPending: this.maxPending },
        'alert queue full while Redis is unavailable: dropped the oldest alert',
      );
    }
  }

  private async drain(): Promise<boolean> {
    const channel = alertsChannel(this.options.settings.pair);
    // Cluster: a sharded channel, on the shard of the stream (same hash tag), so it stays in the MULTI's slot.
    const publish = this.mode === 'cluster' ? 'spublish' : 'publish';
    while (this.queue.length > 0) {
      const event = this.queue[0];
      const json = JSON.stringify(event);
      const commands: RedisCommand[] = [
        ['xadd', ALERTS_STREAM, '*', ALERT_EVENT_FIELD, json],
        [publish, channel, json],
      ];
      // The rule's fires and last fire, as absolute values: counted exactly when the alert is on the stream (same
      // slot, one MULTI), and an alert sent again writes the same again.
      const ruleState = this.firingStates.get(event);
      if (ruleState !== undefined) {
        commands.push(['hset', ruleStateKey(this.options.settings.monitorId), event.ruleId, ruleState]);
      }
      // At most once on the stream: a send whose answer was lost may have run, and is sent again (by us, or by
      // ioredis after a reconnection); the alert's marker, set with its entry, makes that re-send write nothing.
      const marker = alertSentKey(event.id);
      let ran: boolean;
      try {
        if (this.waitReplicas === 0) {
          ran = await this.redis.execOnce(marker, SENT_MARKER_TTL_MS, commands);
        } else {
          const replication = await this.redis.execOnceWait(
            marker,
            SENT_MARKER_TTL_MS,
            commands,
            this.waitReplicas,
            this.waitTimeoutMs,
          );
          ran = replication.ran;
          if (!this.replicatedEnough(event, replication)) return false;
        }
      } catch (error) {
        if (error instanceof OutcomeUnknownError && this.inDoubt !== event) {
          this.inDoubt = event;
          this.logger.warn(
            { eventId: event.id, err: error.message },
            'alert send outcome unknown: kept (a full queue drops the next oldest), sent again at most once',
          );
        }
        this.markRedis(false, error);
        this.logger.debug(
          { pending: this.queue.length, eventId: event.id, outcomeUnknown: this.inDoubt === event },
          'alert kept in memory until Redis is back',
        );
        return false;
      }
      if (!ran) {
        this.logger.info(
          { eventId: event.id },
          'alert already on Redis (an earlier send ran, its answer was lost): not written again',
        );
      }
      if (this.inDoubt === event) this.inDoubt = undefined;
      // The head may have been dropped by enqueue() while we awaited; only remove what was sent.
      if (this.queue[0] === event) this.queue.shift();
      this.sentCount += 1;
      this.markRedis(true);
    }
    return true;
  }

  /**
   * After WAIT: true when the alert may leave the queue. Confirmed by enough replicas: yes. Not confirmed
   * although the master has enough replicas connected: no, it is sent again at the next flush (the API stores
   * each id once). The master lacks replicas (a shard briefly without one): yes, counted as unreplicated and
   * shown in the state hash, so alerts keep flowing.
   */
  private replicatedEnough(event: AlertEvent, { acknowledged, connected }: Replication): boolean {
    const replicas = this.waitReplicas;
    if (acknowledged >= replicas) {
      if (this.replicated === false) {
        this.logger.info({ replicas, acknowledged }, 'alerts reach their replicas again');
      }
      this.replicated = true;
      return true;
    }
    if (connected >= replicas) {
      this.logger.warn(
        { eventId: event.id, replicas, acknowledged, connected, timeoutMs: this.waitTimeoutMs },
        'alert not confirmed by its replicas in time; it stays queued and is sent again',
      );
      return false;
    }
    this.unreplicatedCount += 1;
    if (this.replicated !== false) {
      this.logger.warn(
        { eventId: event.id, replicas, acknowledged, connected },
        'the Redis master has fewer replicas than REDIS_WAIT_REPLICAS: alerts are sent unreplicated meanwhile',
      );
    }
    this.replicated = false;
    return true;
  }

  private markRedis(ok: boolean, error?: unknown): void {
    if (ok && this.redisFailing) {
      this.redisFailing = false;
      this.logger.info({ pending: this.queue.length }, 'redis writes succeed again');
    } else if (!ok && !this.redisFailing) {
      this.redisFailing = true;
      this.logger.warn({ err: describeError(error) }, 'redis write failed');
    } else if (!ok) {
      this.logger.debug({ err: describeError(error) }, 'redis write failed');
    }
  }
}

/**
 * {@link RedisTransactions} over an ioredis connection.
 *
 * It fails fast whenever the connection is not ready, rather than letting ioredis queue the command
 * until its next reconnection attempt (up to several seconds): the publisher keeps its own queue, and a
 * tick must never stall on Redis. Only at start-up does it wait a little (`startupGraceMs`) for the
 * first connection.
 */
export class IoRedisTransactions implements RedisTransactions {
  private readonly startupDeadline: number;

  constructor(
    private readonly redis: Redis,
    startupGraceMs = 1000,
  ) {
    this.startupDeadline = Date.now() + startupGraceMs;
  }

  async multiExec(commands: RedisCommand[]): Promise<void> {
    await this.ready();
    const results = await this.redis.multi(commands).exec();
    if (results === null) throw new Error('transaction aborted');
    const failed = results.find(([error]) => error !== null);
    if (failed?.[0]) throw failed[0];
  }

  async execOnce(marker: string, markerTtlMs: number, commands: RedisCommand[]): Promise<boolean> {
    await this.ready();
    try {
      return (
        Number(await this.redis.eval(EXEC_ONCE_SCRIPT, ...execOnceArgs(marker, markerTtlMs, commands))) === 1
      );
    } catch (error) {
      throw sentError(error);
    }
  }

  async hgetall(key: string): Promise<Record<string, string>> {
    await this.ready();
    return this.redis.hgetall(key);
  }

  async get(key: string): Promise<string | null> {
    await this.ready();
    return this.redis.get(key);
  }

  async readTickPage(key: string, start: string, count: number): Promise<TickStreamPage> {
    await this.ready();
    const [n, lastId, values, entries] = (await this.redis.eval(TICK_PAGE_SCRIPT, 1, key, start, count)) as [
      number,
      string,
      string | null,
      Array<[string, string[]]> | undefined,
    ];
    if (typeof values === 'string') return { count: Number(n), lastId, values };
    return { count: Number(n), lastId, entries: entries ?? [] };
  }

  async execOnceWait(
    marker: string,
    markerTtlMs: number,
    commands: RedisCommand[],
    replicas: number,
    timeoutMs: number,
  ): Promise<Replication & { ran: boolean }> {
    await this.ready();
    // One pipeline, so that WAIT and ROLE go to the connection (in a cluster: the node) that ran the script.
    const pipeline = this.redis.pipeline([
      ['eval', EXEC_ONCE_SCRIPT, ...execOnceArgs(marker, markerTtlMs, commands)],
      ['wait', replicas, timeoutMs],
      ['role'],
    ]);
    let results: Awaited<ReturnType<typeof pipeline.exec>>;
    try {
      results = await pipeline.exec();
    } catch (error) {
      throw sentError(error);
    }
    if (!results) throw new OutcomeUnknownError(new Error('pipeline aborted'));
    const failed = results.find(([error]) => error !== null);
    if (failed?.[0]) throw sentError(failed[0]);
    const ran = Number(results[0][1]) === 1;
    const acknowledged = Number(results[1][1]);
    const role = results[2][1] as unknown[];
    const connected = role[0] === 'master' && Array.isArray(role[2]) ? role[2].length : 0;
    return { ran, acknowledged, connected };
  }

  async close(timeoutMs: number): Promise<void> {
    closingOnPurpose(this.redis);
    if (this.redis.status !== 'ready') {
      this.redis.disconnect();
      return;
    }
    try {
      await withTimeout(
        this.redis.quit().catch(() => undefined),
        timeoutMs,
      );
    } finally {
      this.redis.disconnect();
    }
  }

  private async ready(): Promise<void> {
    const redis = this.redis;
    if (redis.status === 'ready') return;
    const waitMs = this.startupDeadline - Date.now();
    const firstConnection =
      redis.status === 'wait' || redis.status === 'connecting' || redis.status === 'connect';
    if (!firstConnection || waitMs <= 0) throw new Error(`redis not connected (${redis.status})`);
    let onReady: (() => void) | undefined;
    const connected = new Promise<void>((resolve) => {
      onReady = resolve;
      redis.once('ready', onReady);
    });
    try {
      if ((await withTimeout(connected, waitMs)) === TIMED_OUT) {
        throw new Error(`redis not connected (${redis.status})`);
      }
    } finally {
      if (onReady) redis.off('ready', onReady);
    }
  }
}

/**
 * The longest wait between two of the worker's reconnection attempts: each failed attempt waits 200 ms more, up to
 * this. So a worker is connected again at most this long (and one attempt) after Redis answers.
 */
export const WORKER_RECONNECT_CAP_MS = 5000;

/**
 * Options for the worker's ioredis connection: ioredis' own reconnection stays on (backing off up to
 * WORKER_RECONNECT_CAP_MS), but a command fails after one reconnection attempt, or after `commandTimeoutMs` on a connection
 * that stopped answering, instead of waiting for Redis forever. Together with IoRedisTransactions'
 * fail-fast check, a Redis outage never stalls a tick.
 */
export function workerRedisOptions(connectionName: string, commandTimeoutMs = 1000): RedisOptions {
  return {
    connectionName,
    maxRetriesPerRequest: 1,
    commandTimeout: commandTimeoutMs,
    connectTimeout: 3000,
    // Commands go out only on a ready connection (see IoRedisTransactions); the publisher queues alerts itself.
    enableOfflineQueue: true,
    retryStrategy: (times) => Math.min(times * 200, WORKER_RECONNECT_CAP_MS),
  };
}

/**
 * The worker's ioredis connection ({@link workerRedisOptions}). Connection trouble is logged once per
 * outage, never with the URL (it may carry a password). A connection ioredis gave up on by itself (after a
 * Sentinel failover: libs/contracts redis-revive.ts) is connected again, so the queue is sent once a master
 * answers; only {@link IoRedisTransactions.close} ends it for good.
 */
export function createWorkerRedis(settings: RedisSettings, logger: Logger, connectionName: string): Redis {
  const plan = redisClientPlan(settings, workerRedisOptions(connectionName));
  // A Cluster answers the same commands as a Redis (and the same events): the publisher needs no more.
  const redis =
    plan.kind === 'cluster'
      ? (new Cluster(plan.nodes, plan.options) as unknown as Redis)
      : plan.url === undefined
        ? new Redis(plan.options)
        : new Redis(plan.url, plan.options);
  watchConnection(redis, logger);
  reviveWhenEnded(redis, () => logger.warn('redis connection ended by the client itself; connecting again'));
  return redis;
}

/** Logs a connection's first error of an outage and its recovery. Also keeps errors from going unhandled. */
export function watchConnection(redis: Pick<Redis, 'on'>, logger: Logger): void {
  let down = false;
  redis.on('error', (error: Error) => {
    if (down) return;
    down = true;
    logger.warn({ err: describeError(error) }, 'redis connection error; reconnecting');
  });
  redis.on('ready', () => {
    if (down) logger.info('redis connection restored');
    down = false;
  });
}

/** Between `at` and `ask` in the compact JSON readPriceTick gives (priceTickJson: at, ask, bid, price). */
const ASK_MARK = '","ask":"';
const BID_MARK = '","bid":"';
const PRICE_MARK = '","price":"';

/**
 * A replay tick from readPriceTick's compact JSON and `at`: its prices are plain decimals (the schema's), so they
 * hold no quote and are cut out where they stand, without a second parse. Undefined if the JSON is not that shape.
 */
function replayTickOf(json: string, at: string): ReplayTick | undefined {
  const askStart = json.indexOf(ASK_MARK);
  const bidStart = askStart < 0 ? -1 : json.indexOf(BID_MARK, askStart + ASK_MARK.length);
  const priceStart = bidStart < 0 ? -1 : json.indexOf(PRICE_MARK, bidStart + BID_MARK.length);
  const atMs = Date.parse(at);
  if (priceStart < 0 || Number.isNaN(atMs)) return undefined;
  return {
    atMs,
    ask: detached(json.slice(askStart + ASK_MARK.length, bidStart)),
    bid: detached(json.slice(bidStart + BID_MARK.length, priceStart)),
  };
}

/**
 * A string of its own for a slice of a page's values: V8 copies a slice shorter than 13 characters (every usual
 * price) but makes a longer one a view that keeps the whole page alive, and a window rule keeps its prices for up to
 * a day. Prices are plain decimals (ASCII), so latin1 is exact.
 */
function detached(text: string): string {
  return text.length < 13 ? text : Buffer.from(text, 'latin1').toString('latin1');
}

/**
 * A failed send's error as the publisher weighs it: Redis' own refusal (a ReplyError) as it is, since that command
 * did not run; anything else (a command timeout, a connection cut after the command went out) as
 * {@link OutcomeUnknownError}.
 */
function sentError(error: unknown): Error {
  if (error instanceof ReplyError) return error as Error;
  return new OutcomeUnknownError(error);
}

function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
