import Docker from 'dockerode';
import Redis from 'ioredis';
import { Client } from 'pg';
import { DOCKER_STATUS_VAR, TEST_ENV } from './test-env';

async function resetDatabase(): Promise<void> {
  const client = new Client({ connectionString: TEST_ENV.adminDatabaseUrl });
  try {
    await client.connect();
  } catch (error) {
    throw new Error(
      `e2e: Postgres is not reachable at ${TEST_ENV.adminDatabaseUrl} (${(error as Error).message}); ` +
        `start it (e.g. pg_ctlcluster 15 main start) or set TEST_ADMIN_DATABASE_URL`,
    );
  }
  try {
    await client.query(`DROP DATABASE IF EXISTS ${TEST_ENV.databaseName} WITH (FORCE)`);
    await client.query(`CREATE DATABASE ${TEST_ENV.databaseName}`);
  } finally {
    await client.end();
  }
}

async function resetRedis(): Promise<void> {
  const redis = new Redis({
    host: TEST_ENV.redisHost,
    port: TEST_ENV.redisPort,
    db: TEST_ENV.redisDb,
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    retryStrategy: () => null,
  });
  try {
    await redis.connect();
    await redis.flushdb();
  } catch (error) {
    throw new Error(
      `e2e: Redis is not reachable at ${TEST_ENV.redisHost}:${TEST_ENV.redisPort} (${(error as Error).message}); start redis-server`,
    );
  } finally {
    redis.disconnect();
  }
}

/** Finds out whether the Docker suites can run; in CI they must. Removes workers an earlier run left. */
async function checkDocker(): Promise<string> {
  const docker = new Docker();
  try {
    await docker.ping();
  } catch (error) {
    return `no Docker engine reachable (${(error as Error).message}); start dockerd or set DOCKER_HOST`;
  }
  try {
    await docker.getImage(TEST_ENV.workerImage).inspect();
  } catch {
    return `the worker image ${TEST_ENV.workerImage} is not built; run "npm run images -- --worker-only"`;
  }
  const leftovers = await docker.listContainers({
    all: true,
    filters: { label: [`pairwatch.instance=${TEST_ENV.instance}`] },
  });
  await Promise.all(
    leftovers.map((c) =>
      docker
        .getContainer(c.Id)
        .remove({ force: true })
        .catch(() => undefined),
    ),
  );
  return 'yes';
}

export default async function globalSetup(): Promise<void> {
  await Promise.all([resetDatabase(), resetRedis()]);
  const docker = await checkDocker();
  process.env[DOCKER_STATUS_VAR] = docker;
  if (docker !== 'yes') {
    const banner = `\n${'!'.repeat(100)}\n!! e2e: THE DOCKER SUITES WILL NOT RUN: ${docker}\n${'!'.repeat(100)}\n`;
    if (process.env.CI === 'true') throw new Error(`e2e in CI needs Docker: ${docker}`);
    console.warn(banner);
  }
}
