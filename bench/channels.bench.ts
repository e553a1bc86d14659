/**
 * Channels: alert committed → received at a steady rate fanned out to one channel of every type (webhook,
 * Slack, Discord, ntfy, Alertmanager and Telegram at a local HTTP receiver, email at a local smtp-server), p50
 * and p99 per type; beside it, in the same run, the same receivers hit directly by the benchmark (HTTP POSTs
 * with keep-alive, emails sent with nodemailer over the same STARTTLS + AUTH). Counts lost and doubled
 * deliveries per type. Against the built API (its own process).
 *
 *   npm run build && npm run bench:channels
 *   BENCH_RATE=20 BENCH_SECONDS=20 (defaults; the full run is BENCH_RATE=100 BENCH_SECONDS=60).
 */
import { randomUUID } from 'node:crypto';
import { Agent, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import Redis from 'ioredis';
import { createTransport } from 'nodemailer';
import { Client } from 'pg';
import { SMTPServer } from 'smtp-server';
import { ALERT_EVENT_FIELD, ALERTS_STREAM, AlertEvent } from '@pairwatch/contracts';
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

const RATE = Number(process.env.BENCH_RATE ?? 20);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 20);
const DATABASE = 'pairwatch_bench_channels';
const BOT_TOKEN = '123456789:AAbenchbenchbenchbenchbenchbenchbench';
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;
const TYPES = ['webhook', 'slack', 'discord', 'ntfy', 'alertmanager', 'telegram', 'email'] as const;
type Type = (typeof TYPES)[number];

/** Arrivals per type: monitor id (one per alert) → arrival times (ms since epoch). */
type Arrivals = Record<Type, Map<string, number[]>>;

const arrivals = (): Arrivals =>
  Object.fromEntries(TYPES.map((t) => [t, new Map<string, number[]>()])) as Arrivals;

function record(into: Map<string, number[]>, body: string, wanted: ReadonlySet<string>, at: number): void {
  for (const id of new Set(body.match(UUID) ?? [])) {
    if (wanted.has(id)) into.set(id, [...(into.get(id) ?? []), at]);
  }
}

/** One HTTP receiver for every HTTP type; the path (or the body's shape) says which type a request is. */
function startHttp(state: { arrivals: Arrivals; wanted: Set<string>; direct: number[] }) {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const at = Date.now();
      const body = Buffer.concat(chunks).toString('utf8');
      const url = req.url ?? '/';
      const sentAt = Number(req.headers['x-bench-sent-at']);
      if (sentAt) state.direct.push(at - sentAt);
      else if (url.startsWith('/bot')) record(state.arrivals.telegram, body, state.wanted, at);
      else if (url === '/api/v2/alerts') record(state.arrivals.alertmanager, body, state.wanted, at);
      else if (url === '/') record(state.arrivals.ntfy, body, state.wanted, at);
      else if (url === '/webhook' || url === '/slack' || url === '/discord')
        record(state.arrivals[url.slice(1) as Type], body, state.wanted, at);
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(url.startsWith('/bot') ? '{"ok":true,"result":{}}' : '');
    });
  });
  return new Promise<{ port: number; close: () => Promise<void> }>((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        port: (server.address() as AddressInfo).port,
        close: () => {
          server.closeAllConnections();
          return new Promise<void>((done) => server.close(() => done()));
        },
      }),
    ),
  );
}

/** A local SMTP server (STARTTLS with smtp-server's test certificate, AUTH); arrivals by monitor id. */
function startSmtp(state: { arrivals: Arrivals; wanted: Set<string>; direct: number[] }) {
  const server = new SMTPServer({
    logger: false,
    authOptional: false,
    onAuth: (_auth, _session, cb) => cb(null, { user: 'bench' }),
    onData: (stream, _session, cb) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const at = Date.now();
        // Quoted-printable may break a line inside an id: join the soft breaks first.
        const raw = Buffer.concat(chunks)
          .toString('utf8')
          .replace(/=\r?\n/g, '');
        const sentAt = Number(/^x-bench-sent-at: (\d+)/im.exec(raw)?.[1]);
        if (sentAt) state.direct.push(at - sentAt);
        else record(state.arrivals.email, raw, state.wanted, at);
        cb();
      });
    },
  });
  return new Promise<{ port: number; close: () => Promise<void> }>((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        port: (server.server.address() as AddressInfo).port,
        close: () => new Promise<void>((done) => server.close(() => done())),
      }),
    ),
  );
}

function alertEvent(): AlertEvent {
  return {
    id: randomUUID(),
    monitorId: randomUUID(),
    pair: 'BTC-USD',
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

/** The same number of requests the API makes, sent straight to the receivers: HTTP POSTs and SMTP messages. */
async function directBaseline(
  httpPort: number,
  smtpPort: number,
  state: { directHttp: number[]; directSmtp: number[] },
  count: number,
): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: 16 });
  const mail = createTransport({
    url: `smtp://bench:bench@127.0.0.1:${smtpPort}?tls.rejectUnauthorized=false`,
  });
  const start = performance.now();
  const sends: Promise<unknown>[] = [];
  for (let sent = 0; sent < count;) {
    const due = Math.min(count, Math.floor((elapsedMs(start) * RATE) / 1000));
    for (; sent < due; sent += 1) {
      const at = String(Date.now());
      sends.push(
        new Promise<void>((done) => {
          const req = request(
            {
              host: '127.0.0.1',
              port: httpPort,
              path: '/direct',
              method: 'POST',
              agent,
              headers: { 'x-bench-sent-at': at, 'content-type': 'application/json' },
            },
            (res) => res.resume().on('end', () => done()),
          );
          req.on('error', () => done());
          req.end('{"direct":true}');
        }),
        mail.sendMail({
          from: 'bench@example.com',
          to: 'ops@example.com',
          subject: 'direct',
          text: 'direct',
          headers: { 'x-bench-sent-at': at },
        }),
      );
    }
    await sleep(1);
  }
  await Promise.all(sends);
  await until(
    'the direct sends received',
    () => Promise.resolve(state.directHttp.length >= count && state.directSmtp.length >= count),
    60_000,
    20,
  );
  agent.destroy();
  mail.close();
}

const line = (label: string, value: string) => console.log(`  ${label.padEnd(44)} ${value}`);
const ms = (samples: number[]) =>
  samples.length
    ? `p50 ${fmt(quantile(samples, 0.5))} ms, p99 ${fmt(quantile(samples, 0.99))} ms`
    : 'no samples';

async function main(): Promise<void> {
  const url = await scratchDatabase(DATABASE);
  const redis = new Redis(BENCH_REDIS_URL);
  await redis.del(ALERTS_STREAM);
  const wanted = new Set<string>();
  const got = arrivals();
  const directHttp: number[] = [];
  const directSmtp: number[] = [];
  const http = await startHttp({ arrivals: got, wanted, direct: directHttp });
  const smtp = await startSmtp({ arrivals: got, wanted, direct: directSmtp });
  const api = await startApi(url, 'channels', {
    CHANNEL_ALLOWED_HOSTS: `127.0.0.1:${http.port}`,
    TELEGRAM_API_URL: `http://127.0.0.1:${http.port}`,
    SMTP_URL: `smtp://bench:bench@127.0.0.1:${smtp.port}?tls.rejectUnauthorized=false`,
  });
  const db = new Client({ connectionString: url });
  await db.connect();
  try {
    const base = `http://127.0.0.1:${http.port}`;
    const configs: Record<Type, Record<string, unknown>> = {
      webhook: { url: `${base}/webhook` },
      slack: { url: `${base}/slack` },
      discord: { url: `${base}/discord` },
      ntfy: { url: `${base}/bench-topic` },
      alertmanager: { url: base },
      telegram: { botToken: BOT_TOKEN, chatId: '-100123' },
      email: { to: ['ops@example.com'] },
    };
    for (const type of TYPES) {
      const res = await fetch(`${api.url}/channels`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ type, config: configs[type] }),
      });
      if (res.status !== 201) throw new Error(`POST /channels ${type}: ${res.status} ${await res.text()}`);
    }
    const total = RATE * SECONDS;
    console.log(
      `channels: ${RATE} alerts/s for ${SECONDS} s (${total} alerts) to ${TYPES.length} channels, one per type`,
    );

    await directBaseline(http.port, smtp.port, { directHttp, directSmtp }, total);

    const events = Array.from({ length: total }, () => alertEvent());
    for (const e of events) wanted.add(e.monitorId);
    const start = performance.now();
    for (let sent = 0; sent < total;) {
      const due = Math.min(total, Math.floor((elapsedMs(start) * RATE) / 1000));
      for (; sent < due; sent += 1)
        void redis.xadd(ALERTS_STREAM, '*', ALERT_EVENT_FIELD, JSON.stringify(events[sent]));
      await sleep(1);
    }
    await until(
      'every alert at every channel (or 120 s)',
      () => Promise.resolve(TYPES.every((t) => got[t].size >= total)),
      120_000,
      50,
    ).catch(() => undefined);
    // A doubled delivery would arrive a little later: give the stragglers a moment before counting.
    await sleep(2000);
    const committed = new Map(
      (
        await db.query<{ monitor_id: string; at: string }>(
          `SELECT monitor_id, (extract(epoch FROM created_at) * 1000)::bigint::text AS at FROM alerts`,
        )
      ).rows.map((r) => [r.monitor_id, Number(r.at)]),
    );
    line('baseline: bench → HTTP receiver (POST)', ms(directHttp));
    line('baseline: bench → SMTP server (STARTTLS, AUTH)', ms(directSmtp));
    for (const type of TYPES) {
      const latencies: number[] = [];
      let doubled = 0;
      for (const [monitorId, times] of got[type]) {
        const at = committed.get(monitorId);
        if (at !== undefined) latencies.push(times[0] - at);
        if (times.length > 1) doubled += times.length - 1;
      }
      const lost = total - got[type].size;
      line(`alert committed → received: ${type}`, `${ms(latencies)}; lost ${lost}, doubled ${doubled}`);
    }
  } finally {
    await db.end();
    await api.stop();
    await http.close();
    await smtp.close();
    redis.disconnect();
    await dropScratchDatabase(DATABASE);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
