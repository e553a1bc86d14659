import type { INestApplication } from '@nestjs/common';
import { NestExpressApplication } from '@nestjs/platform-express';
import { Test } from '@nestjs/testing';
import { DataSource } from 'typeorm';
import { AppModule } from '../../apps/api/src/app.module';
import { configureApp } from '../../apps/api/src/app.setup';
import { AppConfig, loadConfig } from '../../apps/api/src/config/app.config';
import { WorkerRuntime } from '../../apps/api/src/runtime/worker-runtime';
import { TEST_ENV, testDatabaseUrl, testRedisUrl } from './test-env';

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
}

/** Starts the real API in this process, as main.ts does, against the test database and Redis. */
export async function startApi(options: StartApiOptions = {}): Promise<TestApi> {
  const config = loadConfig({
    DATABASE_URL: testDatabaseUrl(),
    REDIS_URL: testRedisUrl(),
    WORKER_RUNTIME: 'docker',
    WORKER_NETWORK: 'host',
    WORKER_IMAGE: TEST_ENV.workerImage,
    PAIRWATCH_INSTANCE: TEST_ENV.instance,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'warn',
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
  await app.listen(0, '127.0.0.1');
  const url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  return { app, url, config, db: app.get(DataSource), close: () => app.close() };
}

/** Empties the tables between suites; the schema comes from the migrations the API ran. */
export async function truncateAll(db: DataSource): Promise<void> {
  await db.query('TRUNCATE alerts, monitors');
}

/** Polls until `probe` returns a value that is not undefined, or fails with `what` after timeoutMs. */
export async function eventually<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
