/**
 * A counting scenario for the noise rules, shared by bench/channels.bench.ts (10,000 alerts) and
 * test/channels-counts.e2e-spec.ts (a few hundred): 20 webhook channels at one receiver (plain, digest, quiet
 * hours in three zones, quiet hours with a digest, snoozed; filtered by pair and by monitor), two muted
 * monitors, alerts published in waves further apart than the digest window. What the receivers got and the
 * log's `suppressed` entries are then compared with test/support/noise-oracle.ts's prediction, made from
 * the alerts' commit times and the rules' definition.
 */
import { randomUUID } from 'node:crypto';
import type Redis from 'ioredis';
import { ALERT_EVENT_FIELD, ALERTS_STREAM, type AlertEvent } from '@pairwatch/contracts';
import { compare, predict, type OracleAlert, type OracleChannel, type Tally } from './noise-oracle';

export const SCENARIO_PAIRS = [
  'BTC-USD',
  'ETH-USD',
  'SOL-USD',
  'XRP-USD',
  'ADA-USD',
  'DOGE-USD',
  'LTC-USD',
  'DOT-USD',
  'LINK-USD',
  'AVAX-USD',
];
const MONITORS = 50;

/** Zones without DST, so the oracle can use a fixed offset: UTC, India (+05:30), Brazil (−03:00). */
const ZONES = { UTC: 0, 'Asia/Kolkata': 330, 'America/Sao_Paulo': -180 } as const;
type Zone = keyof typeof ZONES;

/** What the scenario needs of its surroundings (the bench's API process or the e2e's in-process API). */
export interface ScenarioHost {
  apiUrl: string;
  /** Base URL of the receiver; channel `key` posts to `${receiverUrl}/n/${key}`. */
  receiverUrl: string;
  query<T>(sql: string, params?: unknown[]): Promise<T[]>;
  redis: Redis;
}

export interface ScenarioOptions {
  alerts: number;
  waves: number;
  digestWindowMs: number;
  /** Pause between waves' starts: longer than the digest window and a wave's deciding. */
  waveGapMs: number;
  /** When the quiet windows end (a whole minute, after the last wave is decided). */
  quietEnd: Date;
}

interface Spec {
  key: string;
  pairs?: string[];
  monitors?: number[];
  digest?: boolean;
  quiet?: Zone;
  snoozed?: boolean;
}

const P = SCENARIO_PAIRS;
/** The 20 channels. */
const SPECS: Spec[] = [
  { key: 'plain-all' },
  { key: 'plain-btc', pairs: [P[0]] },
  { key: 'plain-eth-sol', pairs: [P[1], P[2]] },
  { key: 'plain-monitors', monitors: [3, 4, 5, 6, 7] },
  { key: 'plain-avax', pairs: [P[9]] },
  { key: 'digest-all', digest: true },
  { key: 'digest-five', pairs: P.slice(0, 5), digest: true },
  { key: 'digest-doge', pairs: [P[5]], digest: true },
  { key: 'digest-monitors', monitors: [0, 8, 9], digest: true },
  { key: 'digest-ltc-dot', pairs: [P[6], P[7]], digest: true },
  { key: 'digest-link', pairs: [P[8]], digest: true },
  { key: 'quiet-all', quiet: 'UTC' },
  { key: 'quiet-eth', pairs: [P[1]], quiet: 'Asia/Kolkata' },
  { key: 'quiet-three', pairs: [P[2], P[3], P[4]], quiet: 'America/Sao_Paulo' },
  { key: 'quiet-link', pairs: [P[8]], quiet: 'Asia/Kolkata' },
  { key: 'quiet-monitors', monitors: [1, 10, 11, 12], quiet: 'UTC' },
  { key: 'quiet-digest-all', quiet: 'UTC', digest: true },
  { key: 'quiet-digest-avax', pairs: [P[9]], quiet: 'Asia/Kolkata', digest: true },
  { key: 'snoozed-all', snoozed: true },
  { key: 'snoozed-xrp', pairs: [P[3]], snoozed: true },
];

/** HH:MM at `offsetMinutes` from UTC. */
const clock = (at: number, offsetMinutes: number) =>
  new Date(at + offsetMinutes * 60_000).toISOString().slice(11, 16);

async function api(host: ScenarioHost, method: string, path: string, body: unknown): Promise<unknown> {
  const res = await fetch(`${host.apiUrl}${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return res.json();
}

export interface ScenarioRun {
  channels: OracleChannel[];
  ids: Map<string, string>;
  muted: Set<string>;
  events: AlertEvent[];
  /** ms from the first wave's publication to the last one's. */
  publishedOverMs: number;
}

/** Makes the monitors (two muted) and the 20 channels, then publishes the alerts in waves. */
export async function runScenario(host: ScenarioHost, options: ScenarioOptions): Promise<ScenarioRun> {
  const monitors: string[] = [];
  for (let i = 0; i < MONITORS; i += 1) monitors.push(randomUUID());
  // Two monitors to mute (mute needs their rows); the other alerts' monitors need none.
  for (const id of monitors.slice(0, 2)) {
    await host.query(
      `INSERT INTO monitors (id, pair, interval_ms, threshold_percent, price_field, direction, cooldown_ms, status)
       VALUES ($1, 'BTC-USD', 5000, 1, 'ask', 'both', 0, 'stopped')`,
      [id],
    );
    await api(host, 'POST', `/monitors/${id}/mute`, {
      until: new Date(Date.now() + 3_600_000).toISOString(),
    });
  }
  const muted = new Set(monitors.slice(0, 2));
  const quietFrom = Date.now() - 2 * 3_600_000;
  const channels: OracleChannel[] = [];
  const ids = new Map<string, string>();
  for (const spec of SPECS) {
    const offset = spec.quiet === undefined ? 0 : ZONES[spec.quiet];
    const quiet = spec.quiet
      ? {
          offsetMinutes: offset,
          from: clock(quietFrom, offset),
          to: clock(options.quietEnd.getTime(), offset),
        }
      : null;
    const body: Record<string, unknown> = {
      type: 'webhook',
      name: spec.key,
      config: { url: `${host.receiverUrl}/n/${spec.key}` },
      filter: {
        pairs: spec.pairs ?? [],
        monitorIds: (spec.monitors ?? []).map((i) => monitors[i]),
      },
    };
    if (spec.digest) body.digest = { windowMs: options.digestWindowMs };
    if (quiet && spec.quiet) {
      const days = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
      body.quietHours = { timeZone: spec.quiet, windows: [{ days, from: quiet.from, to: quiet.to }] };
    }
    const created = (await api(host, 'POST', '/channels', body)) as { id: string };
    if (spec.snoozed)
      await api(host, 'POST', `/channels/${created.id}/snooze`, {
        until: new Date(Date.now() + 3_600_000).toISOString(),
      });
    ids.set(spec.key, created.id);
    channels.push({
      key: spec.key,
      pairs: spec.pairs ?? [],
      monitorIds: (spec.monitors ?? []).map((i) => monitors[i]),
      snoozed: spec.snoozed ?? false,
      quiet,
      digestWindowMs: spec.digest ? options.digestWindowMs : null,
    });
  }

  const events: AlertEvent[] = Array.from({ length: options.alerts }, (_, i) => ({
    id: randomUUID(),
    monitorId: monitors[(i * 7) % MONITORS],
    pair: P[i % P.length],
    ruleId: 'r1',
    kind: 'move',
    details: {},
    direction: i % 3 ? 'up' : 'down',
    priceField: 'ask',
    referencePrice: '63120.45',
    price: '63764.10',
    changePercent: '1.02',
    thresholdPercent: '1',
    intervalMs: 5000,
    observedAt: new Date().toISOString(),
  }));
  const perWave = Math.ceil(options.alerts / options.waves);
  const started = Date.now();
  for (let w = 0; w < options.waves; w += 1) {
    const due = started + w * options.waveGapMs;
    if (Date.now() < due) await new Promise((resolve) => setTimeout(resolve, due - Date.now()));
    const tx = host.redis.multi();
    for (const event of events.slice(w * perWave, (w + 1) * perWave))
      tx.xadd(ALERTS_STREAM, '*', ALERT_EVENT_FIELD, JSON.stringify(event));
    await tx.exec();
  }
  return { channels, ids, muted, events, publishedOverMs: Date.now() - started };
}

/** Whether every alert delivery of the scenario's channels is settled and every digest sent. */
export async function scenarioSettled(host: ScenarioHost, run: ScenarioRun): Promise<boolean> {
  const [row] = await host.query<{ alerts: number; open: number }>(
    `SELECT count(*) FILTER (WHERE event_type = 'alert.created')::int AS alerts,
            count(*) FILTER (WHERE status IN ('pending', 'held'))::int AS open
     FROM webhook_deliveries WHERE webhook_id = ANY ($1::uuid[])`,
    [[...run.ids.values()]],
  );
  return row.alerts === expectedDeliveries(run) && row.open === 0;
}

/** How many alert deliveries the scenario's channels want in all (one per alert and channel that wants it). */
export function expectedDeliveries(run: ScenarioRun): number {
  return run.channels.reduce(
    (n, c) =>
      n +
      run.events.filter(
        (e) =>
          (c.pairs.length === 0 || c.pairs.includes(e.pair)) &&
          (c.monitorIds.length === 0 || c.monitorIds.includes(e.monitorId)),
      ).length,
    0,
  );
}

/** A request the receiver got: its path and body. */
export interface ScenarioRequest {
  path: string;
  body: string;
}

/** The prediction (from the alerts' commit times) against the requests and the log, per channel. */
export async function tallyScenario(
  host: ScenarioHost,
  run: ScenarioRun,
  requests: readonly ScenarioRequest[],
): Promise<Tally[]> {
  const committed = await host.query<{ id: string; pair: string; monitor_id: string; at: string }>(
    `SELECT id, pair, monitor_id, (extract(epoch FROM created_at) * 1000)::text AS at FROM alerts
     WHERE id = ANY ($1::uuid[])`,
    [run.events.map((e) => e.id)],
  );
  const alerts: OracleAlert[] = committed.map((r) => ({
    id: r.id,
    pair: r.pair,
    monitorId: r.monitor_id,
    committedAt: Number(r.at),
  }));
  const suppressedRows = await host.query<{ webhook_id: string; event_id: string }>(
    `SELECT webhook_id, event_id FROM webhook_deliveries
     WHERE status = 'suppressed' AND event_type = 'alert.created' AND webhook_id = ANY ($1::uuid[])`,
    [[...run.ids.values()]],
  );
  const tallies: Tally[] = [];
  for (const channel of run.channels) {
    const id = run.ids.get(channel.key)!;
    const own: string[] = [];
    const digests: string[][] = [];
    for (const r of requests.filter((q) => q.path === `/n/${channel.key}`)) {
      const body = JSON.parse(r.body) as { type: string; data: { id?: string; alerts?: { id: string }[] } };
      if (body.type === 'digest') digests.push((body.data.alerts ?? []).map((a) => a.id));
      else if (body.type === 'alert.created' && body.data.id) own.push(body.data.id);
    }
    const suppressed = suppressedRows.filter((r) => r.webhook_id === id).map((r) => r.event_id);
    tallies.push(compare(channel.key, predict(channel, alerts, run.muted), { own, digests, suppressed }));
  }
  return tallies;
}

/** The tallies as a table: per channel, predicted and got (own / digests (alerts in them) / suppressed). */
export function tallyTable(tallies: readonly Tally[]): string {
  const cell = (t: Tally['got']) => `${t.own} / ${t.digests} (${t.digested}) / ${t.suppressed}`;
  const lines = tallies.map(
    (t) =>
      `  ${t.key.padEnd(18)} predicted ${cell(t.predicted).padEnd(24)} got ${cell(t.got).padEnd(24)} ${
        t.problems.length ? `MISMATCH: ${t.problems.join('; ')}` : 'as predicted'
      }`,
  );
  const sum = (pick: (t: Tally) => Tally['got']) =>
    tallies.reduce(
      (s, t) => ({
        own: s.own + pick(t).own,
        digests: s.digests + pick(t).digests,
        digested: s.digested + pick(t).digested,
        suppressed: s.suppressed + pick(t).suppressed,
      }),
      { own: 0, digests: 0, digested: 0, suppressed: 0 },
    );
  lines.push(
    `  ${'all 20'.padEnd(18)} predicted ${cell(sum((t) => t.predicted)).padEnd(24)} got ${cell(sum((t) => t.got)).padEnd(24)}`,
  );
  return ['  channel            own / digests (alerts in them) / suppressed', ...lines].join('\n');
}
