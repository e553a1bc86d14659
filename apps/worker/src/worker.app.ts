import type { Logger } from 'pino';
import {
  replaySpanMs,
  restoreRuleSnapshot,
  resumeRules,
  RuleSet,
  RuleState,
  WORKER_EXIT,
  WorkerSettings,
} from '@pairwatch/contracts';
import type { AlertPublisher } from './alert-publisher';
import { Clock, systemClock, TIMED_OUT, withTimeout } from './clock';
import { Poller } from './poller';
import { TickHandler } from './tick.handler';
import type { TickerSource } from './uphold-ticker.client';
import { redactUrl } from './worker.logger';

export type WorkerPublisher = Pick<
  AlertPublisher,
  | 'publish'
  | 'flush'
  | 'reportState'
  | 'pending'
  | 'close'
  | 'logUndelivered'
  | 'stats'
  | 'recentTicks'
  | 'ruleStates'
  | 'ruleSnapshot'
>;

export interface WorkerAppDeps {
  settings: WorkerSettings;
  ticker: TickerSource;
  publisher: WorkerPublisher;
  logger: Logger;
  clock?: Clock;
  random?: () => number;
}

/** Shutdown budget: a hanging request is aborted after this long; the rest leaves time to clean up. */
export const SHUTDOWN_TIMINGS = {
  /** From SIGTERM to aborting a ticker request still in flight. */
  abortInFlightAfterMs: 1000,
  /** Writing the final state. */
  finalReportMs: 300,
  /** Final flush of queued alerts and QUIT. */
  closeMs: 500,
  /** The process exits at this point whatever is still running. */
  hardDeadlineMs: 2000,
} as const;

/** How long a starting worker waits between two attempts to read its rule state: its interval, within 1 to 5 s. */
export const ruleStateRetryMs = (intervalMs: number): number => Math.min(Math.max(intervalMs, 1000), 5000);

/**
 * The worker as a whole: a detector, a tick handler and a poller wired together. `run()` resolves with
 * the exit code once the loop has ended and Redis is closed.
 */
export class WorkerApp {
  readonly poller: Poller;
  readonly handler: TickHandler;
  readonly rules: RuleSet;
  private readonly logger: Logger;
  /** Aborted by {@link requestStop}: ends the wait for the rule state at start. */
  private readonly startAbort = new AbortController();

  constructor(private readonly deps: WorkerAppDeps) {
    const { settings } = deps;
    this.logger = deps.logger;
    this.rules = new RuleSet(settings.rules);
    this.handler = new TickHandler({
      settings,
      ticker: deps.ticker,
      rules: this.rules,
      publisher: deps.publisher,
      logger: deps.logger,
      clock: deps.clock,
      random: deps.random,
    });
    this.poller = new Poller((signal) => this.handler.tick(signal), {
      intervalMs: settings.intervalMs,
      logger: deps.logger,
      clock: deps.clock ?? systemClock,
    });
  }

  /** Polls until stopped or until a tick asks to exit; then reports, flushes and closes. */
  async run(): Promise<number> {
    const { settings } = this.deps;
    this.logger.info(
      {
        intervalMs: settings.intervalMs,
        rules: settings.rules,
        maxPendingAlerts: settings.maxPendingAlerts,
        upholdApiUrl: redactUrl(settings.upholdApiUrl),
        redis: redactUrl(settings.redis.url),
        redisMode: settings.redis.mode,
        waitReplicas: settings.redis.waitReplicas,
      },
      'worker started',
    );
    await this.replay();
    const exit = await this.poller.run();
    const exitCode = exit.reason === 'tick' ? exit.exitCode : WORKER_EXIT.ok;

    if ((await withTimeout(this.handler.reportStopped(), SHUTDOWN_TIMINGS.finalReportMs)) === TIMED_OUT) {
      this.logger.warn('could not write the final state in time');
    }
    await this.deps.publisher.close(SHUTDOWN_TIMINGS.closeMs);
    this.logger.info(
      {
        exitCode,
        reason: exit.reason === 'tick' ? exit.message : 'stopped',
        ...this.poller.stats,
        ...this.deps.publisher.stats,
      },
      'worker stopped',
    );
    return exitCode;
  }

  /**
   * Before going live: the ticks this monitor stored (its recent-tick stream, the longest window back, at most
   * PRICE_HISTORY_MS) go through the rules with alerts dropped, so that a restart neither fires a spurious alert
   * nor forgets a window, a peak or a crossing side (the same loop as a backtest, replayTicks); then each rule
   * takes on the fires and last fire its previous workers recorded with their alerts, so that `maxFires` and the
   * cooldown hold (resumeRules, rule-state.ts). Without its rule state the worker does not go live: it asks again
   * until Redis answers or it is stopped (with Redis down it could publish nothing anyway).
   *
   * A rule the previous worker's snapshot holds unchanged (rule-snapshot.ts) starts from that state and replays only
   * the ticks stored after it; when every rule does, only those ticks are read.
   */
  async replay(): Promise<void> {
    const { settings } = this.deps;
    const clock = this.deps.clock ?? systemClock;
    const states = await this.loadRuleStates(clock);
    if (states === undefined) return;
    const since = clock.now() - replaySpanMs(settings.rules, settings.priceHistoryMs);
    const snapshot = restoreRuleSnapshot(this.rules, await this.deps.publisher.ruleSnapshot(), since);
    const everyRule = snapshot.at !== undefined && snapshot.restored.length === this.rules.evaluators.length;
    const ticks = await this.deps.publisher.recentTicks(
      everyRule ? Math.max(since, snapshot.at! + 1) : since,
    );
    const result = resumeRules(this.rules, ticks, states, since);
    if (snapshot.ignored) this.logger.warn({ reason: snapshot.ignored }, 'rule snapshot (partly) ignored');
    if (result.ticks === 0 && Object.keys(states).length === 0 && snapshot.restored.length === 0) return;
    this.logger.info(
      {
        ticks: result.ticks,
        snapshot:
          snapshot.at === undefined
            ? null
            : { at: new Date(snapshot.at).toISOString(), rules: snapshot.restored },
        from: result.from,
        to: result.to,
        firedInReplay: result.firedByRule,
        firingTicksAdded: result.addedTicks,
        rules: this.rules.progress(clock.now()),
      },
      'replayed stored ticks (alerts suppressed) and resumed the rule state',
    );
  }

  /** The rule state, read again until Redis answers; undefined when stopped meanwhile. */
  private async loadRuleStates(clock: Clock): Promise<Record<string, RuleState> | undefined> {
    const signal = this.startAbort.signal;
    for (let attempt = 1; !signal.aborted; attempt += 1) {
      try {
        const states = await this.deps.publisher.ruleStates();
        if (attempt > 1) this.logger.info({ attempts: attempt }, 'rule state read; going live');
        return states;
      } catch (error) {
        if (attempt === 1) {
          this.logger.warn(
            { err: error instanceof Error ? error.message : String(error) },
            'cannot read the rule state; not going live until Redis answers (a guess could fire a rule again)',
          );
        }
        await clock.sleep(ruleStateRetryMs(this.deps.settings.intervalMs), signal);
      }
    }
    return undefined;
  }

  /** Starts no new tick; the one in progress finishes (its request is aborted if it hangs). */
  requestStop(): void {
    this.startAbort.abort();
    this.poller.stop(SHUTDOWN_TIMINGS.abortInFlightAfterMs);
  }

  /** For an exit that cannot wait: logs every alert still undelivered. */
  abandon(reason: string): void {
    this.deps.publisher.logUndelivered(reason);
  }
}
