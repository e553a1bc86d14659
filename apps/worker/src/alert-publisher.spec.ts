import { EventEmitter } from 'node:events';
import type Redis from 'ioredis';
import { ReplyError } from 'ioredis';
import {
  ALERTS_STREAM,
  alertEventSchema,
  alertsChannel,
  DEFAULT_MAX_PENDING_ALERTS,
  encodePriceTick,
  keyHashSlot,
  parseRuleStates,
  RuleFiring,
  ruleStateKey,
  parseWorkerEnv,
  tickEventSchema,
  TICKS_STREAM,
  workerPricesKey,
  workerStateKey,
} from '@pairwatch/contracts';
import {
  AlertPublisher,
  AlertPublisherOptions,
  DEFAULT_MAX_PENDING,
  DEFAULT_WAIT_TIMEOUT_MS,
  IoRedisTransactions,
  publisherOptions,
  REPLAY_PAGE_ENTRIES,
  watchConnection,
  TickState,
  workerRedisOptions,
  OutcomeUnknownError,
  type RedisCommand,
} from './alert-publisher';
import { captureLogger, FakeRedis, MONITOR_ID, workerSettings } from './testing/worker.fakes';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const T0 = Date.parse('2026-11-24T07:00:00.000Z');

const up = (price: string, referencePrice = '100'): RuleFiring => ({
  ruleId: 'r1',
  kind: 'move',
  priceField: 'mid',
  thresholdPercent: '0.5',
  details: {},
  direction: 'up',
  referencePrice,
  price,
  changePercent: '1',
});

function setup(maxPending?: number, redisSettings?: AlertPublisherOptions['redis']) {
  const settings = workerSettings({
    intervalMs: 2000,
    stateTtlMs: 20_000,
  });
  const { logger, lines } = captureLogger();
  const redis = new FakeRedis();
  const publisher = new AlertPublisher(redis, { settings, logger, maxPending, redis: redisSettings });
  return { settings, lines, redis, publisher };
}

const state = (overrides: Partial<TickState> = {}): TickState => ({
  status: 'running',
  consecutiveErrors: 0,
  lastError: '',
  ...overrides,
});

describe('AlertPublisher', () => {
  describe('publish', () => {
    it('XADDs to the stream and PUBLISHes on the pair channel, in one MULTI', async () => {
      const { redis, publisher } = setup();
      const outcome = await publisher.publish(up('101'), T0);
      expect(outcome.kind).toBe('sent');
      expect(redis.transactions).toHaveLength(1);
      const [[xadd, publish]] = redis.transactions;
      expect(xadd.slice(0, 4)).toEqual(['xadd', ALERTS_STREAM, '*', 'event']);
      expect(publish.slice(0, 2)).toEqual(['publish', alertsChannel('BTC-USD')]);
      expect(publish[2]).toBe(xadd[4]);
      expect(keyHashSlot(alertsChannel('BTC-USD'))).toBe(keyHashSlot(ALERTS_STREAM));
    });

    it("in cluster mode, SPUBLISHes on the sharded channel of the stream's shard", async () => {
      const { redis, publisher } = setup(undefined, { mode: 'cluster', waitReplicas: 0 });
      await publisher.publish(up('101'), T0);
      const [[xadd, publish]] = redis.transactions;
      expect(xadd[1]).toBe(ALERTS_STREAM);
      expect(publish.slice(0, 2)).toEqual(['spublish', alertsChannel('BTC-USD')]);
      expect(redis.waits).toEqual([]);
    });
  });

  describe('with REDIS_WAIT_REPLICAS', () => {
    const sentinel = { mode: 'sentinel' as const, waitReplicas: 1 };

    it("writes the rule state in the alert's MULTI; an alert sent again writes the same values, never counts twice", async () => {
      const { redis, publisher } = setup(undefined, sentinel);
      const ruleState = { fires: 1, lastFireAt: new Date(T0).toISOString(), ask: '101', bid: '100.9' };
      redis.replication = { acknowledged: 0, connected: 2 };
      await expect(publisher.publish(up('101'), T0, ruleState)).resolves.toMatchObject({ kind: 'queued' });
      // A failover promoted a replica that had not got the write, marker included: the re-send writes it all again.
      redis.markers.clear();
      redis.replication = { acknowledged: 1, connected: 2 };
      await expect(publisher.flush()).resolves.toBe(true);
      // Twice on Redis, the same id and the same absolute state: the API stores the alert once, the count is 1.
      expect(redis.transactions).toHaveLength(2);
      for (const multi of redis.transactions) {
        expect(multi.map(([name, key]) => `${name} ${key}`)).toEqual([
          `xadd ${ALERTS_STREAM}`,
          `publish ${alertsChannel('BTC-USD')}`,
          `hset ${ruleStateKey(MONITOR_ID)}`,
        ]);
      }
      await expect(publisher.ruleStates()).resolves.toEqual({ r1: ruleState });
      expect(parseRuleStates(await redis.hgetall(ruleStateKey(MONITOR_ID))).problems).toEqual([]);
    });

    it('sends each alert with a WAIT for that many replicas, and says so in its state', async () => {
      const { redis, publisher } = setup(undefined, sentinel);
      await expect(publisher.publish(up('101'), T0)).resolves.toMatchObject({ kind: 'sent' });
      expect(redis.waits).toEqual([{ replicas: 1, timeoutMs: DEFAULT_WAIT_TIMEOUT_MS }]);
      await publisher.reportState(state());
      expect(redis.lastState()).toMatchObject({ replication: 'confirmed', unreplicatedAlerts: '0' });
    });

    it('keeps an alert its replicas did not confirm in time, and sends it again (same id) at the next flush', async () => {
      const { redis, publisher, lines } = setup(undefined, sentinel);
      redis.replication = { acknowledged: 0, connected: 2 };
      const outcome = await publisher.publish(up('101'), T0);
      expect(outcome).toMatchObject({ kind: 'queued', pending: 1 });
      expect(lines).toContainEqual(
        expect.objectContaining({ level: 'warn', msg: expect.stringMatching(/not confirmed/) }),
      );
      redis.replication = { acknowledged: 1, connected: 2 };
      await expect(publisher.flush()).resolves.toBe(true);
      // Sent again with the same id: its marker was there, so nothing was written twice; the WAIT came again.
      expect(redis.attempts).toHaveLength(1);
      expect(redis.streamEvents().map((e) => e.price)).toEqual(['101']);
      expect(redis.waits).toHaveLength(2);
      expect(publisher.stats).toMatchObject({ sent: 1, pending: 0, unreplicated: 0 });
    });

    it('keeps an alert whose MULTI or WAIT failed (a master killed), and sends it again once Redis answers', async () => {
      const { redis, publisher } = setup(undefined, sentinel);
      redis.failWith = new Error('Connection is closed.');
      await expect(publisher.publish(up('101'), T0)).resolves.toMatchObject({ kind: 'queued' });
      redis.failWith = undefined;
      await expect(publisher.flush()).resolves.toBe(true);
      expect(redis.streamEvents()).toHaveLength(1);
    });

    it('lets alerts flow while the master lacks replicas, counting them unreplicated in its state', async () => {
      const { redis, publisher, lines } = setup(undefined, sentinel);
      redis.replication = { acknowledged: 0, connected: 0 };
      await expect(publisher.publish(up('101'), T0)).resolves.toMatchObject({ kind: 'sent' });
      await expect(publisher.publish(up('102'), T0 + 1)).resolves.toMatchObject({ kind: 'sent' });
      await publisher.reportState(state());
      expect(redis.lastState()).toMatchObject({ replication: 'short', unreplicatedAlerts: '2' });
      expect(lines.filter((l) => /fewer replicas/.test(l.msg))).toHaveLength(1);

      redis.replication = { acknowledged: 1, connected: 1 };
      await publisher.publish(up('103'), T0 + 2);
      await publisher.reportState(state());
      expect(redis.lastState()).toMatchObject({ replication: 'confirmed', unreplicatedAlerts: '2' });
    });

    it('builds a schema-valid event from the firing, its rule and the monitor config', async () => {
      const { redis, publisher } = setup();
      await publisher.publish(
        {
          ruleId: 'r2',
          kind: 'window',
          priceField: 'mid',
          thresholdPercent: '0.5',
          details: { windowMs: 60000, min: '62489.2455', max: '63120.45' },
          direction: 'down',
          referencePrice: '63120.45',
          price: '62489.2455',
          changePercent: '-1',
        },
        T0 + 123,
      );
      const [event] = redis.streamEvents();
      expect(alertEventSchema.safeParse(event).success).toBe(true);
      expect(event).toEqual({
        id: expect.stringMatching(UUID),
        monitorId: MONITOR_ID,
        pair: 'BTC-USD',
        ruleId: 'r2',
        kind: 'window',
        details: { windowMs: 60000, min: '62489.2455', max: '63120.45' },
        direction: 'down',
        priceField: 'mid',
        referencePrice: '63120.45',
        price: '62489.2455',
        changePercent: '-1',
        thresholdPercent: '0.5',
        intervalMs: 2000,
        observedAt: '2026-11-24T07:00:00.123Z',
      });
    });

    it('gives every event its own id', async () => {
      const { redis, publisher } = setup();
      await publisher.publish(up('101'), T0);
      await publisher.publish(up('102.01', '101'), T0 + 1);
      const [a, b] = redis.streamEvents();
      expect(a.id).not.toBe(b.id);
    });

    it('refuses (and logs in full) an event that breaks the schema, sending nothing', async () => {
      const { redis, publisher, lines } = setup();
      const outcome = await publisher.publish(up('0'), T0);
      expect(outcome).toEqual({ kind: 'invalid', error: expect.stringContaining('price') });
      expect(redis.attempts).toHaveLength(0);
      expect(lines).toContainEqual(
        expect.objectContaining({ level: 'error', firing: expect.objectContaining({ price: '0' }) }),
      );
    });
  });

  describe('when Redis fails', () => {
    it('keeps the alert in memory and says so', async () => {
      const { redis, publisher, lines } = setup();
      redis.failWith = new Error('Connection is closed.');
      const outcome = await publisher.publish(up('101'), T0);
      expect(outcome).toMatchObject({ kind: 'queued', pending: 1 });
      expect(publisher.pending).toBe(1);
      expect(redis.transactions).toHaveLength(0);
      expect(lines).toContainEqual(
        expect.objectContaining({ level: 'warn', msg: 'redis write failed', err: 'Connection is closed.' }),
      );
    });

    it('sends the queued alerts, in order, before the next one once Redis is back', async () => {
      const { redis, publisher } = setup();
      redis.failWith = new Error('down');
      await publisher.publish(up('101'), T0);
      await publisher.publish(up('102'), T0 + 1);
      await publisher.publish(up('103'), T0 + 2);
      expect(redis.transactions).toHaveLength(0);

      redis.failWith = undefined;
      const outcome = await publisher.publish(up('104'), T0 + 3);
      expect(outcome.kind).toBe('sent');
      expect(redis.streamEvents().map((e) => e.price)).toEqual(['101', '102', '103', '104']);
      expect(publisher.pending).toBe(0);
      expect(publisher.stats).toEqual({ sent: 4, pending: 0, dropped: 0, unreplicated: 0 });
    });

    it('flush() delivers the queue without a new alert', async () => {
      const { redis, publisher, lines } = setup();
      redis.failWith = new Error('down');
      await publisher.publish(up('101'), T0);
      await expect(publisher.flush()).resolves.toBe(false);
      redis.failWith = undefined;
      await expect(publisher.flush()).resolves.toBe(true);
      expect(redis.streamEvents().map((e) => e.price)).toEqual(['101']);
      expect(lines).toContainEqual(
        expect.objectContaining({ level: 'info', msg: 'redis writes succeed again' }),
      );
    });

    it('sends again an alert whose answer was lost (its send ran): on the stream once, counted sent once', async () => {
      const { redis, publisher, lines } = setup();
      redis.loseNextAnswer = true;
      await expect(publisher.publish(up('101'), T0)).resolves.toMatchObject({ kind: 'queued', pending: 1 });
      await expect(publisher.publish(up('102'), T0)).resolves.toMatchObject({ kind: 'sent' });
      expect(redis.attempts).toHaveLength(2);
      expect(redis.streamEvents().map((e) => e.price)).toEqual(['101', '102']);
      expect(publisher.stats).toMatchObject({ sent: 2, pending: 0, dropped: 0 });
      expect(lines).toContainEqual(
        expect.objectContaining({ level: 'info', msg: expect.stringMatching(/^alert already on Redis/) }),
      );
    });

    it('a full queue keeps a head whose send may have run, and drops the next oldest instead', async () => {
      const { redis, publisher, lines } = setup(2);
      redis.loseNextAnswer = true;
      await publisher.publish(up('101'), T0);
      // Then Redis is down: later failures are known not to have run, and tell nothing about the head's.
      redis.failWith = new Error('redis not connected (reconnecting)');
      for (const price of ['102', '103', '104']) await publisher.publish(up(price), T0);
      expect(publisher.stats).toEqual({ sent: 0, pending: 2, dropped: 2, unreplicated: 0 });
      const drops = lines.filter((l) => l.msg.startsWith('alert queue full'));
      expect(drops.map((l) => (l.event as { price: string }).price)).toEqual(['102', '103']);
      redis.failWith = undefined;
      await expect(publisher.flush()).resolves.toBe(true);
      // 101 was on the stream all along (not written again); 102 and 103 never were, as their drops say.
      expect(redis.streamEvents().map((e) => e.price)).toEqual(['101', '104']);
    });

    it('keeps what it could not send when Redis fails again halfway', async () => {
      const { redis, publisher } = setup();
      redis.failWith = new Error('down');
      for (const price of ['101', '102', '103']) await publisher.publish(up(price), T0);
      redis.failWith = undefined;
      const multiExec = redis.multiExec.bind(redis);
      let calls = 0;
      jest.spyOn(redis, 'multiExec').mockImplementation((commands) => {
        calls += 1;
        if (calls === 2) return Promise.reject(new Error('down again'));
        return multiExec(commands);
      });
      await expect(publisher.flush()).resolves.toBe(false);
      expect(redis.streamEvents().map((e) => e.price)).toEqual(['101']);
      expect(publisher.pending).toBe(2);
      await expect(publisher.flush()).resolves.toBe(true);
      expect(redis.streamEvents().map((e) => e.price)).toEqual(['101', '102', '103']);
    });

    it('bounds the queue, dropping the oldest alert with a counted warning that carries it', async () => {
      const { redis, publisher, lines } = setup(3);
      redis.failWith = new Error('down');
      for (const price of ['101', '102', '103', '104', '105']) await publisher.publish(up(price), T0);
      expect(publisher.stats).toEqual({ sent: 0, pending: 3, dropped: 2, unreplicated: 0 });
      const drops = lines.filter((l) => l.msg.startsWith('alert queue full'));
      expect(drops.map((l) => [(l.event as { price: string }).price, l.dropped])).toEqual([
        ['101', 1],
        ['102', 2],
      ]);
      redis.failWith = undefined;
      await publisher.flush();
      expect(redis.streamEvents().map((e) => e.price)).toEqual(['103', '104', '105']);
    });

    it('takes its bound from MAX_PENDING_ALERTS, and counts drops in its state', async () => {
      const settings = parseWorkerEnv({
        MONITOR_ID,
        PAIR: 'BTC-USD',
        INTERVAL_MS: '1000',
        THRESHOLD_PERCENT: '0.5',
        UPHOLD_API_URL: 'http://127.0.0.1:9',
        REDIS_URL: 'redis://127.0.0.1:6379',
        MAX_PENDING_ALERTS: '2',
      });
      const { logger, lines } = captureLogger();
      const redis = new FakeRedis();
      const publisher = new AlertPublisher(redis, publisherOptions(settings, logger));
      redis.failWith = new Error('down');
      for (const price of ['101', '102', '103', '104']) await publisher.publish(up(price), T0);
      expect(publisher.stats).toEqual({ sent: 0, pending: 2, dropped: 2, unreplicated: 0 });
      expect(lines.filter((l) => l.msg.startsWith('alert queue full'))).toEqual([
        expect.objectContaining({ level: 'warn', dropped: 1, maxPending: 2 }),
        expect.objectContaining({ level: 'warn', dropped: 2, maxPending: 2 }),
      ]);
      redis.failWith = undefined;
      await expect(publisher.flush()).resolves.toBe(true);
      await publisher.reportState(state());
      expect(redis.lastState()).toMatchObject({ pendingAlerts: '0', alertsSent: '2', droppedAlerts: '2' });
      expect(redis.streamEvents().map((e) => e.price)).toEqual(['103', '104']);
    });

    it('keeps 10 000 alerts by default', () => {
      expect(DEFAULT_MAX_PENDING).toBe(DEFAULT_MAX_PENDING_ALERTS);
      const options = publisherOptions(workerSettings(), captureLogger().logger);
      expect(options.maxPending).toBe(10_000);
    });

    it('shares one flush between concurrent callers', async () => {
      const { redis, publisher } = setup();
      redis.failWith = new Error('down');
      await publisher.publish(up('101'), T0);
      redis.failWith = undefined;
      const [a, b] = await Promise.all([publisher.flush(), publisher.flush()]);
      expect([a, b]).toEqual([true, true]);
      expect(redis.streamEvents()).toHaveLength(1);
    });
  });

  describe('reportState', () => {
    it('HSETs the state and renews its TTL in one MULTI', async () => {
      const { redis, publisher } = setup();
      await expect(
        publisher.reportState(
          state({ lastTickAt: '2026-11-24T07:00:01.000Z', lastPrice: '63120.45', referencePrice: '63000' }),
        ),
      ).resolves.toBe(true);
      expect(redis.transactions).toHaveLength(1);
      const [[hset, pexpire]] = redis.transactions;
      expect(hset.slice(0, 2)).toEqual(['hset', workerStateKey(MONITOR_ID)]);
      expect(pexpire).toEqual(['pexpire', workerStateKey(MONITOR_ID), 20_000]);
      expect(redis.lastState()).toEqual({
        status: 'running',
        lastTickAt: '2026-11-24T07:00:01.000Z',
        lastPrice: '63120.45',
        referencePrice: '63000',
        consecutiveErrors: '0',
        lastError: '',
        pendingAlerts: '0',
        alertsSent: '0',
        droppedAlerts: '0',
        unreplicatedAlerts: '0',
        replication: 'off',
        pid: String(process.pid),
        startedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      });
    });

    it('appends the tick to the capped price stream in the same MULTI as the state, with a TTL', async () => {
      const { redis, publisher } = setup();
      const tick = { at: '2026-11-24T07:00:01.000Z', ask: '63120.45', bid: '63119.80', price: '63120.12' };
      await expect(publisher.reportState(state({ lastPrice: '63120.12' }), tick)).resolves.toBe(true);
      expect(redis.transactions).toHaveLength(2);
      const [commands] = redis.transactions;
      const prices = workerPricesKey(MONITOR_ID);
      expect(commands.map(([name, key]) => `${name} ${key}`)).toEqual([
        `hset ${workerStateKey(MONITOR_ID)}`,
        `pexpire ${workerStateKey(MONITOR_ID)}`,
        `xadd ${prices}`,
        `pexpire ${prices}`,
      ]);
      // An hour at 2 s: 1,800 entries, trimmed exactly; the key outlives the hour by the state TTL.
      expect(commands[2].slice(0, 5)).toEqual(['xadd', prices, 'MAXLEN', '=', 1800]);
      expect(commands[3]).toEqual(['pexpire', prices, 3_600_000 + 20_000]);
      expect(redis.priceTicks()).toEqual([tick]);
    });

    it('appends a tick event for the archive in a MULTI of its own (one key, one slot)', async () => {
      const { redis, publisher } = setup();
      const tick = { at: '2026-11-24T07:00:01.000Z', ask: '63120.45', bid: '63119.80', price: '63120.12' };
      await publisher.reportState(state(), tick);
      expect(redis.transactions[1]).toEqual([['xadd', TICKS_STREAM, '*', 'event', expect.any(String)]]);
      expect(redis.tickEvents()).toEqual([
        { monitorId: MONITOR_ID, pair: 'BTC-USD', at: tick.at, ask: tick.ask, bid: tick.bid },
      ]);
      expect(tickEventSchema.safeParse(redis.tickEvents()[0]).success).toBe(true);
    });

    it('keeps tick events while Redis fails and sends them, oldest first, once it answers', async () => {
      const { logger } = captureLogger();
      const redis = new FakeRedis();
      const publisher = new AlertPublisher(redis, { settings: workerSettings(), logger, maxPendingTicks: 3 });
      const tick = (n: number) => ({ at: `2026-11-24T07:00:0${n}.000Z`, ask: '2', bid: '1', price: '2' });
      redis.failWith = new Error('down');
      for (let n = 1; n <= 4; n++) await publisher.reportState(state(), tick(n));
      expect(publisher.tickStats).toMatchObject({ ticksPending: 3, ticksDropped: 1, ticksSent: 0 });
      redis.failWith = undefined;
      await publisher.reportState(state(), tick(5));
      // The fifth came while three were waiting: the oldest of them went, and the rest went out in order.
      expect(redis.tickEvents().map((e) => e.at)).toEqual([3, 4, 5].map((n) => tick(n).at));
      expect(publisher.tickStats).toMatchObject({ ticksPending: 0, ticksSent: 3, ticksDropped: 2 });
    });

    it('caps the price stream by PRICE_HISTORY_MS over the interval', async () => {
      const { logger } = captureLogger();
      const redis = new FakeRedis();
      const settings = workerSettings({ intervalMs: 1000, priceHistoryMs: 5000 });
      const publisher = new AlertPublisher(redis, { settings, logger });
      await publisher.reportState(state(), {
        at: '2026-11-24T07:00:01.000Z',
        ask: '1',
        bid: '1',
        price: '1',
      });
      expect(redis.transactions[0][2].slice(2, 5)).toEqual(['MAXLEN', '=', 5]);
    });

    it('writes no price without a tick, and neither the state nor the price when the MULTI fails', async () => {
      const { redis, publisher } = setup();
      await publisher.reportState(state({ status: 'retrying' }));
      expect(redis.priceTicks()).toEqual([]);
      redis.failWith = new Error('down');
      const tick = { at: '2026-11-24T07:00:01.000Z', ask: '1', bid: '1', price: '1' };
      await expect(publisher.reportState(state(), tick)).resolves.toBe(false);
      expect(redis.transactions).toHaveLength(1);
      expect(redis.tickEvents()).toEqual([]);
    });

    it('writes empty strings for what is not known yet, so old values do not linger', async () => {
      const { redis, publisher } = setup();
      await publisher.reportState(
        state({ status: 'retrying', consecutiveErrors: 3, lastError: 'Uphold answered HTTP 503' }),
      );
      expect(redis.lastState()).toMatchObject({
        lastTickAt: '',
        lastPrice: '',
        referencePrice: '',
        consecutiveErrors: '3',
      });
    });

    it('returns false instead of throwing when Redis fails, warning once per outage', async () => {
      const { redis, publisher, lines } = setup();
      redis.failWith = new Error('down');
      await expect(publisher.reportState(state())).resolves.toBe(false);
      await expect(publisher.reportState(state())).resolves.toBe(false);
      expect(lines.filter((l) => l.level === 'warn')).toHaveLength(1);
    });

    it('shows the alerts waiting for Redis', async () => {
      const { redis, publisher } = setup();
      redis.failWith = new Error('down');
      await publisher.publish(up('101'), T0);
      redis.failWith = undefined;
      await publisher.reportState(state());
      expect(redis.lastState()).toMatchObject({ pendingAlerts: '1', alertsSent: '0' });
    });
  });

  describe('recentTicks (the replay on start)', () => {
    /** `n` ticks a second apart from T0, each stored as a worker writes it; the ask is the tick's index. */
    const storedTicks = (n: number) =>
      Array.from({ length: n }, (_, i) => {
        const at = new Date(T0 + i * 1000).toISOString();
        return encodePriceTick({ at, ask: `${i + 1}`, bid: `${i}.5`, price: `${i + 1}` });
      });

    function pagedSetup(stored: string[][], replayPageEntries: number) {
      const settings = workerSettings({ intervalMs: 1000 });
      const { logger, lines } = captureLogger();
      const redis = new FakeRedis();
      redis.stored.set(workerPricesKey(settings.monitorId), stored);
      const publisher = new AlertPublisher(redis, { settings, logger, replayPageEntries });
      return { redis, lines, publisher };
    }

    it.each([
      ['not a multiple of the page', 23, 5],
      ['an exact multiple of the page', 20, 5],
      ['a single page', 4, 5],
      ['pages of one', 3, 1],
      ['nothing stored', 0, 5],
    ])('reads every entry exactly once, in order, across page boundaries (%s)', async (_, n, page) => {
      const { redis, publisher } = pagedSetup(storedTicks(n), page);
      const ticks = await publisher.recentTicks(T0);
      expect(ticks.map((t) => t.ask)).toEqual(Array.from({ length: n }, (_, i) => `${i + 1}`));
      expect(ticks.map((t) => t.atMs)).toEqual(Array.from({ length: n }, (_, i) => T0 + i * 1000));
      expect(ticks.map((t) => t.bid)).toEqual(Array.from({ length: n }, (_, i) => `${i}.5`));
      // Each page asks for `page` entries after the last id of the page before; one more read finds the end.
      expect(redis.xranges.every((x) => x.count === page)).toBe(true);
      expect(redis.xranges.map((x) => x.start).slice(1)).toEqual(
        Array.from({ length: Math.floor(n / page) }, (_, i) => `(${(i + 1) * page}-0`),
      );
    });

    it('reads 1,000 entries a page by default', async () => {
      const { redis, publisher } = pagedSetup(storedTicks(2500), REPLAY_PAGE_ENTRIES);
      expect(await publisher.recentTicks(T0)).toHaveLength(2500);
      expect(REPLAY_PAGE_ENTRIES).toBe(1000);
      expect(redis.xranges).toHaveLength(3);
    });

    it('keeps only the ticks at or after the start of the replay', async () => {
      const { publisher } = pagedSetup(storedTicks(12), 5);
      const ticks = await publisher.recentTicks(T0 + 7000);
      expect(ticks.map((t) => t.ask)).toEqual(['8', '9', '10', '11', '12']);
    });

    it('reads entries of format 1 and non-canonical JSON through the schema', async () => {
      const { publisher } = pagedSetup(
        [
          ['at', '2026-11-24T07:00:01.000Z', 'ask', '1.5', 'bid', '1.4', 'price', '1.5'],
          ['tick', '{ "ask": "2.5", "at": "2026-11-24T08:00:02+01:00", "bid": "2.4", "price": "2.5" }'],
        ],
        1,
      );
      expect(await publisher.recentTicks(T0)).toEqual([
        { atMs: T0 + 1000, ask: '1.5', bid: '1.4' },
        { atMs: T0 + 2000, ask: '2.5', bid: '2.4' },
      ]);
    });

    it('skips entries that break the schema, at page boundaries too, counts them and logs once', async () => {
      const good = storedTicks(10);
      const bad = [
        ['tick', 'not json'],
        ['tick', '{"at":"2026-11-24T07:00:00.000Z","ask":"0x10","bid":"1","price":"1"}'],
        ['at', 'yesterday', 'ask', '1', 'bid', '1', 'price', '1'],
        [],
      ];
      // With pages of 3, the bad entries sit at the start, the end and the middle of pages.
      const stored = [
        bad[0],
        ...good.slice(0, 2),
        bad[1],
        ...good.slice(2, 7),
        bad[2],
        bad[3],
        ...good.slice(7),
      ];
      const { lines, publisher } = pagedSetup(stored, 3);
      const ticks = await publisher.recentTicks(T0);
      expect(ticks.map((t) => t.ask)).toEqual(['1', '2', '3', '4', '5', '6', '7', '8', '9', '10']);
      const warnings = lines.filter((l) => l.msg.startsWith('stored ticks skipped'));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatchObject({
        level: 'warn',
        skipped: 4,
        firstProblem: expect.stringContaining('tick'),
      });
    });

    it('replays nothing when a page cannot be read (a part of the stream would be a wrong state)', async () => {
      const { redis, lines, publisher } = pagedSetup(storedTicks(12), 5);
      const readTickPage = redis.readTickPage.bind(redis);
      let reads = 0;
      jest.spyOn(redis, 'readTickPage').mockImplementation((key, start, count) => {
        reads += 1;
        return reads === 2 ? Promise.reject(new Error('Command timed out')) : readTickPage(key, start, count);
      });
      expect(await publisher.recentTicks(T0)).toEqual([]);
      expect(lines.find((l) => l.msg.startsWith('could not read the stored ticks'))).toMatchObject({
        err: 'Command timed out',
        pagesRead: 1,
      });
    });
  });

  describe('close', () => {
    it('flushes and closes the connection', async () => {
      const { redis, publisher } = setup();
      redis.failWith = new Error('down');
      await publisher.publish(up('101'), T0);
      redis.failWith = undefined;
      await publisher.close(500);
      expect(redis.streamEvents()).toHaveLength(1);
      expect(redis.closed).toBe(true);
    });

    it('logs every alert it could not deliver, in full', async () => {
      const { redis, publisher, lines } = setup();
      redis.failWith = new Error('down');
      await publisher.publish(up('101'), T0);
      await publisher.publish(up('102'), T0);
      await publisher.close(500);
      const lost = lines.filter((l) => l.msg === 'alert not delivered');
      expect(lost.map((l) => (l.event as { price: string }).price)).toEqual(['101', '102']);
      expect(lost.every((l) => l.level === 'error')).toBe(true);
      expect(publisher.pending).toBe(0);
      expect(redis.closed).toBe(true);
    });
  });
});

describe('IoRedisTransactions', () => {
  /** Enough of an ioredis connection: a status, 'ready' events, multi/exec, quit and disconnect. */
  function fakeIoRedis(exec: () => Promise<unknown> = () => Promise.resolve([]), status = 'ready') {
    const emitter = new EventEmitter();
    return Object.assign(emitter, {
      status,
      multi: jest.fn(() => ({ exec })),
      quit: jest.fn(() => Promise.resolve('OK')),
      disconnect: jest.fn(),
    });
  }
  const asRedis = (fake: ReturnType<typeof fakeIoRedis>) => fake as unknown as Redis;

  it('passes the commands to MULTI and resolves when all succeeded', async () => {
    const redis = fakeIoRedis(() =>
      Promise.resolve([
        [null, '1-0'],
        [null, 1],
      ]),
    );
    await new IoRedisTransactions(asRedis(redis)).multiExec([['publish', 'c', 'x']]);
    expect(redis.multi).toHaveBeenCalledWith([['publish', 'c', 'x']]);
  });

  it('rejects when one command failed inside the transaction', async () => {
    const failure = new Error('WRONGTYPE');
    const redis = fakeIoRedis(() =>
      Promise.resolve([
        [null, '1-0'],
        [failure, null],
      ]),
    );
    await expect(new IoRedisTransactions(asRedis(redis)).multiExec([])).rejects.toBe(failure);
  });

  it('rejects when the transaction was aborted', async () => {
    const redis = fakeIoRedis(() => Promise.resolve(null));
    await expect(new IoRedisTransactions(asRedis(redis)).multiExec([])).rejects.toThrow(
      'transaction aborted',
    );
  });

  it.each(['reconnecting', 'connecting', 'close', 'end'])(
    'fails at once, sending nothing, while the connection is %s after start-up',
    async (status) => {
      const redis = fakeIoRedis(undefined, status);
      const started = Date.now();
      await expect(new IoRedisTransactions(asRedis(redis), 0).multiExec([])).rejects.toThrow(
        `redis not connected (${status})`,
      );
      expect(Date.now() - started).toBeLessThan(100);
      expect(redis.multi).not.toHaveBeenCalled();
    },
  );

  it('execOnce: one EVAL declaring the marker and the written keys (not the channel); 1 ran, 0 found the marker', async () => {
    const evalCall = jest.fn().mockResolvedValueOnce(1).mockResolvedValueOnce(0);
    const redis = Object.assign(fakeIoRedis(), { eval: evalCall });
    const tx = new IoRedisTransactions(asRedis(redis));
    const commands: RedisCommand[] = [
      ['xadd', 's', '*', 'event', '{}'],
      ['publish', 'c', '{}'],
      ['hset', 'h', 'r1', '{}'],
    ];
    await expect(tx.execOnce('m', 5000, commands)).resolves.toBe(true);
    await expect(tx.execOnce('m', 5000, commands)).resolves.toBe(false);
    expect(evalCall).toHaveBeenCalledWith(
      expect.any(String),
      3,
      'm',
      's',
      'h',
      5000,
      JSON.stringify(commands),
    );
  });

  it("execOnce: Redis' refusal is known not to have run; any other failure may have (OutcomeUnknownError)", async () => {
    const refusal = new (ReplyError as new (message: string) => Error)(
      'WRONGTYPE Operation against a key holding the wrong kind of value',
    );
    const evalCall = jest
      .fn()
      .mockRejectedValueOnce(refusal)
      .mockRejectedValueOnce(new Error('Command timed out'));
    const tx = new IoRedisTransactions(asRedis(Object.assign(fakeIoRedis(), { eval: evalCall })));
    await expect(tx.execOnce('m', 5000, [])).rejects.toBe(refusal);
    await expect(tx.execOnce('m', 5000, [])).rejects.toThrow(OutcomeUnknownError);
  });

  it('waits for the first connection during the start-up grace', async () => {
    const redis = fakeIoRedis(undefined, 'connecting');
    const pending = new IoRedisTransactions(asRedis(redis), 5000).multiExec([['publish', 'c', 'x']]);
    setTimeout(() => {
      redis.status = 'ready';
      redis.emit('ready');
    }, 20);
    await expect(pending).resolves.toBeUndefined();
    expect(redis.multi).toHaveBeenCalledTimes(1);
    expect(redis.listenerCount('ready')).toBe(0);
  });

  it('gives up on the first connection when the grace runs out', async () => {
    const redis = fakeIoRedis(undefined, 'connecting');
    await expect(new IoRedisTransactions(asRedis(redis), 50).multiExec([])).rejects.toThrow(
      'redis not connected',
    );
    expect(redis.listenerCount('ready')).toBe(0);
  });

  it('close() gives up on QUIT after the timeout and disconnects', async () => {
    const redis = fakeIoRedis();
    redis.quit.mockReturnValue(new Promise(() => undefined));
    const started = Date.now();
    await new IoRedisTransactions(asRedis(redis)).close(50);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(redis.disconnect).toHaveBeenCalled();
  });

  it('close() just disconnects when the connection is down', async () => {
    const redis = fakeIoRedis(undefined, 'reconnecting');
    await new IoRedisTransactions(asRedis(redis)).close(500);
    expect(redis.quit).not.toHaveBeenCalled();
    expect(redis.disconnect).toHaveBeenCalled();
  });
});

describe('IoRedisTransactions.readTickPage', () => {
  const asking = (answer: unknown) => {
    const evalFn = jest.fn(() => Promise.resolve(answer));
    const redis = Object.assign(new EventEmitter(), { status: 'ready', eval: evalFn }) as unknown as Redis;
    return { evalFn, transactions: new IoRedisTransactions(redis) };
  };

  it('asks for one page in one script call (key, start, count) and takes the joined values', async () => {
    const { evalFn, transactions } = asking([2, '6-0', '{"a":1}\n{"a":2}']);
    await expect(transactions.readTickPage('k', '(4-0', 1000)).resolves.toEqual({
      count: 2,
      lastId: '6-0',
      values: '{"a":1}\n{"a":2}',
    });
    expect(evalFn).toHaveBeenCalledWith(expect.stringContaining("'XRANGE'"), 1, 'k', '(4-0', 1000);
  });

  it('takes the entries as XRANGE gives them when the script could not join them', async () => {
    const entries = [['5-0', ['at', '2026-11-24T07:00:01.000Z', 'ask', '1', 'bid', '1', 'price', '1']]];
    const { transactions } = asking([1, '5-0', null, entries]);
    await expect(transactions.readTickPage('k', '0', 1000)).resolves.toEqual({
      count: 1,
      lastId: '5-0',
      entries,
    });
  });

  it('answers an empty page at the end of the stream', async () => {
    const { transactions } = asking([0, '', '']);
    await expect(transactions.readTickPage('k', '(9-0', 1000)).resolves.toEqual({
      count: 0,
      lastId: '',
      values: '',
    });
  });
});

describe('workerRedisOptions', () => {
  const options = workerRedisOptions('pairwatch-worker:spec');

  it('keeps reconnecting, backing off up to 5 s', () => {
    const retry = options.retryStrategy as (times: number) => number | null;
    expect([1, 2, 5, 25, 1000].map(retry)).toEqual([200, 400, 1000, 5000, 5000]);
  });

  it('fails a command instead of waiting for Redis forever', () => {
    expect(options).toMatchObject({
      maxRetriesPerRequest: 1,
      commandTimeout: 1000,
      enableOfflineQueue: true,
    });
  });
});

describe('watchConnection', () => {
  it('logs the first error of an outage and the recovery, never more', () => {
    const emitter = new EventEmitter();
    const { logger, lines } = captureLogger();
    watchConnection(emitter as unknown as Redis, logger);
    emitter.emit('error', new Error('connect ECONNREFUSED 127.0.0.1:6379'));
    emitter.emit('error', new Error('connect ECONNREFUSED 127.0.0.1:6379'));
    emitter.emit('ready');
    emitter.emit('ready');
    expect(lines.map((l) => [l.level, l.msg])).toEqual([
      ['warn', 'redis connection error; reconnecting'],
      ['info', 'redis connection restored'],
    ]);
  });
});
