/**
 * Webhooks: deliveries per second the dispatcher sustains, and alert committed → received latency at a steady
 * 200 alerts/s with three webhooks, against the built API (its own process). Beside each, in the same run, the
 * same local receiver hit directly by a plain HTTP loop (keep-alive, the same concurrency and bodies): what
 * the machine's HTTP costs without the queue.
 *
 *   npm run build && npm run bench:webhooks
 *   BENCH_DELIVERIES=20000 BENCH_WEBHOOKS=16 BENCH_RATE=200 BENCH_SECONDS=20 BENCH_ROUNDS=3 (defaults).
 *   BENCH_API_MAIN=<path to another build's main.js> measures that build instead (e.g. the code before).
 */
import { randomUUID } from 'node:crypto';
import { Agent, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import Redis from 'ioredis';
import { Client } from 'pg';
import { ALERT_EVENT_FIELD, ALERTS_STREAM, AlertEvent } from '@pairwatch/contracts';
import { WEBHOOK_LIMITS } from '../apps/api/src/notify/webhook-events';
import {
  BENCH_REDIS_URL,
  BenchApi,
  dropScratchDatabase,
  elapsedMs,
  fmt,
  median,
  quantile,
  scratchDatabase,
  sleep,
  startApi,
  until,
} from './support/bench-env';

const DELIVERIES = Number(process.env.BENCH_DELIVERIES ?? 20_000);
/** Endpoints of the throughput run: 16 × 4 in flight each = the dispatcher's 64 in flight. */
const WEBHOOKS = Number(process.env.BENCH_WEBHOOKS ?? 16);
const RATE = Number(process.env.BENCH_RATE ?? 200);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 20);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const DATABASE = 'pairwatch_bench_webhooks';

/** The local receiver: answers 200 at once, counts requests, and keeps each alert's commit → arrival time. */
function startReceiver() {
  const state = { count: 0, latencies: [] as number[] };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const now = Date.now();
      state.count += 1;
      const sentAt = Number(req.headers['x-bench-sent-at']);
      if (sentAt) state.latencies.push(now - sentAt);
      else if (req.url === '/latency') {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { data: { createdAt: string } };
        state.latencies.push(now - Date.parse(body.data.createdAt));
      }
      res.writeHead(200).end();
    });
  });
  return new Promise<{ port: number; state: typeof state; close: () => Promise<void> }>((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        port: (server.address() as AddressInfo).port,
        state,
        close: () => {
          server.closeAllConnections();
          return new Promise((done) => server.close(() => done()));
        },
      }),
    ),
  );
}

type Receiver = Awaited<ReturnType<typeof startReceiver>>;

/** A body and headers like a delivery's (a standard alert.created, signed headers of the same size). */
const BODY = JSON.stringify({
  type: 'alert.created',
  timestamp: new Date().toISOString(),
  data: alertEvent(randomUUID(), 'BTC-USD'),
});
const HEADERS = {
  'content-type': 'application/json',
  'content-length': String(Buffer.byteLength(BODY)),
  'webhook-id': randomUUID(),
  'webhook-timestamp': '1767225600',
  'webhook-signature': `v1,${'A'.repeat(43)}=`,
};

function post(agent: Agent, port: number, path: string, extra: Record<string, string> = {}): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1',
      port,
      path,
      method: 'POST',
      agent,
      headers: { ...HEADERS, ...extra },
    });
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve());
    });
    req.on('error', reject);
    req.end(BODY);
  });
}

/** Baseline: `n` POSTs straight to the receiver, `concurrency` at once, keep-alive. Requests/s. */
async function directThroughput(receiver: Receiver, n: number, concurrency: number): Promise<number> {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  let next = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        next += 1;
        await post(agent, receiver.port, '/direct');
      }
    }),
  );
  agent.destroy();
  return (n / elapsedMs(start)) * 1000;
}

/** Baseline: POSTs straight to the receiver at `rate`/s for `seconds`; send → received latencies (ms). */
async function directLatency(receiver: Receiver, rate: number, seconds: number): Promise<number[]> {
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  receiver.state.latencies = [];
  const total = rate * seconds;
  const sends: Promise<void>[] = [];
  const start = performance.now();
  for (let sent = 0; sent < total;) {
    const due = Math.min(total, Math.floor((elapsedMs(start) * rate) / 1000));
    for (; sent < due; sent += 1)
      sends.push(post(agent, receiver.port, '/direct', { 'x-bench-sent-at': String(Date.now()) }));
    await sleep(1);
  }
  await Promise.all(sends);
  agent.destroy();
  return receiver.state.latencies;
}

async function registerWebhooks(api: BenchApi, port: number, paths: string[]): Promise<string[]> {
  const ids: string[] = [];
  for (const path of paths) {
    const res = await fetch(`${api.url}/webhooks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ url: `http://127.0.0.1:${port}${path}` }),
    });
    if (res.status !== 201) throw new Error(`POST /webhooks answered ${res.status}: ${await res.text()}`);
    ids.push(((await res.json()) as { id: string }).id);
  }
  return ids;
}

/** Through the API: `n` deliveries queued at once over the webhooks; deliveries/s until the last one arrives. */
async function dispatched(db: Client, receiver: Receiver, hooks: string[], n: number): Promise<number> {
  const before = receiver.state.count;
  const start = performance.now();
  await db.query(
    `INSERT INTO webhook_deliveries (webhook_id, event_type, event_id, occurred_at, payload, next_attempt_at)
     SELECT ($1::uuid[])[1 + i % cardinality($1::uuid[])], 'alert.created', gen_random_uuid()::text, now(),
       $3::jsonb, now()
     FROM generate_series(1, $2::int) AS i`,
    [hooks, n, JSON.stringify(JSON.parse(BODY).data)],
  );
  await until(
    'every delivery received',
    () => Promise.resolve(receiver.state.count - before >= n),
    300_000,
    5,
  );
  const rate = (n / elapsedMs(start)) * 1000;
  await until(
    'every delivery recorded',
    async () =>
      (
        await db.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM webhook_deliveries WHERE status = 'pending'`,
        )
      ).rows[0].n === 0,
    60_000,
    20,
  );
  await db.query('TRUNCATE webhook_deliveries');
  return rate;
}

function alertEvent(monitorId: string, pair: string): AlertEvent {
  return {
    id: randomUUID(),
    monitorId,
    pair,
    ruleId: 'r1',
    kind: 'move',
    details: {},
    direction: 'up',
    priceField: 'ask',
    referencePrice: '63120.45',
    price: '63764.1',
    changePercent: '1.02',
    thresholdPercent: '1',
    intervalMs: 5000,
    observedAt: new Date().toISOString(),
  };
}

/** Steady RATE alerts/s for SECONDS into the stream; each delivery's alert committed → received (ms). */
async function alertLatency(redis: Redis, receiver: Receiver, webhooks: number): Promise<number[]> {
  receiver.state.latencies = [];
  const total = RATE * SECONDS;
  const monitorId = randomUUID();
  const start = performance.now();
  for (let sent = 0; sent < total;) {
    const due = Math.min(total, Math.floor((elapsedMs(start) * RATE) / 1000));
    for (; sent < due; sent += 1)
      void redis.xadd(
        ALERTS_STREAM,
        '*',
        ALERT_EVENT_FIELD,
        JSON.stringify(alertEvent(monitorId, 'BTC-USD')),
      );
    await sleep(1);
  }
  await until(
    'every paced alert delivered to every webhook',
    () => Promise.resolve(receiver.state.latencies.length >= total * webhooks),
    60_000,
    20,
  );
  return receiver.state.latencies;
}

const line = (label: string, value: string) => console.log(`  ${label.padEnd(58)} ${value}`);
const ms = (samples: number[]) =>
  `p50 ${fmt(quantile(samples, 0.5))} ms, p99 ${fmt(quantile(samples, 0.99))} ms, max ${fmt(Math.max(...samples))} ms`;

async function main(): Promise<void> {
  const url = await scratchDatabase(DATABASE);
  const redis = new Redis(BENCH_REDIS_URL);
  await redis.flushdb();
  const receiver = await startReceiver();
  const api = await startApi(url, 'webhooks', { WEBHOOK_ALLOWED_HOSTS: `127.0.0.1:${receiver.port}` });
  const db = new Client({ connectionString: url });
  await db.connect();
  try {
    const hooks = await registerWebhooks(
      api,
      receiver.port,
      Array.from({ length: WEBHOOKS }, (_, i) => `/t${i}`),
    );
    const concurrency = WEBHOOKS * WEBHOOK_LIMITS.inFlightPerEndpoint;
    console.log(
      `webhooks: ${fmt(DELIVERIES)} queued deliveries over ${WEBHOOKS} endpoints (≤ ${concurrency} in flight), ` +
        `${ROUNDS} rounds; then ${RATE} alerts/s for ${SECONDS} s to 3 webhooks`,
    );
    // Warm-up, both sides.
    await directThroughput(receiver, 2000, concurrency);
    await dispatched(db, receiver, hooks, 2000);
    const direct: number[] = [];
    const api_: number[] = [];
    for (let round = 1; round <= ROUNDS; round += 1) {
      direct.push(await directThroughput(receiver, DELIVERIES, concurrency));
      api_.push(await dispatched(db, receiver, hooks, DELIVERIES));
      console.log(
        `  round ${round}: direct ${fmt(direct.at(-1)!)} req/s, dispatcher ${fmt(api_.at(-1)!)} deliveries/s`,
      );
    }
    line('baseline: plain HTTP loop → receiver (median)', `${fmt(median(direct))} requests/s`);
    line('dispatcher: queued → received (median)', `${fmt(median(api_))} deliveries/s`);
    line('ratio dispatcher / baseline', `${fmt(median(api_) / median(direct), 2)}`);

    await db.query('DELETE FROM channels');
    await registerWebhooks(api, receiver.port, ['/latency', '/latency', '/latency']);
    const baseline = await directLatency(receiver, RATE * 3, SECONDS);
    const latencies = await alertLatency(redis, receiver, 3);
    line(`baseline: POST → received at ${RATE * 3}/s`, ms(baseline));
    line(`alert committed → received, ${RATE} alerts/s × 3 webhooks`, ms(latencies));
  } finally {
    await db.end();
    await api.stop();
    await receiver.close();
    redis.disconnect();
    await dropScratchDatabase(DATABASE);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
