import { WORKER_EXIT } from '@pairwatch/contracts';
import { AlertPublisher } from './alert-publisher';
import { captureLogger, FakeRedis, quote, ScriptedTicker, workerSettings } from './testing/worker.fakes';
import type { TickerResult } from './uphold-ticker.client';
import { SHUTDOWN_TIMINGS, WorkerApp } from './worker.app';

function setup(ticker: ScriptedTicker, thresholdPercent = '1') {
  const settings = workerSettings({ intervalMs: 1000, thresholdPercent });
  const { logger, lines } = captureLogger();
  const redis = new FakeRedis();
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
    const settings = workerSettings({ intervalMs: 1000, thresholdPercent: '1' });
    const { logger, lines } = captureLogger();
    const redis = new FakeRedis();
    redis.failWith = new Error('ECONNREFUSED');
    const app = new WorkerApp({
      settings,
      ticker,
      publisher: new AlertPublisher(redis, { settings, logger }),
      logger,
    });
    const done = app.run();
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
