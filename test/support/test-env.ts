/**
 * Where the e2e suites find the real services. Each suite gets the machine's Postgres and Redis, but a
 * database and a Redis logical database of their own, so they never touch a developer's data.
 */
export const TEST_ENV = {
  adminDatabaseUrl: process.env.TEST_ADMIN_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
  databaseName: process.env.TEST_DATABASE_NAME ?? 'pairwatch_test',
  redisHost: process.env.TEST_REDIS_HOST ?? '127.0.0.1',
  redisPort: Number(process.env.TEST_REDIS_PORT ?? 6379),
  /** Redis logical database used by the suites; FLUSHDB'd by the global set-up. */
  redisDb: Number(process.env.TEST_REDIS_DB ?? 13),
  workerImage: process.env.WORKER_IMAGE ?? 'pairwatch-worker:latest',
  /** Label value on every worker the suites start; set TEST_INSTANCE to run two suites side by side. */
  instance: process.env.TEST_INSTANCE ?? 'e2e',
} as const;

/**
 * SECRETS_KEY of every API the suites start (a fixed test key, never a real one): the API refuses to start
 * without one. A suite about keys passes its own.
 */
export const TEST_SECRETS_KEY = Buffer.alloc(32, 7).toString('base64');

export function testDatabaseUrl(): string {
  const url = new URL(TEST_ENV.adminDatabaseUrl);
  url.pathname = `/${TEST_ENV.databaseName}`;
  return url.toString();
}

export function testRedisUrl(): string {
  return `redis://${TEST_ENV.redisHost}:${TEST_ENV.redisPort}/${TEST_ENV.redisDb}`;
}

/** Set by the global set-up: "yes", or the reason the Docker suites cannot run here. */
export const DOCKER_STATUS_VAR = 'PAIRWATCH_E2E_DOCKER';

export function dockerAvailable(): boolean {
  return process.env[DOCKER_STATUS_VAR] === 'yes';
}
