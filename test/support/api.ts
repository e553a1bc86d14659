import type { INestApplication } from '@nestjs/common';
import { NestExpressApplication } from '@nestjs/platform-express';
import { Test } from '@nestjs/testing';
import Redis from 'ioredis';
import type { AddressInfo } from 'node:net';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { TickPartitionsService } from '../../apps/api/src/analytics/tick-partitions.service';
import { AppModule } from '../../apps/api/src/app.module';
import { configureApp } from '../../apps/api/src/app.setup';
import { AppConfig, loadConfig } from '../../apps/api/src/config/app.config';
import { WorkerRuntime } from '../../apps/api/src/runtime/worker-runtime';
import { ReconcileReport, WorkerSupervisor } from '../../apps/api/src/supervisor/worker-supervisor.service';
import { removeAllWorkers } from './docker';
import { dockerAvailable, TEST_ENV, TEST_SECRETS_KEY, testDatabaseUrl, testRedisUrl } from './test-env';
import { eventually } from './wait';

export { eventually };

export interface TestApi {
  app: INestApplication;
  url: string;
  config: AppConfig;
  db: DataSource;
  close(): Promise<void>;
}

export interface StartApiOptions {
  env?: Record<string, string>;
  /** Replaces the worker runtime, e.g. with one pointed at a socket that does not exist. */
  runtime?: WorkerRuntime;
  /**
   * Keep what an earlier API left (monitors, workers, stream). By default the world is reset before the API
   * starts and after it closes, so no suite's API acts on another suite's monitors.
   */
  keepState?: boolean;
}

/** Starts the real API in this process, as main.ts does, against the test database and Redis. */
export async function startApi(options: StartApiOptions = {}): Promise<TestApi> {
  if (!options.keepState) await resetTestState();
  const config = loadConfig({
    DATABASE_URL: testDatabaseUrl(),
    REDIS_URL: testRedisUrl(),
    SECRETS_KEY: TEST_SECRETS_KEY,
    WORKER_RUNTIME: 'docker',
    WORKER_NETWORK: 'host',
    WORKER_IMAGE: TEST_ENV.workerImage,
    PAIRWATCH_INSTANCE: TEST_ENV.instance,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'warn',
    // Never the real Uphold: a suite that needs a ticker passes its fake's URL.
    UPHOLD_API_URL: 'http://127.0.0.1:9',
    // Suites assert against the pair endpoint's faults and counts: workers poll it directly unless a
    // suite about the relay passes UPHOLD_RELAY=on.
    UPHOLD_RELAY: 'off',
    // Suites reconcile on worker events; the ones about reconciling set their own period.
    RECONCILE_INTERVAL_MS: '600000',
    // Suites start many monitors a minute; the one about the limit sets its own.
    MONITOR_CREATE_LIMIT_PER_MIN: '1000000',
    PORT: '0',
    ...options.env,
  });
  const builder = Test.createTestingModule({ imports: [AppModule.forRoot(config)] });
  if (options.runtime) builder.overrideProvider(WorkerRuntime).useValue(options.runtime);
  const moduleRef = await builder.compile();
  const app = moduleRef.createNestApplication<NestExpressApplication>({
    bodyParser: false,
    bufferLogs: true,
  });
  configureApp(app);
  await app.listen(0, config.host);
  // The tick partitions' pass at start makes tables (CREATE TABLE … LIKE price_ticks), and a suite's TRUNCATE
  // racing it deadlocks. The pass began in app.init(); maintain() shares it (or runs one after it), and the next
  // is an hour away, so a suite starts on a settled schema.
  await app.get(TickPartitionsService).maintain();
  const bound = app.getHttpServer().address() as AddressInfo;
  const url = `http://${bound.family === 'IPv6' && bound.address === '::1' ? '[::1]' : '127.0.0.1'}:${bound.port}`;
  const close = async () => {
    await app.close();
    if (!options.keepState) await resetTestState();
  };
  return { app, url, config, db: app.get(DataSource), close };
}

/**
 * A whole reconcile pass of the API's supervisor that began after this call (one already under way is
 * waited out first: what it saw may predate the call), with its report. For "it does not do X again":
 * wait for a pass instead of sleeping through some periods.
 */
export async function reconcilePassAfterNow(api: TestApi, timeoutMs = 30_000): Promise<ReconcileReport> {
  const supervisor = api.app.get(WorkerSupervisor);
  return eventually(
    'a reconcile pass that was not skipped',
    async () => {
      await supervisor.reconcile();
      const report = await supervisor.reconcile();
      return report.skipped ? undefined : report;
    },
    timeoutMs,
  );
}

/**
 * Empties the tables while an API runs; the schema comes from the migrations the API ran. A TRUNCATE takes its
 * tables one by one, so one of the API's transactions holding a later one and asking for an earlier one makes
 * Postgres end one of the two (deadlock_detected): when that is the TRUNCATE, it is simply asked again.
 */
export async function truncateAll(db: DataSource): Promise<void> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      await db.query(
        'TRUNCATE alerts, monitors, worker_exits, webhook_deliveries, channels, price_ticks, price_candles',
      );
      return;
    } catch (error) {
      const code = (error as { driverError?: { code?: string } }).driverError?.code;
      if (code !== '40P01' || attempt === 5) throw error;
    }
  }
}

/**
 * Leaves nothing of an earlier suite that a new API would act on: no monitor rows (its supervisor would
 * start workers for them), no e2e workers, no stream or worker keys. Call it when no test API runs.
 */
export async function resetTestState(): Promise<void> {
  const client = new Client({ connectionString: testDatabaseUrl() });
  await client.connect();
  try {
    for (const table of [
      'alerts',
      'monitors',
      'worker_exits',
      'webhook_deliveries',
      'channels',
      'price_ticks',
      'price_candles',
    ]) {
      await client.query(
        `DO $$ BEGIN IF to_regclass('${table}') IS NOT NULL THEN TRUNCATE ${table} CASCADE; END IF; END $$`,
      );
    }
  } finally {
    await client.end();
  }
  if (dockerAvailable()) await removeAllWorkers();
  const redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: 1 });
  try {
    await redis.flushdb();
  } finally {
    redis.disconnect();
  }
}
