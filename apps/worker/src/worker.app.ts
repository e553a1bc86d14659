import type { Logger } from 'pino';
import { replaySpanMs, replayTicks, RuleSet, WORKER_EXIT, WorkerSettings } from '@pairwatch/contracts';
import type { AlertPublisher } from './alert-publisher';
import { Clock, systemClock, TIMED_OUT, withTimeout } from './clock';
import { Poller } from './poller';
import { TickHandler } from './tick.handler';
import type { TickerSource } from './uphold-ticker.client';
import { redactUrl } from './worker.logger';

export type WorkerPublisher = Pick<
  AlertPublisher,
  'publish' | 'flush' | 'reportState' | 'pending' | 'close' | 'logUndelivered' | 'stats' | 'recentTicks'
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

/**
 * The worker as a whole: a detector, a tick handler and a poller wired together. `run()` resolves with
 * the exit code once the loop has ended and Redis is closed.
 */
export class WorkerApp {
  readonly poller: Poller;
  readonly handler: TickHandler;
  readonly rules: RuleSet;
  private readonly logger: Logger;

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
   * nor forgets a window, a peak or a crossing side. The same loop as a backtest (replayTicks).
   */
  async replay(): Promise<void> {
    const { settings } = this.deps;
    const clock = this.deps.clock ?? systemClock;
    const since = clock.now() - replaySpanMs(settings.rules, settings.priceHistoryMs);
    const ticks = await this.deps.publisher.recentTicks(since);
    if (ticks.length === 0) return;
    const result = replayTicks(this.rules, ticks, { count: false, keepAlerts: false });
    this.logger.info(
      { ticks: result.ticks, from: result.from, to: result.to, firedInReplay: result.firedByRule },
      'replayed stored ticks (alerts suppressed)',
    );
  }

  /** Starts no new tick; the one in progress finishes (its request is aborted if it hangs). */
  requestStop(): void {
    this.poller.stop(SHUTDOWN_TIMINGS.abortInFlightAfterMs);
  }

  /** For an exit that cannot wait: logs every alert still undelivered. */
  abandon(reason: string): void {
    this.deps.publisher.logUndelivered(reason);
  }
}
