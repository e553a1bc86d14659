/**
 * Ingestion write path: the API stores each stream batch with one INSERT … ON CONFLICT DO NOTHING.
 * Baseline, measured in the same run: the same alerts stored one statement per alert.
 *
 *   npm run bench:ingest            (BENCH_ALERTS=5000 BENCH_ROUNDS=5 by default)
 *
 * Uses the machine's Postgres (BENCH_ADMIN_DATABASE_URL) and a scratch database it drops afterwards.
 */
import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import type { AlertEvent } from '@pairwatch/contracts';
import { AlertEntity } from '../apps/api/src/alerts/alert.entity';
import { AlertsRepository } from '../apps/api/src/alerts/alerts.repository';
import { dataSourceOptions } from '../apps/api/src/database/data-source';
import { WebhookDeliveryEntity } from '../apps/api/src/webhooks/webhook-delivery.entity';
import { WebhookEntity } from '../apps/api/src/webhooks/webhook.entity';
import { WebhooksRepository } from '../apps/api/src/webhooks/webhooks.repository';

const ALERTS = Number(process.env.BENCH_ALERTS ?? 5000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const BATCH = 500; // the ingestion service's batch size
const admin = process.env.BENCH_ADMIN_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const scratch = 'pairwatch_bench';

function events(n: number): AlertEvent[] {
  const monitorId = randomUUID();
  return Array.from({ length: n }, (_, i) => ({
    id: randomUUID(),
    monitorId,
    pair: 'BTC-USD',
    direction: 'up',
    priceField: 'ask',
    referencePrice: '63120.45',
    price: `${63120 + i}.4500`,
    changePercent: '0.01234567',
    thresholdPercent: '0.01',
    intervalMs: 5000,
    observedAt: new Date(Date.now() + i).toISOString(),
  }));
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function timed(fn: () => Promise<void>): Promise<number> {
  const start = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - start) / 1e6;
}

async function adminQuery(sql: string): Promise<void> {
  const client = new Client({ connectionString: admin });
  await client.connect();
  await client.query(sql);
  await client.end();
}

async function main(): Promise<void> {
  await adminQuery(`DROP DATABASE IF EXISTS ${scratch} WITH (FORCE)`);
  await adminQuery(`CREATE DATABASE ${scratch}`);
  const url = new URL(admin);
  url.pathname = `/${scratch}`;
  const db = new DataSource(dataSourceOptions(url.toString()));
  await db.initialize();
  await db.runMigrations();
  const repository = new AlertsRepository(
    db.getRepository(AlertEntity),
    new WebhooksRepository(db.getRepository(WebhookEntity), db.getRepository(WebhookDeliveryEntity)),
  );

  const batched: number[] = [];
  const single: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    // Alternate the order so neither side always runs on a warmer cache.
    const order = round % 2 === 0 ? ['batched', 'single'] : ['single', 'batched'];
    for (const kind of order) {
      const data = events(ALERTS);
      await db.query('TRUNCATE alerts');
      const ms = await timed(async () => {
        if (kind === 'batched') {
          for (let i = 0; i < data.length; i += BATCH) await repository.insertBatch(data.slice(i, i + BATCH));
        } else {
          for (const event of data) await repository.insertBatch([event]);
        }
      });
      (kind === 'batched' ? batched : single).push((ALERTS / ms) * 1000);
    }
  }
  await db.destroy();
  await adminQuery(`DROP DATABASE IF EXISTS ${scratch} WITH (FORCE)`);

  const b = median(batched);
  const s = median(single);
  console.log(`ingest: ${ALERTS} alerts x ${ROUNDS} rounds, batch ${BATCH}`);
  console.log(
    `  batched insert (one statement per ${BATCH}): median ${b.toFixed(0)} alerts/s  [${batched.map((x) => x.toFixed(0)).join(', ')}]`,
  );
  console.log(
    `  baseline, one statement per alert:        median ${s.toFixed(0)} alerts/s  [${single.map((x) => x.toFixed(0)).join(', ')}]`,
  );
  console.log(`  ratio batched / baseline: ${(b / s).toFixed(1)}x`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
