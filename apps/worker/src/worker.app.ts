import type { Logger } from 'pino';
import { OscillationDetector, WORKER_EXIT, WorkerSettings } from '@pairwatch/contracts';
import type { AlertPublisher } from './alert-publisher';
import { Clock, systemClock, TIMED_OUT, withTimeout } from './clock';
import { Poller } from './poller';
import { TickHandler } from './tick.handler';
import type { TickerSource } from './uphold-ticker.client';
import { redactUrl } from './worker.logger';

export type WorkerPublisher = Pick<
  AlertPublisher,
  'publish' | 'flush' | 'reportState' | 'pending' | 'close' | 'logUndelivered' | 'stats'
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
  private readonly logger: Logger;

  constructor(private readonly deps: WorkerAppDeps) {
    const { settings } = deps;
    this.logger = deps.logger;
    const detector = new OscillationDetector({
      thresholdPercent: settings.thresholdPercent,
      direction: settings.direction,
      priceField: settings.priceField,
      cooldownMs: settings.cooldownMs,
    });
    this.handler = new TickHandler({
      settings,
      ticker: deps.ticker,
      detector,
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
        thresholdPercent: settings.thresholdPercent,
        priceField: settings.priceField,
        direction: settings.direction,
        cooldownMs: settings.cooldownMs,
        maxPendingAlerts: settings.maxPendingAlerts,
        upholdApiUrl: redactUrl(settings.upholdApiUrl),
        redis: redactUrl(settings.redis.url),
        redisMode: settings.redis.mode,
        waitReplicas: settings.redis.waitReplicas,
      },
      'worker started',
    );
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

  /** Starts no new tick; the one in progress finishes (its request is aborted if it hangs). */
  requestStop(): void {
    this.poller.stop(SHUTDOWN_TIMINGS.abortInFlightAfterMs);
  }

  /** For an exit that cannot wait: logs every alert still undelivered. */
  abandon(reason: string): void {
    this.deps.publisher.logUndelivered(reason);
  }
}
