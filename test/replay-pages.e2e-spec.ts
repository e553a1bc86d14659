import Redis from 'ioredis';
import {
  encodePriceTick,
  ReplayTick,
  replayTicks,
  Rule,
  RuleSet,
  workerPricesKey,
} from '@pairwatch/contracts';
import {
  AlertPublisher,
  IoRedisTransactions,
  REPLAY_PAGE_ENTRIES,
  workerRedisOptions,
} from '../apps/worker/src/alert-publisher';
import { captureLogger, ScriptedTicker, workerSettings } from '../apps/worker/src/testing/worker.fakes';
import { WorkerApp } from '../apps/worker/src/worker.app';
import { testRedisUrl } from './support/test-env';

/**
 * A worker's replay on start against the real Redis: its stored ticks are read in pages (a script's XRANGE … COUNT
 * answering the values joined in one string, each page after the last id of the one before) on the worker's own connection (1 s command timeout), and the rules
 * come out of the replay exactly as if the same ticks had been fed to them directly. No Docker: the worker's
 * classes run in this process.
 */

const TICKS = 20_000;
const DAY_MS = 86_400_000;

const rules: Rule[] = [
  {
    id: 'w',
    kind: 'window',
    thresholdPercent: '4',
    windowMs: DAY_MS,
    direction: 'both',
    priceField: 'ask',
    cooldownMs: 0,
  },
  { id: 't', kind: 'trailing', thresholdPercent: '3', direction: 'down', priceField: 'bid', cooldownMs: 0 },
];

/** A seeded random walk around 100, a tick a second, ending a second before `endMs`. */
function walk(n: number, endMs: number): ReplayTick[] {
  let seed = 12345;
  let cents = 10_000;
  const ticks: ReplayTick[] = [];
  for (let i = 0; i < n; i++) {
    seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
    cents = Math.max(100, cents + (seed % 21) - 10);
    const ask = (cents / 100).toFixed(2);
    const bid = ((cents - 3) / 100).toFixed(2);
    ticks.push({ atMs: endMs - (n - i) * 1000, ask, bid });
  }
  return ticks;
}

/** What a rule set fires on a probe: a climb of 8 % then a fall of 12 % from the last stored price. */
function probe(ruleSet: RuleSet, from: ReplayTick, startMs: number): string[] {
  const base = Math.round(Number(from.ask) * 100);
  const fired: string[] = [];
  for (let i = 1; i <= 300; i++) {
    const cents =
      i <= 100 ? base + Math.round((base * 8 * i) / 10_000) : base * 1.08 - (base * 0.2 * (i - 100)) / 200;
    const ask = (Math.round(cents) / 100).toFixed(2);
    const bid = ((Math.round(cents) - 3) / 100).toFixed(2);
    for (const firing of ruleSet.observe({ ask, bid }, startMs + i * 1000).firings)
      fired.push(`${i} ${firing.ruleId} ${firing.direction} ${firing.referencePrice} ${firing.price}`);
  }
  return fired;
}

describe('replay on start: paged read of the stored ticks (real Redis)', () => {
  let redis: Redis;
  const settings = workerSettings({ intervalMs: 1000, rules, priceHistoryMs: DAY_MS });
  const key = workerPricesKey(settings.monitorId);

  beforeAll(async () => {
    redis = new Redis(testRedisUrl(), workerRedisOptions('replay-pages-e2e'));
    await redis.del(key);
  });

  afterAll(async () => {
    await redis.del(key);
    redis.disconnect();
  });

  it(`replays ${TICKS.toLocaleString('en')} stored ticks page by page into the state a direct feed gives`, async () => {
    const now = Date.now();
    const ticks = walk(TICKS, now);
    for (let i = 0; i < ticks.length; i += 1000) {
      const pipeline = redis.pipeline();
      for (const t of ticks.slice(i, i + 1000)) {
        pipeline.xadd(
          key,
          '*',
          ...encodePriceTick({ at: new Date(t.atMs).toISOString(), ask: t.ask, bid: t.bid, price: t.ask }),
        );
      }
      await pipeline.exec();
    }
    expect(await redis.xlen(key)).toBe(TICKS);

    const { logger, lines } = captureLogger();
    const transactions = new IoRedisTransactions(redis);
    const pages = jest.spyOn(transactions, 'readTickPage');
    const publisher = new AlertPublisher(transactions, { settings, logger });
    const app = new WorkerApp({ settings, ticker: new ScriptedTicker(), publisher, logger });
    await app.replay();

    // Every stored tick read once, in pages of 1,000 (the last read finds the end).
    expect(lines.find((l) => l.msg.startsWith('could not read the stored ticks'))).toBeUndefined();
    expect(lines.find((l) => l.msg.startsWith('stored ticks skipped'))).toBeUndefined();
    expect(lines.find((l) => l.msg.startsWith('replayed stored ticks'))).toMatchObject({ ticks: TICKS });
    expect(pages).toHaveBeenCalledTimes(TICKS / REPLAY_PAGE_ENTRIES + 1);
    expect(pages.mock.calls.every(([, , count]) => count === REPLAY_PAGE_ENTRIES)).toBe(true);

    // The same ticks fed directly (alerts dropped, as a replay does).
    const direct = new RuleSet(rules);
    replayTicks(direct, ticks, { count: false, keepAlerts: false });
    const probeAt = now + 1000;
    expect(app.rules.progress(probeAt)).toEqual(direct.progress(probeAt));
    const last = ticks[ticks.length - 1];
    const replayed = probe(app.rules, last, probeAt);
    expect(replayed).toEqual(probe(direct, last, probeAt));
    expect(replayed.length).toBeGreaterThan(0);
    // And the probe tells a lost window from a kept one: a worker starting empty fires otherwise.
    expect(probe(new RuleSet(rules), last, probeAt)).not.toEqual(replayed);
  });

  it('answers a page as XRANGE lists it: joined values, or the entries when one is not a single tick field', async () => {
    const other = `${key}:page-shapes`;
    await redis.del(other);
    try {
      const t = (s: number) => ({
        at: new Date(Date.UTC(2026, 10, 24, 7, 0, s)).toISOString(),
        ask: `${s}.5`,
        bid: '1',
        price: `${s}.5`,
      });
      for (const s of [1, 2, 3]) await redis.xadd(other, `${s}-0`, ...encodePriceTick(t(s)));
      // An entry of format 1 (fields at, ask, bid, price) and a value holding a line feed after the third.
      await redis.xadd(other, '4-0', 'at', t(4).at, 'ask', '4.5', 'bid', '1', 'price', '4.5');
      await redis.xadd(other, '5-0', 'tick', JSON.stringify(t(5), null, 1));
      const transactions = new IoRedisTransactions(redis);
      const xrange = async (start: string, count: number) => redis.xrange(other, start, '+', 'COUNT', count);

      const first = await transactions.readTickPage(other, '0', 3);
      expect(first).toEqual({
        count: 3,
        lastId: '3-0',
        values: (await xrange('0', 3)).map(([, fields]) => fields[1]).join('\n'),
      });
      for (const [start, count] of [
        ['(3-0', 2],
        ['(2-0', 3],
        ['0', 10],
      ] as const) {
        const entries = await xrange(start, count);
        expect(await transactions.readTickPage(other, start, count)).toEqual({
          count: entries.length,
          lastId: entries[entries.length - 1][0],
          entries,
        });
      }
      expect(await transactions.readTickPage(other, '(5-0', 3)).toEqual({ count: 0, lastId: '', values: '' });
      expect(await transactions.readTickPage(`${other}:none`, '0', 3)).toEqual({
        count: 0,
        lastId: '',
        values: '',
      });
    } finally {
      await redis.del(other);
    }
  });
});
