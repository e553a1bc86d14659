/**
 * Rules (issue 19's benchmark): what ten rules of every kind cost beside today's single `move` rule, each figure
 * beside its baseline measured in the same run.
 *
 * - tick: µs per tick of RuleSet.observe (the detectors the worker runs on every tick), ten rules (with a 24 h
 *   window at 1 s, filled with a day of ticks first) against one `move` rule (legacyMoveRule, today's defaults),
 *   over the same random-walk series; medians of each tick timed alone, and p99.
 * - memory: the heap a 24 h `window` rule holds at one tick a second after a full day (86,400 ticks), measured as
 *   the heap delta after full collections (--expose-gc), for a rising price (the worst case: every tick stays in
 *   the min queue) and a random walk; beside a `move` rule fed the same day.
 * - backtest: backtestRules over 86,400 ticks (a day at 1 s) with the ten rules, p50 of BENCH_RULES_ROUNDS, beside
 *   the single move rule; then the same through the API (POST /monitors/backtest over price_ticks in a scratch
 *   database, the built API as `npm run start:api` runs it).
 * - start: a worker container (DockerRuntime, the API's hardened start path, the default 250 millicpus) started
 *   with an hour of its ticks to replay (3,600 at 1 s in its recent-tick stream, no rule snapshot: a first start
 *   after every rule was edited) against one with none, ten rules each, alternated; then that monitor's worker
 *   killed after its first live tick and started again (a crash or an engine restart: it finds the rule snapshot
 *   the killed one wrote with that tick, and the hour of ticks); from the start call (and from the worker's
 *   "worker started" line) to its first live tick (lastTickAt in its state hash).
 * - rss: the memory of a worker container ticking at 1 s (the engine's stats: usage less inactive file pages, as
 *   `docker stats` shows it), ten rules with PRICE_HISTORY_MS=24 h and a full day (86,400 rising ticks) replayed
 *   into the 24 h window, against today's single move rule with no history.
 *
 *   flock /work/wt/heavy.lock env WORKER_IMAGE=pairwatch-worker:<tag> npm run bench:rules
 *   BENCH_RULES_PARTS=tick,memory,backtest   (any of tick, memory, backtest, api, start, rss; default all)
 *
 * Needs `npm run build` (api) and a worker image (start, rss); Redis BENCH_REDIS_URL (emptied); a scratch
 * database pairwatch_bench_rules (api); containers labelled pairwatch.instance=bench-rules, removed at the end.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import Docker from 'dockerode';
import Redis from 'ioredis';
import { Client } from 'pg';
import {
  backtestRules,
  legacyMoveRule,
  parseRulesInput,
  parseWorkerState,
  ReplayTick,
  Rule,
  RuleSet,
  standaloneRedis,
  toWorkerEnv,
  workerStateKey,
} from '@pairwatch/contracts';
import { FakeUpholdServer } from '../apps/fake-ticker/src/fake-uphold.server';
import { DockerRuntime } from '../apps/api/src/runtime/docker.runtime';
import {
  BENCH_REDIS_URL,
  collectGarbage,
  dropScratchDatabase,
  fmt,
  median,
  quantile,
  scratchDatabase,
  sleep,
  startApi,
  until,
} from './support/bench-env';
import { centsText, random, series, storeTicks, TEN_RULES_INPUT } from './support/rules-fixtures';

const DAY_TICKS = 86_400;
const HOUR_TICKS = 3_600;
const ROUNDS = Number(process.env.BENCH_RULES_ROUNDS ?? 7);
const TIMED_TICKS = Number(process.env.BENCH_RULES_TICKS ?? 20_000);
const STARTS = Number(process.env.BENCH_RULES_STARTS ?? 5);
const WORKER_IMAGE = process.env.WORKER_IMAGE ?? 'pairwatch-worker:latest';
const MILLICPUS = Number(process.env.BENCH_RULES_MILLICPUS ?? 250);
const INSTANCE = 'bench-rules';
const PARTS = new Set(
  (process.env.BENCH_RULES_PARTS ?? 'tick,memory,backtest,api,start,rss').split(',').map((p) => p.trim()),
);
const MiB = 1024 * 1024;

function tenRules(): Rule[] {
  const parsed = parseRulesInput(TEN_RULES_INPUT, { intervalMs: 1000, now: Date.now() });
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  return parsed.rules;
}

const loadAverage = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

/** Today's rule: what a monitor made without `rules` runs. */
const oneMove = (): Rule[] => [legacyMoveRule({})];

function heapUsed(): number {
  collectGarbage();
  collectGarbage();
  return process.memoryUsage().heapUsed;
}

/** µs per tick of a rule set after `warm` ticks, each of the next `timed` ticks timed alone. */
function perTick(rules: Rule[], ticks: ReplayTick[], warm: number): number[] {
  const set = new RuleSet(rules);
  for (let i = 0; i < warm; i++) set.observe(ticks[i], ticks[i].atMs);
  const samples: number[] = [];
  for (let i = warm; i < ticks.length; i++) {
    const t0 = process.hrtime.bigint();
    set.observe(ticks[i], ticks[i].atMs);
    samples.push(Number(process.hrtime.bigint() - t0) / 1000);
  }
  return samples;
}

function benchTick(): void {
  const ticks = series(DAY_TICKS + TIMED_TICKS, Date.UTC(2026, 0, 1), 1);
  // Today's rule and the ten alternate, three rounds each, over the same ticks; every round starts afresh and
  // first fills a day (the ten's 24 h window full), untimed.
  const one: number[] = [];
  const ten: number[] = [];
  for (let round = 0; round < 3; round++) {
    one.push(...perTick(oneMove(), ticks, DAY_TICKS));
    ten.push(...perTick(tenRules(), ticks, DAY_TICKS));
  }
  const line = (name: string, s: number[]) =>
    `${name}: median ${fmt(median(s), 2)} µs, p99 ${fmt(quantile(s, 0.99), 2)} µs a tick`;
  console.log(`per tick (RuleSet.observe, ${fmt(one.length)} ticks timed each, after a day of ticks):`);
  console.log(`  baseline, today's one move rule ${line('', one).slice(2)}`);
  console.log(
    `  ten rules (24 h window at 1 s full) ${line('', ten).slice(2)}; ${fmt(median(ten) / median(one), 1)}× the baseline (goal ≤ 50 µs)`,
  );
}

/** The heap a rule set holds after a day of ticks (delta after full collections). */
function heldAfterDay(rules: Rule[], rising: boolean): { bytes: number; set: RuleSet } {
  const before = heapUsed();
  const set = new RuleSet(rules);
  // The ticks are made one at a time, as a worker parses each quote: only what the rules keep stays.
  const next = random(2);
  let cents = 6_000_000;
  const start = Date.UTC(2026, 0, 1);
  for (let i = 0; i < DAY_TICKS; i++) {
    cents += rising ? 1 : Math.round((next() - 0.5) * 600);
    const ask = centsText(cents);
    set.observe({ ask, bid: centsText(cents - 100) }, start + i * 1000);
  }
  return { bytes: heapUsed() - before, set };
}

function benchMemory(): void {
  if (!(globalThis as { gc?: unknown }).gc)
    throw new Error('run with node --expose-gc (npm run bench:rules)');
  const windowRule = tenRules().find((r) => r.kind === 'window' && r.windowMs === 86_400_000)!;
  /** Windows that never fire over the day (50 %), so they keep every tick the rule allows. */
  const holding = (r: Rule): Rule => (r.kind === 'window' ? { ...r, thresholdPercent: '50' } : r);
  const results: [string, number, number | undefined][] = [];
  for (const [name, rules, rising] of [
    ["baseline, today's move rule, random walk", oneMove(), false],
    ['24 h window, random walk', [holding(windowRule)], false],
    ['24 h window, rising price (all 86,400 kept)', [holding(windowRule)], true],
    ['ten rules, rising price', tenRules().map(holding), true],
  ] as const) {
    const samples: number[] = [];
    let held: number | undefined;
    for (let round = 0; round < 3; round++) {
      const { bytes, set } = heldAfterDay([...rules], rising);
      samples.push(bytes);
      const detector = set.evaluators.find((e) => e.rule.kind === 'window')?.detector as
        { size?: number } | undefined;
      held = detector?.size;
    }
    results.push([name, median(samples), held]);
  }
  console.log('memory after a day at 1 s (heap delta after full collections, median of 3):');
  for (const [name, bytes, held] of results) {
    const entries = held === undefined ? '' : `, ${fmt(held)} entries in its queues`;
    console.log(`  ${name}: ${fmt(bytes / MiB, 2)} MiB${entries}`);
  }
  console.log('  (goal for the 24 h window: ≤ 4 MiB)');
}

function benchBacktest(): void {
  const ticks = series(DAY_TICKS, Date.UTC(2026, 0, 1), 3);
  // Wall time, and the process's CPU time beside it (on a shared machine the wall time also counts waiting).
  const time = (rules: () => Rule[]) => {
    const samples: number[] = [];
    const cpu: number[] = [];
    let alerts = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const r = rules();
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      alerts = backtestRules(r, ticks).alerts.length;
      samples.push(performance.now() - t0);
      const used = process.cpuUsage(c0);
      cpu.push((used.user + used.system) / 1000);
    }
    return { samples, cpu, alerts };
  };
  time(tenRules); // warm-up
  const one = time(oneMove);
  const ten = time(tenRules);
  console.log(
    `backtest in process (backtestRules over ${fmt(DAY_TICKS)} ticks, ${ROUNDS} rounds, load ${loadAverage()}):`,
  );
  console.log(
    `  baseline, today's move rule: p50 ${fmt(median(one.samples))} ms (CPU ${fmt(median(one.cpu))} ms), max ${fmt(Math.max(...one.samples))} ms (${fmt(one.alerts)} alerts)`,
  );
  console.log(
    `  ten rules: p50 ${fmt(median(ten.samples))} ms (CPU ${fmt(median(ten.cpu))} ms), max ${fmt(Math.max(...ten.samples))} ms (${fmt(ten.alerts)} alerts); ` +
      `${fmt(median(ten.samples) / median(one.samples), 1)}× the baseline (goal ≤ 500 ms)`,
  );
}

async function benchApiBacktest(): Promise<void> {
  const name = 'pairwatch_bench_rules';
  const url = await scratchDatabase(name);
  const redis = new Redis(BENCH_REDIS_URL);
  await redis.flushdb();
  const api = await startApi(url, 'rules');
  const db = new Client({ connectionString: url });
  await db.connect();
  try {
    // A day of ticks at 1 s, two days ago (the default partition or its day's), one monitor.
    const start = Math.floor(Date.now() / 86_400_000) * 86_400_000 - 2 * 86_400_000;
    const ticks = series(DAY_TICKS, start, 4);
    const monitorId = randomUUID();
    for (let i = 0; i < ticks.length; i += 10_000) {
      const chunk = ticks.slice(i, i + 10_000);
      await db.query(
        `INSERT INTO price_ticks (monitor_id, pair, at, ask, bid)
         SELECT $1::uuid, 'BTC-USD', to_timestamp(a / 1000.0), ask, bid FROM unnest($2::bigint[], $3::numeric[], $4::numeric[]) AS t(a, ask, bid)`,
        [monitorId, chunk.map((t) => t.atMs), chunk.map((t) => t.ask), chunk.map((t) => t.bid)],
      );
    }
    await db.query('ANALYZE price_ticks');
    const body = (rules: unknown) =>
      JSON.stringify({
        pair: 'BTC-USD',
        intervalMs: 1000,
        rules,
        since: new Date(start).toISOString(),
        until: new Date(start + 86_400_000).toISOString(),
      });
    const post = async (rules: unknown) => {
      const t0 = performance.now();
      const res = await fetch(`${api.url}/monitors/backtest`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: body(rules),
      });
      const answer = (await res.json()) as {
        ticks: number;
        alerts: unknown[];
        firedByRule: Record<string, number>;
      };
      if (res.status !== 200) throw new Error(`backtest answered ${res.status}: ${JSON.stringify(answer)}`);
      // Listed and fired: the API lists each rule's first alerts only (an older build, every one).
      const fired = Object.values(answer.firedByRule).reduce((sum, n) => sum + n, 0);
      return { ms: performance.now() - t0, ticks: answer.ticks, alerts: answer.alerts.length, fired };
    };
    const alertsText = (r: { alerts: number; fired: number }) =>
      r.alerts === r.fired ? `${fmt(r.fired)} alerts` : `${fmt(r.alerts)} alerts listed of ${fmt(r.fired)}`;
    const moveInput = [{ kind: 'move', thresholdPercent: '0.01' }];
    await post(TEN_RULES_INPUT); // warm-up
    const one: number[] = [];
    const ten: number[] = [];
    let last = { ms: 0, ticks: 0, alerts: 0, fired: 0 };
    let lastOne = { ms: 0, ticks: 0, alerts: 0, fired: 0 };
    for (let round = 0; round < ROUNDS; round++) {
      lastOne = await post(moveInput);
      one.push(lastOne.ms);
      last = await post(TEN_RULES_INPUT);
      ten.push(last.ms);
    }
    console.log(
      `backtest through the API (POST /monitors/backtest, ${fmt(last.ticks)} archived ticks, ${ROUNDS} rounds):`,
    );
    console.log(
      `  baseline, one move rule: p50 ${fmt(median(one))} ms, max ${fmt(Math.max(...one))} ms (${alertsText(lastOne)})`,
    );
    console.log(
      `  ten rules: p50 ${fmt(median(ten))} ms, max ${fmt(Math.max(...ten))} ms (${alertsText(last)}); ` +
        `${fmt(median(ten) / median(one), 2)}× the baseline (goal ≤ 500 ms)`,
    );
  } finally {
    await db.end();
    await api.stop();
    await dropScratchDatabase(name);
    await redis.flushdb();
    redis.disconnect();
  }
}

const docker = new Docker();

async function removeOwn(): Promise<void> {
  const containers = await docker.listContainers({
    all: true,
    filters: { label: [`pairwatch.instance=${INSTANCE}`] },
  });
  await Promise.all(containers.map((c) => docker.getContainer(c.Id).remove({ force: true })));
}

function logTime(raw: Buffer, message: string): number | undefined {
  const line = raw
    .toString('utf8')
    .split('\n')
    .find((l) => l.includes(`"${message}"`));
  const match = line ? /"time":"([^"]+)"/.exec(line) : null;
  return match ? Date.parse(match[1]) : undefined;
}

interface Workers {
  runtime: DockerRuntime;
  ticker: FakeUpholdServer;
  redis: Redis;
  tickerUrl: string;
  close(): Promise<void>;
}

async function workers(): Promise<Workers> {
  const ticker = new FakeUpholdServer();
  ticker.setQuote('BTC-USD', { ask: '60000.50', bid: '59999.50' });
  const tickerUrl = (await ticker.start(0, '127.0.0.1')).url;
  const redis = new Redis(BENCH_REDIS_URL);
  await redis.flushdb();
  await removeOwn();
  const runtime = new DockerRuntime(
    {
      workerImage: WORKER_IMAGE,
      workerNetwork: 'host',
      instance: INSTANCE,
      workerLimits: { memoryBytes: 128 * MiB, nanoCpus: MILLICPUS * 1_000_000, pids: 64, maxRestarts: 5 },
    },
    docker,
  );
  await runtime.ensureReady();
  return {
    runtime,
    ticker,
    redis,
    tickerUrl,
    close: async () => {
      await removeOwn().catch(() => undefined);
      await ticker.stop();
      await redis.flushdb();
      redis.disconnect();
    },
  };
}

interface Started {
  monitorId: string;
  workerId: string;
  totalMs: number;
  /** From the worker's "worker started" line to its first live tick. */
  liveMs: number;
  replayLogged: boolean;
}

async function startWorker(
  w: Workers,
  rules: Rule[],
  history: ReplayTick[],
  priceHistoryMs?: number,
  monitorId: string = randomUUID(),
): Promise<Started> {
  if (history.length > 0) await storeTicks(w.redis, monitorId, history);
  const env = toWorkerEnv({
    monitorId,
    pair: 'BTC-USD',
    intervalMs: 1000,
    rules,
    upholdApiUrl: w.tickerUrl,
    redis: standaloneRedis(BENCH_REDIS_URL),
    requestTimeoutMs: 5000,
    logLevel: 'info',
    ...(priceHistoryMs ? { priceHistoryMs } : {}),
  });
  const t0 = Date.now();
  const worker = await w.runtime.start({
    role: 'worker',
    monitor: { monitorId, pair: 'BTC-USD', intervalMs: 1000, rules },
    env,
  });
  let tickAt = 0;
  await until(
    'the first live tick',
    async () => {
      const parsed = parseWorkerState(await w.redis.hgetall(workerStateKey(monitorId)));
      if (parsed.ok && parsed.state.lastTickAt) tickAt = Date.parse(parsed.state.lastTickAt);
      // A restarted worker finds its predecessor's lastTickAt: only a tick after this start counts.
      return tickAt >= t0;
    },
    120_000,
    10,
  );
  const raw = await docker.getContainer(worker.workerId).logs({ stdout: true, stderr: true, follow: false });
  const log = Buffer.isBuffer(raw) ? raw : Buffer.from(String(raw));
  const started = logTime(log, 'worker started') ?? Number.NaN;
  return {
    monitorId,
    workerId: worker.workerId,
    totalMs: tickAt - t0,
    liveMs: tickAt - started,
    replayLogged: log.includes('replayed stored ticks'),
  };
}

async function benchStart(): Promise<void> {
  const w = await workers();
  try {
    const none: Started[] = [];
    const hour: Started[] = [];
    const restart: Started[] = [];
    for (let i = 0; i < STARTS; i++) {
      for (const replay of [false, true]) {
        const history = replay ? series(HOUR_TICKS, Date.now() - HOUR_TICKS * 1000, 10 + i) : [];
        const rules = tenRules();
        const s = await startWorker(w, rules, history);
        if (replay && !s.replayLogged) throw new Error('the worker did not replay its stored ticks');
        (replay ? hour : none).push(s);
        await docker.getContainer(s.workerId).remove({ force: true });
        if (!replay) continue;
        // Killed (SIGKILL) after its first live tick; its replacement finds the snapshot of that tick.
        const again = await startWorker(w, rules, [], undefined, s.monitorId);
        if (!again.replayLogged) throw new Error('the restarted worker did not resume its rules');
        restart.push(again);
        await docker.getContainer(again.workerId).remove({ force: true });
      }
    }
    const show = (name: string, s: Started[]) =>
      `  ${name}: start call → first live tick median ${fmt(median(s.map((x) => x.totalMs)))} ms ` +
      `(runs ${s.map((x) => fmt(x.totalMs)).join(', ')}); "worker started" → first live tick median ` +
      `${fmt(median(s.map((x) => x.liveMs)))} ms`;
    console.log(
      `worker start, ten rules, ${MILLICPUS} millicpus, image ${WORKER_IMAGE}, ${STARTS} of each alternated, load ${loadAverage()}:`,
    );
    console.log(show('baseline, nothing to replay', none));
    console.log(show(`an hour to replay (${fmt(HOUR_TICKS)} ticks), no snapshot`, hour));
    console.log(show(`restarted after a kill: the snapshot of its first live tick and the hour`, restart));
    for (const [name, s] of [
      ['without a snapshot', hour],
      ['restart with its snapshot', restart],
    ] as const) {
      const delta = median(s.map((x) => x.totalMs)) - median(none.map((x) => x.totalMs));
      const liveDelta = median(s.map((x) => x.liveMs)) - median(none.map((x) => x.liveMs));
      console.log(
        `  the replay's cost, ${name}: ${signed(delta)} ms start → first tick, ${signed(liveDelta)} ms "worker started" → first tick (goal ≤ 300 ms)`,
      );
    }
  } finally {
    await w.close();
  }
}

const signed = (ms: number): string => `${ms < 0 ? '−' : '+'}${fmt(Math.abs(ms))}`;

/** The container's memory as `docker stats` shows it: usage less inactive file pages. */
async function containerMemory(id: string): Promise<number> {
  const stats = (await docker.getContainer(id).stats({ stream: false })) as unknown as {
    memory_stats: { usage: number; stats?: Record<string, number> };
  };
  const { usage, stats: s = {} } = stats.memory_stats;
  return usage - (s.inactive_file ?? s.total_inactive_file ?? 0);
}

async function benchRss(): Promise<void> {
  const w = await workers();
  try {
    const measure = async (rules: Rule[], history: ReplayTick[], priceHistoryMs?: number) => {
      const s = await startWorker(w, rules, history, priceHistoryMs);
      // Half a minute of live ticks, then three readings five seconds apart.
      await sleep(30_000);
      const readings: number[] = [];
      for (let i = 0; i < 3; i++) {
        readings.push(await containerMemory(s.workerId));
        await sleep(5_000);
      }
      await docker.getContainer(s.workerId).remove({ force: true });
      return { memory: median(readings), readings, replayed: s.replayLogged };
    };
    const base = await measure(oneMove(), []);
    const day = series(DAY_TICKS, Date.now() - DAY_TICKS * 1000, 20, true);
    // Live quotes above the day's last: the 24 h window's min queue keeps every replayed tick (a lower one would
    // evict them all).
    w.ticker.setQuote('BTC-USD', { ask: '70000.50', bid: '69999.50' });
    const ten = await measure(tenRules(), day, 86_400_000);
    const show = (x: { readings: number[] }) => x.readings.map((r) => fmt(r / MiB, 1)).join(', ');
    console.log(
      `worker memory in its container (usage − inactive_file, as docker stats; after half a minute at 1 s):`,
    );
    console.log(
      `  baseline, today's move rule, no history: median ${fmt(base.memory / MiB, 1)} MiB (${show(base)})`,
    );
    console.log(
      `  ten rules, PRICE_HISTORY_MS=24 h, a day of rising ticks replayed into the 24 h window: median ` +
        `${fmt(ten.memory / MiB, 1)} MiB (${show(ten)})${ten.replayed ? '' : ' [no replay logged]'} (goal ≤ 25 MiB)`,
    );
  } finally {
    await w.close();
  }
}

async function main(): Promise<void> {
  console.log(`rules benchmark, ${new Date().toISOString()}, node ${process.version}`);
  if (PARTS.has('tick')) benchTick();
  if (PARTS.has('memory')) benchMemory();
  if (PARTS.has('backtest')) benchBacktest();
  if (PARTS.has('api')) await benchApiBacktest();
  if (PARTS.has('start')) await benchStart();
  if (PARTS.has('rss')) await benchRss();
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
