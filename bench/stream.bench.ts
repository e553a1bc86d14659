/**
 * The live stream against polling, in one run: BENCH_RATE alerts/s (200) XADDed for BENCH_SECONDS (20), each
 * stamped observedAt = now as it is sent, through the built API (its own process) into Postgres, while
 * BENCH_CLIENTS (50) clients hold `GET /alerts/stream` open and BENCH_POLLERS (5) clients poll `GET /alerts`
 * every BENCH_POLL_MS (250) ms, staggered. For every alert, on one clock (this process): when its commit was seen (a
 * LISTEN on the channel the ingestion statement notifies, the same notification the API's streams start
 * from), when each stream client received it, and when each poller first saw it.
 *
 *   npm run build && npm run bench:stream
 *
 * Scratch database pairwatch_bench_stream (dropped afterwards), Redis database 14 (BENCH_REDIS_URL; emptied).
 */
import { randomUUID } from 'node:crypto';
import { request } from 'node:http';
import Redis from 'ioredis';
import { Client } from 'pg';
import { ALERT_EVENT_FIELD, ALERTS_STREAM, type AlertEvent } from '@pairwatch/contracts';
import { ALERTS_CHANNEL, parseNotifiedIds } from '../apps/api/src/alerts/alerts.repository';
import {
  BENCH_REDIS_URL,
  dropScratchDatabase,
  elapsedMs,
  fmt,
  quantile,
  scratchDatabase,
  sleep,
  startApi,
  until,
} from './support/bench-env';

const RATE = Number(process.env.BENCH_RATE ?? 200);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 20);
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 50);
const POLLERS = Number(process.env.BENCH_POLLERS ?? 5);
const POLL_MS = Number(process.env.BENCH_POLL_MS ?? 250);
const POLL_LOOKBACK_MS = 1000;
const DATABASE = 'pairwatch_bench_stream';
const MONITOR_ID = randomUUID();

function event(i: number): AlertEvent {
  return {
    id: randomUUID(),
    monitorId: MONITOR_ID,
    pair: 'BTC-USD',
    ruleId: 'r1',
    kind: 'move',
    details: {},
    direction: i % 2 === 0 ? 'up' : 'down',
    priceField: 'ask',
    referencePrice: '63120.45',
    price: `${63120 + (i % 1000)}.45`,
    changePercent: '0.01234567',
    thresholdPercent: '0.01',
    intervalMs: 5000,
    observedAt: new Date().toISOString(),
  };
}

/** One stream client: the time each alert id arrived. */
function openStream(url: string, seen: Map<string, number>): Promise<() => void> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}/alerts/stream`, { headers: { Accept: 'text/event-stream' } }, (res) => {
      if (res.statusCode !== 200) return reject(new Error(`stream answered ${res.statusCode}`));
      let buffer = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        const now = performance.now();
        buffer += chunk;
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = block.split('\n').find((line) => line.startsWith('data: '));
          if (data) seen.set((JSON.parse(data.slice(6)) as { id: string }).id, now);
        }
      });
      resolve(() => req.destroy());
    });
    req.on('error', (error) => reject(error));
    req.end();
  });
}

/**
 * One poller, as a careful client polls: GET /alerts every POLL_MS since the newest observedAt it has seen minus
 * POLL_LOOKBACK_MS (1 s: alerts do not commit in observedAt order exactly), deduplicated by id; the time each id first
 * showed.
 */
function startPoller(url: string, seen: Map<string, number>, offsetMs: number): () => Promise<void> {
  let running = true;
  let newest: number | undefined;
  const loop = (async () => {
    await sleep(offsetMs);
    while (running) {
      const started = performance.now();
      const since = newest === undefined ? undefined : new Date(newest - POLL_LOOKBACK_MS).toISOString();
      const query = new URLSearchParams({ limit: '500', ...(since ? { since } : {}) });
      const res = await fetch(`${url}/alerts?${query.toString()}`);
      const page = (await res.json()) as { items: { id: string; observedAt: string }[] };
      const now = performance.now();
      for (const item of page.items) if (!seen.has(item.id)) seen.set(item.id, now);
      if (page.items[0]) newest = Math.max(newest ?? 0, Date.parse(page.items[0].observedAt));
      await sleep(Math.max(0, POLL_MS - elapsedMs(started)));
    }
  })().catch((error: unknown) => {
    if (running) throw error;
  });
  return async () => {
    running = false;
    await loop;
  };
}

const stats = (samples: number[]) =>
  `p50 ${fmt(quantile(samples, 0.5), 1)} ms   p99 ${fmt(quantile(samples, 0.99), 1)} ms   (${fmt(samples.length)} samples)`;

async function main(): Promise<void> {
  const url = await scratchDatabase(DATABASE);
  const redis = new Redis(BENCH_REDIS_URL);
  await redis.flushdb();
  const api = await startApi(url, 'stream');
  const listener = new Client({ connectionString: url });
  await listener.connect();
  const stops: (() => void)[] = [];
  const pollerStops: (() => Promise<void>)[] = [];
  try {
    const committed = new Map<string, number>();
    listener.on('notification', (message) => {
      const now = performance.now();
      for (const id of parseNotifiedIds(message.payload)) committed.set(id, now);
    });
    await listener.query(`LISTEN ${ALERTS_CHANNEL}`);
    const streams = Array.from({ length: CLIENTS }, () => new Map<string, number>());
    for (const seen of streams) stops.push(await openStream(api.url, seen));
    const polls = Array.from({ length: POLLERS }, () => new Map<string, number>());
    const pollers = polls.map((seen, i) => startPoller(api.url, seen, (i * POLL_MS) / POLLERS));
    pollerStops.push(...pollers);

    const sentAt = new Map<string, number>();
    const total = RATE * SECONDS;
    const start = performance.now();
    let sent = 0;
    let failed: Error | undefined;
    while (sent < total) {
      const due = Math.min(total, Math.floor((elapsedMs(start) * RATE) / 1000));
      for (; sent < due; sent++) {
        const alert = event(sent);
        sentAt.set(alert.id, performance.now());
        redis.xadd(ALERTS_STREAM, '*', ALERT_EVENT_FIELD, JSON.stringify(alert)).catch((error: Error) => {
          failed = error;
        });
      }
      await sleep(1);
    }
    const everywhere = () =>
      Promise.resolve(
        committed.size >= total &&
          streams.every((s) => s.size >= total) &&
          polls.every((p) => p.size >= total),
      );
    await until(
      'every alert committed, streamed to every client and seen by every poller',
      everywhere,
      60_000,
      20,
    ).catch((error: Error) => {
      const sizes = (maps: Map<string, number>[]) => maps.map((m) => m.size).join(',');
      throw new Error(
        `${error.message}: committed ${committed.size}/${total}, streams ${sizes(streams)}, pollers ${sizes(polls)}`,
      );
    });
    if (failed) throw failed;
    for (const stop of pollers) await stop();

    const commit: number[] = [];
    const stream: number[] = [];
    const added: number[] = [];
    const poll: number[] = [];
    for (const [id, sent] of sentAt) {
      const at = committed.get(id) as number;
      commit.push(at - sent);
      for (const seen of streams) {
        const got = seen.get(id) as number;
        stream.push(got - sent);
        added.push(got - at);
      }
      for (const seen of polls) poll.push((seen.get(id) as number) - sent);
    }
    const streamP50 = quantile(stream, 0.5);
    const pollP50 = quantile(poll, 0.5);
    console.log(
      `stream vs polling: ${fmt(RATE)} alerts/s for ${SECONDS} s (${fmt(total)} alerts), ${CLIENTS} stream clients, ` +
        `${POLLERS} pollers every ${POLL_MS} ms; latency from XADD (observedAt) on one clock:`,
    );
    console.log(`  committed (LISTEN, baseline):  ${stats(commit)}`);
    console.log(`  GET /alerts/stream:            ${stats(stream)}`);
    console.log(`  GET /alerts polling:           ${stats(poll)}`);
    console.log(
      `  the stream adds to the commit, per alert and client: p50 ${fmt(quantile(added, 0.5), 1)} ms   ` +
        `p99 ${fmt(quantile(added, 0.99), 1)} ms   (target p50 ≤ 5)`,
    );
    console.log(
      `  polling − stream, p50: ${fmt(pollP50 - streamP50, 1)} ms (polling p50 is ${fmt(pollP50 / streamP50, 1)}× the stream's)`,
    );
    console.log(`  the API process's CPU over the run: ${fmt(api.cpuMs())} ms`);
  } finally {
    for (const stop of stops) stop();
    for (const stop of pollerStops) await stop().catch(() => undefined);
    await listener.end();
    await api.stop();
    await redis.flushdb();
    redis.disconnect();
    await dropScratchDatabase(DATABASE);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
