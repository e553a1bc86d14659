/**
 * Channels, two parts (BENCH_ONLY=latency or BENCH_ONLY=counts runs one; both by default):
 *
 * 1. Latency. BENCH_RATE alerts/s for BENCH_SECONDS s (default 100 × 60, the size) fanned out to 10
 *    channels: two webhooks, Slack, Discord, ntfy and Telegram at a local HTTP receiver; two Alertmanager
 *    channels at the real Alertmanager (/usr/bin/prometheus-alertmanager, or ALERTMANAGER_BIN) through a
 *    pass-through proxy that notes when Alertmanager has answered and counts each request; two email channels
 *    at a local smtp-server (STARTTLS + AUTH). Alert committed → received, p50 and p99 per type; beside it, in
 *    the same run and before it, the same requests sent by the benchmark itself to the same receivers at the
 *    same rate (one per channel per alert: an HTTP POST of the same kind, an alerts POST to Alertmanager, an
 *    email through one pooled nodemailer transport per channel with the same STARTTLS + AUTH). Lost and doubled
 *    deliveries per channel, and how many of the alerts Alertmanager holds at the end (its own GET).
 * 2. Counts. BENCH_COUNT_ALERTS alerts (default 10,000) to BENCH_COUNT_CHANNELS channels (default 20) with
 *    digests, quiet hours, snooze and mute: what the receivers got (own messages, digests and the alerts in
 *    each, suppressed entries in the log) against what the noise rules predict, computed by
 *    test/support/noise-oracle.ts from the rules' definition (docs/CHANNELS.md), not by the API's code.
 *
 * Against the built API (its own process): npm run build && npm run bench:channels
 * BENCH_REDIS_URL (default the benchmarks' database 14) and BENCH_DATABASE (default pairwatch_bench_channels)
 * keep two runs apart.
 */
import { randomUUID } from 'node:crypto';
import { Agent, request } from 'node:http';
import Redis from 'ioredis';
import { createTransport, type Transporter } from 'nodemailer';
import { Client } from 'pg';
import { ALERT_EVENT_FIELD, ALERTS_STREAM, AlertEvent } from '@pairwatch/contracts';
import { alertmanagerInstalled, TestAlertmanager } from '../test/support/alertmanager';
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
import { runCounts } from './support/channel-counts';
import { cpuLedger } from './support/cpu-ledger';
import { readdirSync, readFileSync } from 'node:fs';
import { SMTP_PASSWORD, SMTP_USER, startReceiver, type ReceiverProcess } from './support/channel-receivers';

const RATE = Number(process.env.BENCH_RATE ?? 100);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 60);
const ONLY = process.env.BENCH_ONLY ?? '';
const DATABASE = process.env.BENCH_DATABASE ?? 'pairwatch_bench_channels';
const BOT_TOKEN = '123456789:AAbenchbenchbenchbenchbenchbenchbench';

const TYPES = ['webhook', 'slack', 'discord', 'ntfy', 'telegram', 'alertmanager', 'email'] as const;
type Type = (typeof TYPES)[number];
const HTTP_TYPES: readonly Type[] = ['webhook', 'slack', 'discord', 'ntfy', 'telegram', 'alertmanager'];

/** The ten channels: a label (how its requests are told apart at the receivers) and its type. */
const CHANNELS: readonly { label: string; type: Type }[] = [
  { label: 'webhook-a', type: 'webhook' },
  { label: 'webhook-b', type: 'webhook' },
  { label: 'slack', type: 'slack' },
  { label: 'discord', type: 'discord' },
  { label: 'ntfy', type: 'ntfy' },
  { label: 'telegram', type: 'telegram' },
  { label: 'am-a', type: 'alertmanager' },
  { label: 'am-b', type: 'alertmanager' },
  { label: 'email-a', type: 'email' },
  { label: 'email-b', type: 'email' },
];

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

/** Runs `each(n)` RATE times a second until `count` calls are made. */
async function paced(count: number, each: (n: number) => void): Promise<void> {
  const start = performance.now();
  for (let sent = 0; sent < count;) {
    const due = Math.min(count, Math.floor((elapsedMs(start) * RATE) / 1000));
    for (; sent < due; sent += 1) each(sent);
    await sleep(1);
  }
}

/**
 * The same requests the API makes, sent by the benchmark straight to the same receivers at the same rate: per
 * alert, one per channel (HTTP POSTs with keep-alive of the channel's kind, an alerts POST that the proxy
 * passes on to Alertmanager, an email per email channel through a pooled transport).
 */
async function directBaseline(
  httpPort: number,
  smtpPort: number,
  receivers: ReceiverProcess[],
  count: number,
): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const mail = new Map<string, Transporter>(
    CHANNELS.filter((c) => c.type === 'email').map((c) => [
      c.label,
      createTransport({
        url: `smtp://${SMTP_USER}:${SMTP_PASSWORD}@127.0.0.1:${smtpPort}?tls.rejectUnauthorized=false`,
        pool: true,
        maxConnections: 4,
      }),
    ]),
  );
  const paths: Record<string, string> = {
    telegram: `/bot${BOT_TOKEN}/sendMessage`,
    ntfy: '/ntfy/',
    'am-a': '/am-a/api/v2/alerts',
    'am-b': '/am-b/api/v2/alerts',
  };
  const sends: Promise<unknown>[] = [];
  const post = (label: string, body: string, at: string) =>
    new Promise<void>((done) => {
      const req = request(
        {
          host: '127.0.0.1',
          port: httpPort,
          path: paths[label] ?? `/h/${label}`,
          method: 'POST',
          agent,
          headers: { 'x-bench-sent-at': at, 'content-type': 'application/json' },
        },
        (res) => res.resume().on('end', () => done()),
      );
      req.on('error', () => done());
      req.end(body);
    });
  await paced(count, () => {
    const event = alertEvent();
    const at = String(Date.now());
    const now = new Date();
    for (const { label, type } of CHANNELS) {
      if (type === 'email') {
        sends.push(
          mail
            .get(label)!
            .sendMail({
              from: 'bench@example.com',
              to: `${label}@example.com`,
              subject: `[pairwatch] ${event.pair} up ${event.changePercent} %`,
              text: JSON.stringify(event),
              html: `<p>${JSON.stringify(event)}</p>`,
              headers: { 'x-bench-sent-at': at },
            })
            .catch(() => undefined),
        );
      } else if (type === 'alertmanager') {
        const alert = {
          labels: { alertname: 'bench_direct', pair: event.pair, monitor: event.monitorId },
          annotations: { summary: 'direct', price: event.price },
          startsAt: now.toISOString(),
          endsAt: new Date(now.getTime() + 3_600_000).toISOString(),
        };
        sends.push(post(label, JSON.stringify([alert]), at));
      } else {
        sends.push(post(label, JSON.stringify({ type: 'alert.created', data: event }), at));
      }
    }
  });
  await Promise.all(sends);
  await until(
    'the direct sends received',
    async () => {
      const counts = Object.assign(
        {},
        ...(await Promise.all(receivers.map(async (r) => (await r.progress()).direct))),
      );
      return CHANNELS.every((c) => (counts[c.label] ?? 0) >= count);
    },
    60_000,
    200,
  ).catch(() => undefined);
  agent.destroy();
  for (const transport of mail.values()) transport.close();
}

const line = (label: string, value: string) => console.log(`  ${label.padEnd(46)} ${value}`);
const ms = (samples: number[]) =>
  samples.length
    ? `p50 ${fmt(quantile(samples, 0.5))} ms, p99 ${fmt(quantile(samples, 0.99))} ms`
    : 'no samples';

async function runLatency(): Promise<void> {
  if (!alertmanagerInstalled())
    throw new Error('no Alertmanager binary (apt-get install prometheus-alertmanager, or ALERTMANAGER_BIN)');
  const url = await scratchDatabase(DATABASE);
  const redis = new Redis(BENCH_REDIS_URL);
  await redis.del(ALERTS_STREAM);
  const alertmanager = await new TestAlertmanager().start();
  const http = await startReceiver('http', alertmanager.port);
  const smtp = await startReceiver('smtp');
  const receivers = [http, smtp];
  const api = await startApi(url, 'channels', {
    CHANNEL_ALLOWED_HOSTS: `127.0.0.1:${http.port}`,
    TELEGRAM_API_URL: `http://127.0.0.1:${http.port}`,
    SMTP_URL: `smtp://${SMTP_USER}:${SMTP_PASSWORD}@127.0.0.1:${smtp.port}?tls.rejectUnauthorized=false`,
  }).catch(async (error: unknown) => {
    // An API that did not start must not leave Alertmanager and the receivers running.
    await Promise.all([http.close(), smtp.close(), alertmanager.stop()]);
    redis.disconnect();
    throw error;
  });
  const db = new Client({ connectionString: url });
  await db.connect();
  try {
    const base = `http://127.0.0.1:${http.port}`;
    const config = (label: string, type: Type): Record<string, unknown> => {
      if (type === 'telegram') return { botToken: BOT_TOKEN, chatId: '-100123' };
      if (type === 'email') return { to: [`${label}@example.com`] };
      if (type === 'ntfy') return { url: `${base}/ntfy/bench-topic` };
      if (type === 'alertmanager') return { url: `${base}/${label}` };
      return { url: `${base}/h/${label}` };
    };
    for (const { label, type } of CHANNELS) {
      const res = await fetch(`${api.url}/channels`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ type, name: label, config: config(label, type) }),
      });
      if (res.status !== 201) throw new Error(`POST /channels ${label}: ${res.status} ${await res.text()}`);
    }
    const total = RATE * SECONDS;
    console.log(
      `channels, latency: ${RATE} alerts/s for ${SECONDS} s (${total} alerts) to ${CHANNELS.length} channels ` +
        `(${CHANNELS.map((c) => c.label).join(', ')}); Alertmanager ${alertmanager.url}`,
    );

    await directBaseline(http.port, smtp.port, receivers, total);

    const events = Array.from({ length: total }, () => alertEvent());
    for (const r of receivers) r.setWanted(events.map((e) => e.monitorId));
    const cpuBefore = api.cpuMs();
    const ledger = cpuLedger({ postgres: postgresPids() });
    const statementsBefore = await committedStatements(db);
    const started = performance.now();
    await paced(
      total,
      (n) => void redis.xadd(ALERTS_STREAM, '*', ALERT_EVENT_FIELD, JSON.stringify(events[n])),
    );
    await until(
      'every alert at every channel (or 120 s)',
      async () => {
        const counts = Object.assign(
          {},
          ...(await Promise.all(receivers.map(async (r) => (await r.progress()).arrivals))),
        );
        return CHANNELS.every((c) => (counts[c.label] ?? 0) >= total);
      },
      120_000,
      100,
    ).catch(() => undefined);
    const drainedS = elapsedMs(started) / 1000;
    const cpuMs = api.cpuMs() - cpuBefore;
    const spent = ledger.stop();
    const statements = (await committedStatements(db)) - statementsBefore;
    // A doubled delivery would arrive a little later: give the stragglers a moment before counting.
    await sleep(2000);
    const noted = await Promise.all(receivers.map((r) => r.dump()));
    const arrivalsOf = (label: string) =>
      noted.find((n) => n.arrivals.has(label))?.arrivals.get(label) ?? new Map<string, number[]>();
    const directOf = (label: string) => noted.find((n) => n.direct.has(label))?.direct.get(label) ?? [];
    const committed = new Map(
      (
        await db.query<{ monitor_id: string; at: string }>(
          `SELECT monitor_id, (extract(epoch FROM created_at) * 1000)::bigint::text AS at FROM alerts`,
        )
      ).rows.map((r) => [r.monitor_id, Number(r.at)]),
    );
    const held = new Set(
      (await alertmanager.alerts())
        .filter((a) => a.labels.alertname === 'pairwatch_alert_created')
        .map((a) => a.labels.monitor),
    );
    console.log(
      `  (sent over ${SECONDS} s, all received after ${fmt(drainedS, 1)} s; the API's CPU ${fmt(cpuMs / drainedS / 10, 0)} % of one core)`,
    );
    const byType = new Map<Type, { latencies: number[]; direct: number[] }>();
    for (const { label, type } of CHANNELS) {
      const entry = byType.get(type) ?? { latencies: [], direct: [] };
      byType.set(type, entry);
      let doubled = 0;
      const latencies: number[] = [];
      for (const [monitorId, times] of arrivalsOf(label)) {
        const at = committed.get(monitorId);
        if (at !== undefined) latencies.push(times[0] - at);
        if (times.length > 1) doubled += times.length - 1;
      }
      entry.latencies.push(...latencies);
      entry.direct.push(...directOf(label));
      const lost = total - arrivalsOf(label).size;
      line(`  ${label}`, `${ms(latencies)}; lost ${lost}, doubled ${doubled}`);
    }
    for (const type of TYPES) {
      const { latencies, direct } = byType.get(type)!;
      const goal = HTTP_TYPES.includes(type) ? { p50: 50, p99: 250 } : { p50: Infinity, p99: 500 };
      const p50 = quantile(latencies, 0.5);
      const p99 = quantile(latencies, 0.99);
      const met = p50 <= goal.p50 && p99 <= goal.p99 ? 'goal met' : 'GOAL MISSED';
      line(
        `${type}: committed → received`,
        `${ms(latencies)} | direct ${ms(direct)} | ratio p50 ${fmt(p50 / Math.max(1, quantile(direct, 0.5)), 1)}× ` +
          `p99 ${fmt(p99 / Math.max(1, quantile(direct, 0.99)), 1)}× | ${met}`,
      );
    }
    line('Alertmanager holds (its GET /api/v2/alerts)', `${held.size} of ${total} alerts`);
    if (process.env.BENCH_TIMELINE) {
      console.log(
        `  Postgres' CPU ${fmt((spent.byName.get('postgres') ?? 0) / drainedS / 10, 0)} % of one core, the machine ` +
          `${fmt((100 * spent.busy) / Math.max(1, spent.busy + spent.idle), 0)} % busy; ${statements} transactions ` +
          `committed in the bench database (${fmt(statements / drainedS, 0)}/s)`,
      );
      await timeline(db);
    }
  } finally {
    await db.end();
    await api.stop();
    await http.close();
    await smtp.close();
    await alertmanager.stop();
    redis.disconnect();
    await dropScratchDatabase(DATABASE);
  }
}

/** The pids of the local Postgres server's processes (none when it runs elsewhere). */
function postgresPids(): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'postgres';
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** Transactions committed so far in the benchmark's database (each statement outside a transaction is one). */
async function committedStatements(db: Client): Promise<number> {
  await db.query('SELECT pg_stat_clear_snapshot()');
  const { rows } = await db.query<{ n: string }>(
    'SELECT xact_commit::text AS n FROM pg_stat_database WHERE datname = current_database()',
  );
  return Number(rows[0]?.n ?? 0);
}

/**
 * BENCH_TIMELINE=1: where the time of a delivery goes, per type and per 10 s of the run (by commit time), from
 * the delivery log: committed → its first attempt started (waiting in the queue), and the attempt's own
 * duration (the send), p50 and max; each of the first 10 s apart (where a burst's first seconds differ).
 */
async function timeline(db: Client): Promise<void> {
  const { rows } = await db.query<{
    type: string;
    bucket: number;
    n: number;
    wait50: number;
    waitmax: number;
    send50: number;
    sendmax: number;
  }>(
    `WITH t0 AS (SELECT min(created_at) AS t0 FROM alerts),
     x AS (
       SELECT w.format AS type, CASE WHEN a.created_at - t0.t0 < interval '10 seconds'
           THEN floor(extract(epoch FROM a.created_at - t0.t0))::int
           ELSE 10 * floor(extract(epoch FROM a.created_at - t0.t0) / 10)::int END AS bucket,
         extract(epoch FROM (d.attempts -> 0 ->> 'at')::timestamptz - a.created_at) * 1000 AS wait,
         (d.attempts -> 0 ->> 'durationMs')::float8 AS send
       FROM webhook_deliveries d JOIN channels w ON w.id = d.webhook_id
       JOIN alerts a ON a.id::text = d.event_id, t0
       WHERE d.event_type = 'alert.created' AND jsonb_array_length(d.attempts) > 0)
     SELECT type, bucket, count(*)::int AS n,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY wait)::int AS wait50, max(wait)::int AS waitmax,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY send)::int AS send50, max(send)::int AS sendmax
     FROM x GROUP BY type, bucket ORDER BY type, bucket`,
  );
  console.log(
    '  timeline (by commit time: each of the first 10 s, then per 10 s): queue wait p50/max, send p50/max, ms',
  );
  for (const r of rows)
    line(
      `    ${r.type} ${String(r.bucket).padStart(3)} s (${r.n})`,
      `wait ${r.wait50}/${r.waitmax}, send ${r.send50}/${r.sendmax}`,
    );
}

async function main(): Promise<void> {
  if (ONLY !== 'counts') await runLatency();
  if (ONLY !== 'latency') await runCounts(DATABASE);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
