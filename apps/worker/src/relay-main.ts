/**
 * The relay's entry point (the second program of the worker image): `node relay.js`. Reads its settings from
 * the environment (libs/contracts relay-env), serves Uphold's ticker format on RELAY_HOST:RELAY_PORT and
 * stops on SIGTERM/SIGINT, closing its server within a few seconds.
 */
import { parseRelayEnv, RelaySettings, WORKER_EXIT, WorkerConfigError } from '@pairwatch/contracts';
import { RelayServer } from './relay/relay.server';
import { TickerRelay } from './relay/ticker-relay';
import { UpholdTickerClient } from './uphold-ticker.client';
import { createWorkerLogger } from './worker.logger';

const SHUTDOWN_DEADLINE_MS = 5000;

function readSettings(): RelaySettings {
  try {
    return parseRelayEnv(process.env);
  } catch (error) {
    if (!(error instanceof WorkerConfigError)) throw error;
    createWorkerLogger({ level: 'info', service: 'pairwatch-relay' }).fatal(
      { problems: error.problems },
      error.message,
    );
    process.exit(WORKER_EXIT.badConfig);
  }
}

async function main(): Promise<void> {
  const settings = readSettings();
  const logger = createWorkerLogger({ level: settings.logLevel, service: 'pairwatch-relay' });
  const upstream = new UpholdTickerClient({
    baseUrl: settings.upholdApiUrl,
    requestTimeoutMs: settings.requestTimeoutMs,
    userAgent: 'pairwatch-relay',
  });
  const relay = new TickerRelay({ upstream, rateLimitPerMin: settings.rateLimitPerMin });
  const server = new RelayServer(relay, logger);

  const die = (error: unknown, origin: string): void => {
    logger.fatal({ err: error instanceof Error ? error : String(error), origin }, 'relay crashed');
    process.exit(WORKER_EXIT.fatal);
  };
  process.on('uncaughtException', (error) => die(error, 'uncaughtException'));
  process.on('unhandledRejection', (reason) => die(reason, 'unhandledRejection'));

  const port = await server.listen(settings.port, settings.host);
  logger.info(
    { host: settings.host, port, upstream: settings.upholdApiUrl, rateLimitPerMin: settings.rateLimitPerMin },
    'relay listening',
  );

  const stop = (signal: NodeJS.Signals): void => {
    logger.info({ signal }, 'relay stopping');
    setTimeout(() => process.exit(WORKER_EXIT.ok), SHUTDOWN_DEADLINE_MS).unref();
    server.close().then(
      () => process.exit(WORKER_EXIT.ok),
      (error: unknown) => die(error, 'close'),
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((error: unknown) => {
  createWorkerLogger({ level: 'info', service: 'pairwatch-relay' }).fatal(
    { err: error instanceof Error ? error : String(error) },
    'relay could not start',
  );
  process.exit(WORKER_EXIT.fatal);
});
