import { legacyMoveRule, Rule, RuleSet, TICKS_STREAM, WORKER_EXIT } from '@pairwatch/contracts';
import { AlertPublisher } from './alert-publisher';
import { MAX_BACKOFF_MS, TickHandler } from './tick.handler';
import { captureLogger, FakeRedis, quote, ScriptedTicker, workerSettings } from './testing/worker.fakes';
import type { TickerResult } from './uphold-ticker.client';

function setup(
  options: { intervalMs?: number; random?: () => number; thresholdPercent?: string; rules?: Rule[] } = {},
) {
  const settings = workerSettings({
    intervalMs: options.intervalMs ?? 1000,
    rules: options.rules ?? [legacyMoveRule({ thresholdPercent: options.thresholdPercent ?? '1' })],
  });
  const { logger, lines } = captureLogger();
  const redis = new FakeRedis();
  const publisher = new AlertPublisher(redis, { settings, logger });
  const ticker = new ScriptedTicker();
  const rules = new RuleSet(settings.rules);
  /** The first rule's detector: the move rule of most cases here. */
  const detector = rules.evaluators[0].detector as unknown as { referencePrice: string | undefined };
  let now = Date.parse('2026-11-24T07:00:00.000Z');
  const clock = { now: () => now, sleep: () => Promise.resolve() };
  const handler = new TickHandler({
    settings,
    ticker,
    rules,
    publisher,
    logger,
    clock,
    random: options.random ?? (() => 0.5),
  });
  /** Answers the next tick with `result`, one second later than the previous. */
  const tick = async (result: TickerResult) => {
    ticker.push(result);
    now += 1000;
    return handler.tick();
  };
  return { settings, lines, redis, publisher, ticker, detector, handler, tick };
}

describe('TickHandler', () => {
  it('takes the first price as the reference and reports it', async () => {
    const { tick, redis, handler } = setup();
    await expect(tick(quote('63120.45', '63100.00'))).resolves.toEqual({ kind: 'next-slot' });
    expect(redis.streamEvents()).toEqual([]);
    expect(redis.lastState()).toMatchObject({
      status: 'running',
      lastPrice: '63120.45',
      referencePrice: '63120.45',
      consecutiveErrors: '0',
      lastError: '',
      lastTickAt: '2026-11-24T07:00:01.000Z',
    });
    expect(handler.currentState.status).toBe('running');
  });

  it('writes each priced tick to the price stream in the MULTI of its state report', async () => {
    const { tick, redis } = setup();
    await tick(quote('63120.45', '63100.00'));
    await tick({ kind: 'server-error', status: 503 });
    await tick(quote('63130.00', '63110.00'));
    expect(redis.priceTicks()).toEqual([
      { at: '2026-11-24T07:00:01.000Z', ask: '63120.45', bid: '63100.00', price: '63120.45' },
      { at: '2026-11-24T07:00:03.000Z', ask: '63130.00', bid: '63110.00', price: '63130.00' },
    ]);
    // Every tick is one transaction; the priced ones hold the state hash and the price entry together, and
    // are followed by their tick event for the archive (a transaction of its own: another key).
    expect(redis.transactions).toHaveLength(5);
    // The first also holds the rules' snapshot (rule-snapshot.ts); the next is due a minute later.
    expect(redis.transactions[0].map(([name]) => name)).toEqual([
      'hset',
      'pexpire',
      'xadd',
      'pexpire',
      'set',
    ]);
    expect(redis.transactions[3].map(([name]) => name)).toEqual(['hset', 'pexpire', 'xadd', 'pexpire']);
    for (const i of [0, 3]) {
      expect(redis.transactions[i + 1].map(([name, key]) => `${name} ${key}`)).toEqual([
        `xadd ${TICKS_STREAM}`,
      ]);
    }
    expect(redis.transactions[2].map(([name]) => name)).toEqual(['hset', 'pexpire']);
    expect(redis.tickEvents().map((e) => e.at)).toEqual([
      '2026-11-24T07:00:01.000Z',
      '2026-11-24T07:00:03.000Z',
    ]);
  });

  it('keeps a quote whose other side is not a decimal out of the price stream', async () => {
    const { tick, redis } = setup();
    await tick(quote('63120.45', 'n/a'));
    expect(redis.lastState()).toMatchObject({ lastPrice: '63120.45' });
    expect(redis.priceTicks()).toEqual([]);
  });

  it('publishes one alert per crossing', async () => {
    const { tick, redis, lines } = setup();
    await tick(quote('100'));
    await tick(quote('100.5'));
    await tick(quote('101'));
    await tick(quote('101.2'));
    expect(redis.streamEvents()).toEqual([
      expect.objectContaining({
        direction: 'up',
        referencePrice: '100',
        price: '101',
        changePercent: '1',
        observedAt: '2026-11-24T07:00:03.000Z',
      }),
    ]);
    expect(lines).toContainEqual(
      expect.objectContaining({ level: 'info', msg: 'price oscillation: alert published', price: '101' }),
    );
  });

  describe('a bad price', () => {
    it.each<[string, TickerResult]>([
      ['zero', quote('0')],
      ['negative', quote('-1')],
      ['garbage', quote('abc')],
      ['exponent', quote('1e5')],
      ['empty', quote('')],
    ])('(%s) is reported as an error, never an alert', async (_label, bad) => {
      const { tick, redis, detector } = setup({ thresholdPercent: '0.01' });
      await tick(quote('100'));
      // "0" or "-1" would be a -100 % or -101 % move if they were taken for prices.
      await expect(tick(bad)).resolves.toEqual({ kind: 'next-slot' });
      expect(redis.streamEvents()).toEqual([]);
      expect(detector.referencePrice).toBe('100');
      expect(redis.lastState()).toMatchObject({
        status: 'degraded',
        consecutiveErrors: '1',
        lastPrice: '100',
        lastError: expect.stringMatching(/^bad price from Uphold: ask must be/),
      });
    });

    it('as the very first price sets no reference', async () => {
      const { tick, redis, detector } = setup();
      await tick(quote('0'));
      expect(detector.referencePrice).toBeUndefined();
      await tick(quote('100'));
      await tick(quote('100'));
      expect(redis.streamEvents()).toEqual([]);
      expect(detector.referencePrice).toBe('100');
    });

    it('counts consecutive errors until a good price resets them', async () => {
      const { tick, redis } = setup();
      await tick(quote('100'));
      await tick(quote('0'));
      await tick(quote('x'));
      expect(redis.lastState()).toMatchObject({ consecutiveErrors: '2', status: 'degraded' });
      await tick(quote('100.1'));
      expect(redis.lastState()).toMatchObject({ consecutiveErrors: '0', status: 'running', lastError: '' });
    });
  });

  it('on a 404 reports "unknown pair" and asks to exit with the unknown-pair code', async () => {
    const { tick, redis, lines } = setup();
    await expect(tick({ kind: 'unknown-pair' })).resolves.toEqual({
      kind: 'stop',
      exitCode: WORKER_EXIT.unknownPair,
      reason: 'unknown pair',
    });
    expect(redis.lastState()).toMatchObject({
      status: 'unknown-pair',
      lastError: 'unknown pair',
      consecutiveErrors: '1',
    });
    expect(lines).toContainEqual(expect.objectContaining({ level: 'error', pair: 'BTC-USD' }));
  });

  describe('on a 429', () => {
    it('waits Retry-After before the next request', async () => {
      const { tick, redis } = setup();
      await expect(tick({ kind: 'rate-limited', retryAfterMs: 30_000 })).resolves.toEqual({
        kind: 'wait',
        ms: 30_000,
      });
      expect(redis.lastState()).toMatchObject({
        status: 'rate-limited',
        consecutiveErrors: '1',
        lastError: expect.stringContaining('429'),
      });
    });

    it('never waits less than the interval', async () => {
      const { tick } = setup({ intervalMs: 5000 });
      await expect(tick({ kind: 'rate-limited', retryAfterMs: 0 })).resolves.toEqual({
        kind: 'wait',
        ms: 5000,
      });
    });
  });

  describe('on 5xx, network errors and bad answers', () => {
    const failures: TickerResult[] = [
      { kind: 'server-error', status: 503 },
      { kind: 'network-error', message: 'request timed out after 5000 ms' },
      { kind: 'bad-response', message: 'ticker answer is not JSON' },
    ];

    it.each(failures)('%j backs off', async (failure) => {
      const { tick, redis } = setup();
      const decision = await tick(failure);
      expect(decision.kind).toBe('wait');
      expect(redis.lastState()).toMatchObject({ status: 'retrying', consecutiveErrors: '1' });
      expect(redis.lastState()?.lastError).not.toBe('');
    });

    it('grows the wait exponentially up to the cap, never under the interval, and resets on success', async () => {
      const { tick } = setup({ intervalMs: 1000, random: () => 0.999_999 });
      const waits: number[] = [];
      for (let i = 0; i < 9; i += 1) {
        const decision = await tick({ kind: 'server-error', status: 500 });
        waits.push(decision.kind === 'wait' ? decision.ms : -1);
      }
      expect(waits).toEqual([1999, 3999, 7999, 15_999, 31_999, 59_999, 59_999, 59_999, 59_999]);
      await tick(quote('100'));
      expect(await tick({ kind: 'server-error', status: 500 })).toEqual({ kind: 'wait', ms: 1999 });
    });

    it("reports a relay's detail beside the status, and the status alone when the detail says no more", async () => {
      const { tick, redis } = setup();
      await tick({ kind: 'server-error', status: 502, detail: 'the USD list entry for BTC-USD: ask is "0"' });
      expect(redis.lastState()?.lastError).toBe(
        'Uphold answered HTTP 502: the USD list entry for BTC-USD: ask is "0"',
      );
      await tick({ kind: 'server-error', status: 500, detail: 'Uphold answered HTTP 500' });
      expect(redis.lastState()?.lastError).toBe('Uphold answered HTTP 500');
    });

    it('with the lowest jitter still waits one interval', async () => {
      const { tick } = setup({ intervalMs: 2000, random: () => 0 });
      expect(await tick({ kind: 'network-error', message: 'ECONNRESET' })).toEqual({
        kind: 'wait',
        ms: 2000,
      });
    });

    it('caps at the interval when the interval is longer than the usual cap', async () => {
      const intervalMs = 10 * MAX_BACKOFF_MS;
      const { tick } = setup({ intervalMs, random: () => 0.999_999 });
      for (let i = 0; i < 5; i += 1) {
        const decision = await tick({ kind: 'server-error', status: 500 });
        expect(decision).toEqual({ kind: 'wait', ms: intervalMs });
      }
    });

    it('keeps the reference through an outage', async () => {
      const { tick, redis } = setup();
      await tick(quote('100'));
      await tick({ kind: 'server-error', status: 502 });
      await tick(quote('101'));
      expect(redis.streamEvents()).toEqual([
        expect.objectContaining({ referencePrice: '100', price: '101' }),
      ]);
    });
  });

  it('sends alerts queued during a Redis outage before asking the ticker again', async () => {
    const { tick, redis, publisher, ticker } = setup();
    await tick(quote('100'));
    redis.failWith = new Error('connection refused');
    await tick(quote('102'));
    expect(publisher.pending).toBe(1);
    redis.failWith = undefined;
    let pendingWhenAsked = -1;
    const original = ticker.fetchTicker.bind(ticker);
    jest.spyOn(ticker, 'fetchTicker').mockImplementation((pair, signal) => {
      pendingWhenAsked = publisher.pending;
      return original(pair, signal);
    });
    await tick(quote('102'));
    expect(pendingWhenAsked).toBe(0);
    expect(redis.streamEvents()).toEqual([expect.objectContaining({ price: '102' })]);
  });

  it('passes the abort signal on to the ticker', async () => {
    const { handler, ticker } = setup();
    ticker.push(quote('100'));
    const controller = new AbortController();
    await handler.tick(controller.signal);
    expect(ticker.calls[0].signal).toBe(controller.signal);
  });

  it('reports "stopped" at the end, but keeps "unknown-pair"', async () => {
    const first = setup();
    await first.tick(quote('100'));
    await first.handler.reportStopped();
    expect(first.redis.lastState()).toMatchObject({ status: 'stopped', lastPrice: '100' });

    const second = setup();
    await second.tick({ kind: 'unknown-pair' });
    await second.handler.reportStopped();
    expect(second.redis.lastState()).toMatchObject({ status: 'unknown-pair', lastError: 'unknown pair' });
  });
});

describe('TickHandler at shutdown', () => {
  it('does not count a request aborted for shutdown as an error', async () => {
    const { handler, ticker, redis } = setup();
    const controller = new AbortController();
    controller.abort();
    ticker.push({ kind: 'network-error', message: 'request aborted' });
    await expect(handler.tick(controller.signal)).resolves.toEqual({ kind: 'next-slot' });
    expect(handler.currentState).toMatchObject({ consecutiveErrors: 0, lastError: '' });
    expect(redis.attempts).toHaveLength(0);
  });
});
