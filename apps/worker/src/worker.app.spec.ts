import {
  ALERTS_STREAM,
  encodePriceTick,
  encodeRuleState,
  legacyMoveRule,
  Rule,
  RuleSet,
  ruleStateKey,
  takeRuleSnapshot,
  WORKER_EXIT,
  workerPricesKey,
  workerSnapshotKey,
} from '@pairwatch/contracts';
import { AlertPublisher } from './alert-publisher';
import {
  captureLogger,
  FakeRedis,
  MONITOR_ID,
  quote,
  ScriptedTicker,
  workerSettings,
} from './testing/worker.fakes';
import type { TickerResult } from './uphold-ticker.client';
import { SHUTDOWN_TIMINGS, WorkerApp } from './worker.app';

function setup(
  ticker: ScriptedTicker,
  thresholdPercent = '1',
  rules: Rule[] = [legacyMoveRule({ thresholdPercent })],
  stored: Array<[atMs: number, ask: string]> = [],
  prepare: (redis: FakeRedis) => void = () => undefined,
) {
  const settings = workerSettings({ intervalMs: 1000, rules });
  const { logger, lines } = captureLogger();
  const redis = new FakeRedis();
  prepare(redis);
  redis.stored.set(
    workerPricesKey(settings.monitorId),
    stored.map(([atMs, ask]) =>
      encodePriceTick({ at: new Date(atMs).toISOString(), ask, bid: ask, price: ask }),
    ),
  );
  const publisher = new AlertPublisher(redis, { settings, logger });
  const app = new WorkerApp({ settings, ticker, publisher, logger, random: () => 0 });
  let exitCode: number | undefined;
  const done = app.run().then((code) => (exitCode = code));
  return { app, redis, lines, done, exitCode: () => exitCode };
}

/** A request that only ends when its signal aborts. */
const hangingRequest = (signal?: AbortSignal): Promise<TickerResult> =>
  new Promise((resolve) =>
    signal?.addEventListener('abort', () => resolve({ kind: 'network-error', message: 'request aborted' }), {
      once: true,
    }),
  );

describe('WorkerApp', () => {
  beforeEach(() => jest.useFakeTimers({ now: Date.parse('2026-11-24T07:00:00.000Z') }));
  afterEach(() => jest.useRealTimers());

  describe('rules', () => {
    const window: Rule = {
      id: 'w',
      kind: 'window',
      thresholdPercent: '3',
      windowMs: 60_000,
      direction: 'up',
      priceField: 'ask',
      cooldownMs: 0,
    };
    const ago = (ms: number) => Date.now() - ms;
    const at = (ms: number) => new Date(Date.parse('2026-11-24T07:00:00.000Z') + ms).toISOString();

    it('replays the stored ticks first: the window is not lost across a restart', async () => {
      // 100 was seen 30 s ago by the previous worker: 103 now is +3 % within the minute.
      const { app, redis, done } = setup(
        new ScriptedTicker(quote('103')),
        '1',
        [window],
        [[ago(30_000), '100']],
      );
      await jest.advanceTimersByTimeAsync(10);
      app.requestStop();
      await jest.advanceTimersByTimeAsync(2000);
      await done;
      expect(redis.streamEvents()).toEqual([
        expect.objectContaining({ ruleId: 'w', kind: 'window', price: '103', referencePrice: '100' }),
      ]);
    });

    it("starts from the previous worker's rule snapshot and replays only the ticks stored after it", async () => {
      // The previous worker saw 90 (a quote kept off the price stream: its bid was garbage) and then 92, and wrote
      // its snapshot with that tick; the stream holds only 92. 93 now is +3.3 % over the minute's low, 90 (over 92,
      // all a replay of the stream knows, it would be +1.1 %).
      const previous = new RuleSet([window]);
      previous.observe({ ask: '90', bid: 'n/a' }, ago(40_000));
      previous.observe({ ask: '92', bid: '92' }, ago(30_000));
      const snapshot = takeRuleSnapshot(previous)!;
      const { app, redis, lines, done } = setup(
        new ScriptedTicker(quote('93')),
        '1',
        [window],
        [[ago(30_000), '92']],
        (r) => r.strings.set(workerSnapshotKey(MONITOR_ID), snapshot),
      );
      await jest.advanceTimersByTimeAsync(10);
      app.requestStop();
      await jest.advanceTimersByTimeAsync(2000);
      await done;
      expect(lines.find((l) => l.msg.startsWith('replayed stored ticks'))).toMatchObject({
        ticks: 0,
        snapshot: { at: at(-30_000), rules: ['w'] },
      });
      expect(redis.streamEvents()).toEqual([
        expect.objectContaining({ ruleId: 'w', kind: 'window', price: '93', referencePrice: '90' }),
      ]);
      // It leaves its own snapshot: with its first tick, and when it stops.
      const written = redis.transactions
        .flat()
        .filter(([name, key]) => name === 'set' && key === workerSnapshotKey(MONITOR_ID));
      expect(written).toHaveLength(2);
      // Both taken after the live tick (the only one it observed).
      for (const [, , text] of written)
        expect(JSON.parse(String(text))).toMatchObject({ at: Date.parse(at(0)), rules: { w: {} } });
    });

    it('replays with alerts suppressed: what fired before the restart does not fire again', async () => {
      // 100 then 103 fired before the restart (the window restarted at 103): 103.1 now is no new move.
      const stored: Array<[number, string]> = [
        [ago(30_000), '100'],
        [ago(20_000), '103'],
      ];
      const { app, redis, done } = setup(new ScriptedTicker(quote('103.1')), '1', [window], stored);
      await jest.advanceTimersByTimeAsync(10);
      app.requestStop();
      await jest.advanceTimersByTimeAsync(2000);
      await done;
      expect(redis.streamEvents()).toEqual([]);
      expect(redis.priceTicks().map((t) => t.price)).toEqual(['103.1']);
    });

    const cross: Rule = {
      id: 'r1',
      kind: 'cross',
      level: '100',
      direction: 'both',
      rearmPercent: '0',
      priceField: 'ask',
      cooldownMs: 0,
      maxFires: 2,
    };
    const spread: Rule = {
      id: 'r2',
      kind: 'spread',
      thresholdPercent: '50',
      priceField: 'ask',
      cooldownMs: 0,
    };

    it("records each alert's rule state (fires, time, quote) in the alert's own MULTI", async () => {
      const { app, redis, done } = setup(
        new ScriptedTicker(quote('99'), quote('100.5', '100.4'), quote('99.5')),
        '1',
        [cross, spread],
      );
      await jest.advanceTimersByTimeAsync(2500);
      app.requestStop();
      await jest.advanceTimersByTimeAsync(2000);
      await done;
      const alertMultis = redis.transactions.filter((t) => t.some(([, key]) => key === ALERTS_STREAM));
      expect(alertMultis.map((t) => t.filter(([name]) => name === 'hset'))).toEqual([
        [
          [
            'hset',
            ruleStateKey(MONITOR_ID),
            'r1',
            encodeRuleState({ fires: 1, lastFireAt: at(1000), ask: '100.5', bid: '100.4' }),
          ],
        ],
        [
          [
            'hset',
            ruleStateKey(MONITOR_ID),
            'r1',
            encodeRuleState({ fires: 2, lastFireAt: at(2000), ask: '99.5', bid: '99.5' }),
          ],
        ],
      ]);
    });

    it('resumes the fires its previous worker recorded: a rule at maxFires fires no more after a restart', async () => {
      // r1 fired twice (maxFires 2) before the restart; the stored ticks alone would not say so.
      const { app, redis, done } = setup(
        new ScriptedTicker(quote('99'), quote('100.5'), quote('99')),
        '1',
        [cross, spread],
        [[ago(20_000), '100.5']],
        (r) =>
          r.hashes.set(ruleStateKey(MONITOR_ID), {
            r1: encodeRuleState({
              fires: 2,
              lastFireAt: new Date(ago(20_000)).toISOString(),
              ask: '100.5',
              bid: '100.5',
            }),
          }),
      );
      await jest.advanceTimersByTimeAsync(2500);
      app.requestStop();
      await jest.advanceTimersByTimeAsync(2000);
      await done;
      expect(redis.streamEvents()).toEqual([]);
      expect(app.rules.progress(Date.now())).toEqual([
        { id: 'r1', kind: 'cross', fires: 2, done: true },
        { id: 'r2', kind: 'spread', fires: 0, done: false },
      ]);
    });

    it('does not go live before it has read its rule state: it asks again until Redis answers', async () => {
      const ticker = new ScriptedTicker(quote('99'));
      const { app, redis, lines, done } = setup(ticker, '1', [cross], [], (r) => {
        r.failWith = new Error('ECONNREFUSED');
      });
      await jest.advanceTimersByTimeAsync(3500);
      expect(ticker.calls).toHaveLength(0);
      expect(lines.filter((l) => l.msg.startsWith('cannot read the rule state'))).toHaveLength(1);
      redis.failWith = undefined;
      await jest.advanceTimersByTimeAsync(1000);
      expect(ticker.calls.length).toBeGreaterThan(0);
      expect(lines).toContainEqual(expect.objectContaining({ msg: 'rule state read; going live' }));
      app.requestStop();
      await jest.advanceTimersByTimeAsync(2000);
      await done;
    });

    it('stops cleanly while it waits for its rule state', async () => {
      const ticker = new ScriptedTicker(quote('99'));
      const { app, done, exitCode } = setup(ticker, '1', [cross], [], (r) => {
        r.failWith = new Error('ECONNREFUSED');
      });
      await jest.advanceTimersByTimeAsync(1500);
      app.requestStop();
      await jest.advanceTimersByTimeAsync(1000);
      await done;
      expect(exitCode()).toBe(WORKER_EXIT.ok);
      expect(ticker.calls).toHaveLength(0);
    });

    it('exits with the rules-done code once every rule is done, its alert sent', async () => {
      const cross: Rule = {
        id: 'r1',
        kind: 'cross',
        level: '100',
        direction: 'up',
        rearmPercent: '0',
        priceField: 'ask',
        cooldownMs: 0,
        maxFires: 1,
      };
      const { redis, done, exitCode } = setup(new ScriptedTicker(quote('99'), quote('100.5')), '1', [cross]);
      await jest.advanceTimersByTimeAsync(3000);
      await done;
      expect(exitCode()).toBe(WORKER_EXIT.rulesDone);
      expect(redis.streamEvents()).toEqual([
        expect.objectContaining({ ruleId: 'r1', kind: 'cross', price: '100.5' }),
      ]);
    });
  });

  it('exits with the unknown-pair code when Uphold answers 404, leaving that in its state', async () => {
    const { redis, lines, done, exitCode } = setup(new ScriptedTicker({ kind: 'unknown-pair' }));
    await jest.advanceTimersByTimeAsync(0);
    await done;
    expect(exitCode()).toBe(WORKER_EXIT.unknownPair);
    expect(redis.lastState()).toMatchObject({ status: 'unknown-pair', lastError: 'unknown pair' });
    expect(redis.closed).toBe(true);
    expect(lines).toContainEqual(
      expect.objectContaining({ msg: 'worker stopped', exitCode: WORKER_EXIT.unknownPair }),
    );
  });

  it('exits with the unknown-pair code when a known pair disappears later', async () => {
    const { done, exitCode } = setup(
      new ScriptedTicker(quote('100'), quote('100'), { kind: 'unknown-pair' }),
    );
    await jest.advanceTimersByTimeAsync(2000);
    await done;
    expect(exitCode()).toBe(WORKER_EXIT.unknownPair);
  });

  it('polls, publishes crossings, and stops cleanly with exit code 0', async () => {
    const ticker = new ScriptedTicker(
      quote('100'),
      quote('100.5'),
      quote('101'),
      quote('101.2'),
      quote('99.9'),
    );
    const { app, redis, done, exitCode } = setup(ticker);
    await jest.advanceTimersByTimeAsync(4500);
    expect(ticker.calls).toHaveLength(5);
    app.requestStop();
    await jest.advanceTimersByTimeAsync(0);
    await done;
    expect(exitCode()).toBe(WORKER_EXIT.ok);
    expect(redis.streamEvents()).toEqual([
      expect.objectContaining({
        direction: 'up',
        referencePrice: '100',
        price: '101',
        observedAt: '2026-11-24T07:00:02.000Z',
      }),
      expect.objectContaining({ direction: 'down', referencePrice: '101', price: '99.9' }),
    ]);
    expect(redis.lastState()).toMatchObject({ status: 'stopped', lastPrice: '99.9', alertsSent: '2' });
    expect(redis.closed).toBe(true);
    await jest.advanceTimersByTimeAsync(10_000);
    expect(ticker.calls).toHaveLength(5);
  });

  it('never turns bad prices into alerts, and keeps running', async () => {
    const ticker = new ScriptedTicker(
      quote('100'),
      quote('0'),
      quote('-1'),
      quote('abc'),
      quote('1e5'),
      { kind: 'bad-response', message: 'ticker answer has no ask string' },
      quote('100'),
    );
    const { app, redis, done } = setup(ticker, '0.01');
    await jest.advanceTimersByTimeAsync(20_000);
    app.requestStop();
    await jest.advanceTimersByTimeAsync(0);
    await done;
    expect(ticker.calls.length).toBeGreaterThanOrEqual(7);
    expect(redis.streamEvents()).toEqual([]);
    expect(redis.lastState()).toMatchObject({ consecutiveErrors: '0', lastPrice: '100' });
  });

  it('on stop, lets the tick finish; a hanging request is aborted so shutdown fits the deadline', async () => {
    const ticker = new ScriptedTicker(quote('100'), hangingRequest);
    const { app, redis, done, exitCode } = setup(ticker);
    await jest.advanceTimersByTimeAsync(1500); // second request hangs since 1000
    const stopAt = Date.now();
    app.requestStop();
    await jest.advanceTimersByTimeAsync(SHUTDOWN_TIMINGS.abortInFlightAfterMs - 1);
    expect(exitCode()).toBeUndefined();
    await jest.advanceTimersByTimeAsync(1);
    await done;
    expect(exitCode()).toBe(WORKER_EXIT.ok);
    expect(Date.now() - stopAt).toBeLessThan(SHUTDOWN_TIMINGS.hardDeadlineMs);
    expect(ticker.calls[1].signal?.aborted).toBe(true);
    expect(redis.lastState()?.status).toBe('stopped');
  });

  it('logs alerts it could not deliver before exiting when Redis never came back', async () => {
    const ticker = new ScriptedTicker(quote('100'), quote('102'));
    const settings = workerSettings({ intervalMs: 1000 });
    const { logger, lines } = captureLogger();
    const redis = new FakeRedis();
    const app = new WorkerApp({
      settings,
      ticker,
      publisher: new AlertPublisher(redis, { settings, logger }),
      logger,
    });
    const done = app.run();
    // Redis answered the start (the rule state), then went away.
    await jest.advanceTimersByTimeAsync(0);
    redis.failWith = new Error('ECONNREFUSED');
    await jest.advanceTimersByTimeAsync(1500);
    app.requestStop();
    await jest.advanceTimersByTimeAsync(1000);
    await expect(done).resolves.toBe(WORKER_EXIT.ok);
    expect(lines).toContainEqual(
      expect.objectContaining({
        level: 'error',
        msg: 'alert not delivered',
        event: expect.objectContaining({ price: '102', referencePrice: '100' }),
      }),
    );
  });

  it('never logs the Redis password', async () => {
    const { app, lines, done } = setup(new ScriptedTicker(quote('100')));
    app.requestStop();
    await jest.advanceTimersByTimeAsync(0);
    await done;
    expect(lines[0]).toMatchObject({ msg: 'worker started', redis: 'redis://:***@127.0.0.1:6379' });
    expect(JSON.stringify(lines)).not.toContain('s3cret');
  });
});
