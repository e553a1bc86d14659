#!/usr/bin/env node
// Makes sure Postgres and Redis answer, and that pairwatch's database exists (it is created when missing).
// Exits non-zero with one line per missing part saying how to get it.
'use strict';
const { Client } = require('pg');
const Redis = require('ioredis');

const databaseUrl = process.env.DATABASE_URL || 'postgres://postgres@localhost:5432/pairwatch';
const redisUrl = process.env.REDIS_URL || 'redis://localhost:6379';

async function checkPostgres() {
  const target = new URL(databaseUrl);
  const name = decodeURIComponent(target.pathname.replace(/^\//, '')) || 'postgres';
  const admin = new URL(databaseUrl);
  admin.pathname = '/postgres';
  const client = new Client({ connectionString: admin.toString(), connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
  } catch (error) {
    return `Postgres is not reachable at ${target.host} (${error.message}). Start it (Debian: pg_ctlcluster 15 main start; or apt-get install -y postgresql), or set DATABASE_URL.`;
  }
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (rowCount === 0) {
      await client.query(`CREATE DATABASE "${name.replace(/"/g, '""')}"`);
      console.log(`[services] created database ${name}`);
    }
  } finally {
    await client.end();
  }
  return null;
}

async function checkRedis() {
  const redis = new Redis(redisUrl, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: 5000,
  });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    await redis.ping();
    return null;
  } catch (error) {
    return `Redis is not reachable at ${new URL(redisUrl).host} (${error.message}). Start it (redis-server --daemonize yes; or apt-get install -y redis-server), or set REDIS_URL.`;
  } finally {
    redis.disconnect();
  }
}

Promise.all([checkPostgres(), checkRedis()]).then((problems) => {
  const missing = problems.filter(Boolean);
  for (const problem of missing) console.error(`[services] ERROR: ${problem}`);
  if (missing.length === 0) console.log('[services] Postgres and Redis are reachable');
  process.exit(missing.length === 0 ? 0 : 1);
});
