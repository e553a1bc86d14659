import { parseWorkerEnv, WORKER_EXIT, WorkerConfigError, WorkerSettings } from '@pairwatch/contracts';
import { AlertPublisher, createWorkerRedis, IoRedisTransactions, publisherOptions } from './alert-publisher';
import { UpholdTickerClient } from './uphold-ticker.client';
import { SHUTDOWN_TIMINGS, WorkerApp } from './worker.app';
import { createWorkerLogger } from './worker.logger';

function readSettings(): WorkerSettings {
  try {
    return parseWorkerEnv(process.env);
  } catch (error) {
    if (!(error instanceof WorkerConfigError)) throw error;
    // One line, naming the variables (never their values: REDIS_URL may carry a password).
    createWorkerLogger({ level: 'info' }).fatal({ problems: error.problems }, error.message);
    process.exit(WORKER_EXIT.badConfig);
  }
}

function main(): void {
  const settings = readSettings();
  const logger = createWorkerLogger({
    level: settings.logLevel,
    monitorId: settings.monitorId,
    pair: settings.pair,
  });
  const redis = createWorkerRedis(settings.redis, logger, `pairwatch-worker:${settings.monitorId}`);
  const publisher = new AlertPublisher(new IoRedisTransactions(redis), publisherOptions(settings, logger));
  const ticker = new UpholdTickerClient({
    baseUrl: settings.upholdApiUrl,
    requestTimeoutMs: settings.requestTimeoutMs,
    // A relay in between serves a price only while it is younger than this.
    intervalMs: settings.intervalMs,
  });
  const app = new WorkerApp({ settings, ticker, publisher, logger });

  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping: finishing the tick in progress');
    app.requestStop();
    setTimeout(() => {
      app.abandon('worker exiting at its shutdown deadline');
      logger.error({ deadlineMs: SHUTDOWN_TIMINGS.hardDeadlineMs }, 'shutdown deadline passed; exiting now');
      process.exit(WORKER_EXIT.fatal);
    }, SHUTDOWN_TIMINGS.hardDeadlineMs).unref();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);

  const die = (error: unknown, origin: string): void => {
    logger.fatal({ err: error instanceof Error ? error : String(error), origin }, 'worker crashed');
    app.abandon('worker crashed');
    process.exit(WORKER_EXIT.fatal);
  };
  process.on('uncaughtException', (error) => die(error, 'uncaughtException'));
  process.on('unhandledRejection', (reason) => die(reason, 'unhandledRejection'));

  app.run().then(
    (exitCode) => process.exit(exitCode),
    (error: unknown) => die(error, 'run'),
  );
}

main();
