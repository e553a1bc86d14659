import Redis from 'ioredis';
import { workerStateKey } from '@pairwatch/contracts';
import { FakeFault, FakeUpholdServer } from '../../apps/fake-ticker/src/fake-uphold.server';
import type { ApiProcess } from '../support/api-process';
import {
  AlertLedger,
  streamInfo,
  summaryLine,
  waitForRows,
  withClient,
} from '../support/faults/alert-ledger';
import { spawnFaultApi } from '../support/faults/fault-api';
import { PostgresCluster, startPostgresCluster } from '../support/faults/postgres-cluster';
import { RedisServer, startRedisServer } from '../support/faults/redis-server';
import { waitFor } from '../support/faults/util';
import { spawnWorker, WorkerProcess } from '../support/faults/worker-process';

const PAIR = 'BTC-USD';
const INTERVAL_MS = 1000;
const REQUEST_TIMEOUT_MS = 1000;
const RETRY_AFTER_S = 2;
const HANG_MS = 10_000;
/**
 * How far a gap between two recorded requests may fall short of what the worker waited, on a busy machine:
 * the fake ticker stamps arrivals in this process (one stamped late shortens the gap after it), and a tick
 * that fires late is followed by one on the worker's fixed timeline. Lower bounds on gaps allow this much;
 * an immediate retry (the bug they catch) is far below them.
 */
const ARRIVAL_JITTER_MS = 250;

type State = Record<string, string>;

describe('faults: a misbehaving ticker (429, 500, hang, bad bodies, bad prices)', () => {
  let postgres: PostgresCluster;
  let redis: RedisServer;
  let ticker: FakeUpholdServer;
  let api: ApiProcess | undefined;
  let worker: WorkerProcess | undefined;
  let reader: Redis;

  beforeAll(async () => {
    [postgres, redis] = await Promise.all([startPostgresCluster(), startRedisServer()]);
    ticker = new FakeUpholdServer();
    await ticker.start(0, '127.0.0.1');
    reader = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  });

  afterAll(async () => {
    await worker?.stop();
    await api?.kill('SIGKILL');
    reader?.disconnect();
    await ticker?.stop();
    await Promise.all([postgres?.destroy(), redis?.destroy()]);
  });

  const state = async (): Promise<State> => reader.hgetall(workerStateKey(worker!.monitorId));
  /** XADDs the stream ever took (trimming does not lower it). */
  const alertsInStream = async (): Promise<number | undefined> => (await streamInfo(redis.url)).entriesAdded;

  /** Waits until the worker's state matches, and returns it. */
  async function stateWhere(what: string, match: (s: State) => boolean, timeoutMs = 15_000): Promise<State> {
    let last: State = {};
    await waitFor(
      `worker state: ${what}`,
      async () => {
        last = await state();
        return match(last);
      },
      timeoutMs,
      100,
    ).catch((error: Error) => {
      throw new Error(`${error.message}; last state ${JSON.stringify(last)}`);
    });
    return last;
  }

  const healthy = (s: State): boolean => s.status === 'running' && s.lastPrice === '100';

  /** Arms `fault` `times` times, waits for the worker to report it, then to recover. */
  async function survives(fault: FakeFault, times: number, status: string, error: RegExp): Promise<State> {
    ticker.failNext(PAIR, fault, times);
    const failing = await stateWhere(
      `${status} with ${String(error)}`,
      (s) => s.status === status && error.test(s.lastError),
    );
    await stateWhere('running again', healthy, 30_000);
    expect(worker!.alive()).toBe(true);
    return failing;
  }

  it('keeps running, reports each error in its state, honours Retry-After, never alerts on a bad price', async () => {
    api = await spawnFaultApi({ postgres, redis }, { UPHOLD_API_URL: ticker.url });
    ticker.setPrice(PAIR, '100');
    worker = spawnWorker({
      PAIR,
      UPHOLD_API_URL: ticker.url,
      REDIS_URL: redis.url,
      INTERVAL_MS: String(INTERVAL_MS),
      THRESHOLD_PERCENT: '0.5',
      REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
    });
    const first = await stateWhere('first price', healthy);
    ticker.clearRequestLog();

    // 429 with Retry-After: the next request never comes sooner than it allows.
    const limited = await survives(
      { status: 429, retryAfterSeconds: RETRY_AFTER_S },
      3,
      'rate-limited',
      /rate limited by Uphold \(429\)/,
    );
    const log429 = ticker.requestLog(PAIR);
    const gapsAfter429 = log429
      .map((r, i) => (r.status === 429 && log429[i + 1] ? log429[i + 1].at - r.at : undefined))
      .filter((gap): gap is number => gap !== undefined);
    expect(gapsAfter429).toHaveLength(3);
    for (const gap of gapsAfter429)
      expect(gap).toBeGreaterThanOrEqual(RETRY_AFTER_S * 1000 - ARRIVAL_JITTER_MS);

    // 500s: backoff, never faster than the interval.
    await survives({ status: 500 }, 2, 'retrying', /Uphold answered HTTP 500/);

    // A 10 s hang: the request timeout fires, long before the hang would end.
    const hangFrom = ticker.requestCount(PAIR);
    const hung = await survives({ hangMs: HANG_MS }, 1, 'retrying', /timed out after 1000 ms/);
    const hangRequest = ticker.requestLog(PAIR)[hangFrom];
    const timeoutFiredMs = Date.parse(hung.lastTickAt) - hangRequest.at;
    expect(hangRequest.status).toBeUndefined(); // never answered: the worker gave up first
    expect(timeoutFiredMs).toBeGreaterThanOrEqual(REQUEST_TIMEOUT_MS - ARRIVAL_JITTER_MS);
    expect(timeoutFiredMs).toBeLessThan(HANG_MS / 2);

    // Bodies the worker cannot use.
    await survives({ body: '{"ask": "100' }, 1, 'retrying', /not JSON/);
    await survives({ body: '{"currency":"USD"}' }, 1, 'retrying', /no ask\/bid/);
    await survives({ body: '{"ask":"1e3","bid":"1e3","currency":"USD"}' }, 1, 'degraded', /bad price/);

    // Bad prices served for a while: degraded, no alert, reference untouched (each would be a > 0.5 % move).
    for (const bad of ['0', '-101']) {
      ticker.setQuote(PAIR, { ask: bad, bid: bad });
      const degraded = await stateWhere(
        `degraded on ${bad}`,
        (s) => s.status === 'degraded' && /bad price/.test(s.lastError),
      );
      expect(degraded.referencePrice).toBe('100');
      // Served for a while: two more requests answered with it.
      const servedFrom = ticker.requestCount(PAIR);
      await waitFor(
        'two more requests served the bad price',
        () => ticker.requestCount(PAIR) >= servedFrom + 2,
        15_000,
        100,
      );
      ticker.setPrice(PAIR, '100');
      await stateWhere('running again', healthy);
    }
    expect(await alertsInStream()).toBe(0);

    // The whole time, one request per interval at most, and the same process.
    const log = ticker.requestLog(PAIR);
    const gaps = log.slice(1).map((r, i) => r.at - log[i].at);
    const minGap = Math.min(...gaps);
    expect(minGap).toBeGreaterThanOrEqual(INTERVAL_MS - ARRIVAL_JITTER_MS);
    const last = await state();
    expect(last.pid).toBe(first.pid);
    expect(last.referencePrice).toBe('100');
    expect(worker.alive()).toBe(true);

    // A real move still alerts, from the reference the bad prices never touched.
    ticker.setPrice(PAIR, '101');
    await stateWhere('the move to 101', (s) => s.lastPrice === '101' && s.status === 'running');
    await waitForRows(postgres.url, 1, 15_000);
    expect(await worker.stop()).toBe(0);

    const ledger = new AlertLedger();
    const made = worker.alerts();
    expect(made.dropped).toEqual([]);
    expect(made.undelivered).toEqual([]);
    ledger.addAll(made.made);
    const count = await ledger.count(postgres.url, redis.url);
    const row = await withClient(
      postgres.url,
      async (c) =>
        (
          await c.query<{ reference_price: string; price: string }>(
            'SELECT reference_price, price FROM alerts',
          )
        ).rows,
    );
    const seconds = (log[log.length - 1].at - log[0].at) / 1000;
    console.log(
      summaryLine('ticker faults', count, {
        requests: `${log.length} in ${seconds.toFixed(1)} s`,
        minGap: `${minGap} ms (interval ${INTERVAL_MS})`,
        gapsAfter429: `${gapsAfter429.join('/')} ms (Retry-After ${RETRY_AFTER_S * 1000})`,
        timeoutFiredAfter: `${timeoutFiredMs} ms (REQUEST_TIMEOUT_MS ${REQUEST_TIMEOUT_MS}, hang ${HANG_MS})`,
        alertsFromBadPrices: 0,
        lastErrorOn429: JSON.stringify(limited.lastError),
      }),
    );
    expect(row).toEqual([{ reference_price: '100', price: '101' }]);
    expect(count.published).toBe(1);
    expect(count.missing).toEqual([]);
    expect(count.extra).toEqual([]);
    expect((await streamInfo(redis.url)).entriesAdded).toBe(1);
  }, 150_000);
});
