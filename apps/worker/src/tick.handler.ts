import type { Logger } from 'pino';
import {
  isDecimalString,
  PriceTick,
  RuleSet,
  SNAPSHOT_EVERY_MS,
  takeRuleSnapshot,
  WORKER_EXIT,
  WorkerSettings,
  WorkerStatus,
} from '@pairwatch/contracts';
import type { AlertPublisher, TickState } from './alert-publisher';
import { fullJitterBackoff } from './backoff';
import { Clock, systemClock } from './clock';
import type { TickDecision } from './poller';
import type { TickerResult, TickerSource } from './uphold-ticker.client';

/** Longest backoff after repeated failures (unless the interval itself is longer). */
export const MAX_BACKOFF_MS = 60_000;

export type TickPublisher = Pick<AlertPublisher, 'publish' | 'flush' | 'reportState' | 'pending'>;

export interface TickHandlerDeps {
  settings: Pick<WorkerSettings, 'pair' | 'intervalMs'>;
  ticker: TickerSource;
  /** The monitor's rules, all evaluated on every tick. */
  rules: RuleSet;
  publisher: TickPublisher;
  logger: Logger;
  clock?: Clock;
  /** In [0, 1); the backoff's jitter. */
  random?: () => number;
}

/**
 * One tick of the worker: ask the ticker, feed the detector, publish any alert, report state, and tell
 * the loop how long to wait. Every outcome of the request is handled here; nothing a ticker sends can
 * make it throw.
 */
export class TickHandler {
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly state: TickState = { status: 'running', consecutiveErrors: 0, lastError: '' };
  /** Consecutive failures that call for backoff (network, 5xx, unusable answers). */
  private failureStreak = 0;
  /** The quote of the tick under way, for the price stream; only a quote with a usable price has one. */
  private priced: PriceTick | undefined;
  /** When the rule snapshot was last stored (rule-snapshot.ts); undefined: not yet by this worker. */
  private snapshotStoredAt: number | undefined;

  constructor(private readonly deps: TickHandlerDeps) {
    this.clock = deps.clock ?? systemClock;
    this.random = deps.random ?? Math.random;
  }

  /** The state as last reported. */
  get currentState(): Readonly<TickState> {
    return { ...this.state };
  }

  async tick(signal?: AbortSignal): Promise<TickDecision> {
    const { publisher, settings } = this.deps;
    // Alerts that waited for Redis go out first (and before any newer one).
    if (publisher.pending > 0) await publisher.flush();

    const result = await this.deps.ticker.fetchTicker(settings.pair, signal);
    if (signal?.aborted && result.kind === 'network-error') {
      // Cut short by shutdown: not Uphold's fault, so neither an error nor a reason to back off.
      this.deps.logger.info('ticker request abandoned for shutdown');
      return { kind: 'next-slot' };
    }
    this.priced = undefined;
    const decision = await this.handle(result);
    const now = this.clock.now();
    this.state.lastTickAt = new Date(now).toISOString();
    this.state.referencePrice = this.deps.rules.referencePrice;
    // The rules' snapshot with the first tick, then at most every SNAPSHOT_EVERY_MS: a restart replays only the
    // stored ticks after it.
    const due = this.snapshotStoredAt === undefined || now - this.snapshotStoredAt >= SNAPSHOT_EVERY_MS;
    const snapshot = due ? takeRuleSnapshot(this.deps.rules) : undefined;
    // The state, the tick's price and the snapshot go to Redis together (one MULTI).
    const stored = await publisher.reportState({ ...this.state }, this.priced, snapshot);
    if (stored && snapshot !== undefined) this.snapshotStoredAt = now;
    return decision;
  }

  /** The state to leave behind when the worker stops, with the rules' snapshot (a replacement starts from it). */
  async reportStopped(): Promise<void> {
    if (this.state.status !== 'unknown-pair') this.state.status = 'stopped';
    await this.deps.publisher.reportState({ ...this.state }, undefined, takeRuleSnapshot(this.deps.rules));
  }

  private async handle(result: TickerResult): Promise<TickDecision> {
    const { logger, settings } = this.deps;
    switch (result.kind) {
      case 'quote':
        return this.onQuote(result);

      case 'unknown-pair':
        this.fail('unknown-pair', 'unknown pair');
        logger.error('Uphold does not know this pair (404); exiting');
        return { kind: 'stop', exitCode: WORKER_EXIT.unknownPair, reason: 'unknown pair' };

      case 'rate-limited': {
        // Never sooner than the normal interval, so a "Retry-After: 0" cannot speed the worker up.
        const ms = Math.max(result.retryAfterMs, settings.intervalMs);
        this.fail('rate-limited', `rate limited by Uphold (429); next request in ${ms} ms`);
        logger.warn({ retryAfterMs: result.retryAfterMs, waitMs: ms }, 'rate limited by Uphold');
        return { kind: 'wait', ms };
      }

      case 'server-error':
      case 'network-error':
      case 'bad-response': {
        this.failureStreak += 1;
        const ms = fullJitterBackoff(
          this.failureStreak,
          {
            baseMs: settings.intervalMs,
            capMs: Math.max(MAX_BACKOFF_MS, settings.intervalMs),
            // Never faster than the normal interval: the API's rate budget assumes it.
            minMs: settings.intervalMs,
          },
          this.random,
        );
        const message = describeFailure(result);
        this.fail('retrying', message);
        logger.warn(
          { kind: result.kind, error: message, attempt: this.failureStreak, backoffMs: ms },
          'ticker request failed; backing off',
        );
        return { kind: 'wait', ms };
      }
    }
  }

  private async onQuote(quote: { ask: string; bid: string }): Promise<TickDecision> {
    const { rules, logger, publisher } = this.deps;
    this.failureStreak = 0;
    const observedAt = this.clock.now();
    const { firings, badPrice, price } = rules.observe(quote, observedAt);
    if (price === undefined || badPrice !== undefined) {
      // A price a rule cannot use: reported, never an alert from that rule, and its state stays as it was.
      this.fail('degraded', `bad price from Uphold: ${badPrice}`);
      logger.warn({ ask: quote.ask, bid: quote.bid, error: badPrice }, 'ignoring a quote with a bad price');
      if (price === undefined) return { kind: 'next-slot' };
    } else {
      this.state.status = 'running';
      this.state.consecutiveErrors = 0;
      this.state.lastError = '';
    }
    this.state.lastPrice = price;
    // The price stream's schema wants both sides as decimals; the watched one is checked, the other may not be.
    if (isDecimalString(quote.ask) && isDecimalString(quote.bid)) {
      this.priced = { at: new Date(observedAt).toISOString(), ask: quote.ask, bid: quote.bid, price };
    }
    logger.debug({ price }, 'tick');

    for (const firing of firings) {
      // What outlives this worker (rule-state.ts): the rule's fires with this one, this alert's time and quote.
      const ruleState = {
        fires: rules.firesOf(firing.ruleId),
        lastFireAt: new Date(observedAt).toISOString(),
        ask: quote.ask,
        bid: quote.bid,
      };
      const outcome = await publisher.publish(firing, observedAt, ruleState);
      const fields = {
        ruleId: firing.ruleId,
        kind: firing.kind,
        direction: firing.direction,
        referencePrice: firing.referencePrice,
        price: firing.price,
        changePercent: firing.changePercent,
      };
      if (outcome.kind === 'sent') {
        logger.info({ ...fields, alertId: outcome.event.id }, 'price oscillation: alert published');
      } else if (outcome.kind === 'queued') {
        logger.warn(
          { ...fields, alertId: outcome.event.id, pending: outcome.pending },
          'price oscillation: alert queued until Redis is back',
        );
      }
      // 'invalid' was logged in full by the publisher.
    }
    if (rules.allDoneAt(observedAt)) {
      logger.info({ rules: rules.progress(observedAt) }, 'every rule is done; exiting');
      return { kind: 'stop', exitCode: WORKER_EXIT.rulesDone, reason: 'rules done' };
    }
    return { kind: 'next-slot' };
  }

  private fail(status: WorkerStatus, message: string): void {
    this.state.status = status;
    this.state.consecutiveErrors += 1;
    this.state.lastError = message;
  }
}

function describeFailure(
  result: Extract<TickerResult, { kind: 'server-error' | 'network-error' | 'bad-response' }>,
): string {
  switch (result.kind) {
    case 'server-error': {
      // A relay in between says which upstream answer it could not serve, and why.
      const base = `Uphold answered HTTP ${result.status}`;
      return result.detail && result.detail !== base ? `${base}: ${result.detail}` : base;
    }
    case 'network-error':
      return `Uphold unreachable: ${result.message}`;
    case 'bad-response':
      return `unusable answer from Uphold: ${result.message}`;
  }
}
