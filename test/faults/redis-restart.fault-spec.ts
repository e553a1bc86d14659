import Redis from 'ioredis';
import { workerStateKey } from '@pairwatch/contracts';
import { FakeUpholdServer } from '../../apps/fake-ticker/src/fake-uphold.server';
import type { ApiProcess } from '../support/api-process';
import { AlertLedger, rowCount, summaryLine, waitForRows } from '../support/faults/alert-ledger';
import { HealthProbe, HealthSample, spawnFaultApi } from '../support/faults/fault-api';
import { PostgresCluster, startPostgresCluster } from '../support/faults/postgres-cluster';
import { PublisherFeed } from '../support/faults/publisher-feed';
import { RedisServer, startRedisServer } from '../support/faults/redis-server';
import { StreamAudit } from '../support/faults/stream-audit';
import { seconds, sleep, waitFor } from '../support/faults/util';
import { spawnWorker, WorkerProcess } from '../support/faults/worker-process';
import { WORKER_RECONNECT_CAP_MS } from '../../apps/worker/src/alert-publisher';

const OUTAGE_MS = 6_000;
const FEED_WORKERS = 3;
const EVERY_MS = 100;
const PAIRS = ['BTC-USD', 'ETH-USD'];
/** A worker process started on a loaded machine: its bundle loaded, its rule state read, its first alert made. */
const WORKER_LIVE_MS = 30_000;
/**
 * From the restart until a worker has written again: its next reconnection attempt (the worker's retryStrategy
 * waits 200 ms more per failed attempt, at most WORKER_RECONNECT_CAP_MS), then its next tick's write (1 s
 * interval); doubled and more for a loaded machine.
 */
const WRITES_AGAIN_MS = 4 * (WORKER_RECONNECT_CAP_MS + 1000);

/** When a worker's log first says `msg` at or after `since`. */
function loggedAt(worker: WorkerProcess, msg: string, since: number): number | undefined {
  const line = worker
    .lines()
    .find((l) => l.msg === msg && l.time !== undefined && Date.parse(l.time) >= since);
  return line?.time === undefined ? undefined : Date.parse(line.time);
}

/** What each worker logged since `since` (time and message, the last 15), for a failure's message. */
function linesSince(workers: WorkerProcess[], since: number): string {
  return workers
    .map((w) => {
      const lines = w.lines().filter((l) => l.time === undefined || Date.parse(l.time) >= since);
      const shown = lines
        .slice(-15)
        .map((l) => `${l.time ?? '-'} ${l.level} ${l.msg}${l.err ? ` (${JSON.stringify(l.err)})` : ''}`);
      return `worker ${w.pair} (alive ${w.alive()}, ${lines.length} lines since): ${shown.join(' | ')}`;
    })
    .join('; ');
}

interface Outage {
  how: 'SIGTERM' | 'SIGKILL';
  stoppedAt: number;
  startedAt: number;
  /** The first /health 200 after the restart. */
  healthyAt: number;
  backlogStoredMs: number;
  workerReconnectMs: number[];
  health: HealthSample[];
}

/** A worker's state hash, read on a connection of its own. */
async function stateOfWorker(redisUrl: string, monitorId: string): Promise<Record<string, string>> {
  const client = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  client.on('error', () => undefined);
  try {
    return await client.hgetall(workerStateKey(monitorId));
  } finally {
    client.disconnect();
  }
}

describe('faults: Redis restarted during steady alerts (its own Redis, persistence on)', () => {
  let postgres: PostgresCluster;
  let redis: RedisServer;
  let ticker: FakeUpholdServer;
  let api: ApiProcess | undefined;
  let feed: PublisherFeed | undefined;
  let audit: StreamAudit | undefined;
  let probe: HealthProbe | undefined;
  const workers: WorkerProcess[] = [];
  let flipper: NodeJS.Timeout | undefined;

  beforeAll(async () => {
    [postgres, redis] = await Promise.all([startPostgresCluster(), startRedisServer()]);
    ticker = new FakeUpholdServer();
    await ticker.start(0, '127.0.0.1');
  });

  afterAll(async () => {
    clearInterval(flipper);
    // Stopped here too when a case failed before stopping it: its loop would keep jest from exiting.
    await probe?.stop();
    await Promise.all(workers.map((w) => w.stop()));
    await api?.kill('SIGKILL');
    await feed?.close();
    await audit?.stop();
    await ticker?.stop();
    await Promise.all([postgres?.destroy(), redis?.destroy()]);
  });

  it('workers and the API reconnect on their own; nothing is lost, nothing doubled, each worker in order', async () => {
    api = await spawnFaultApi({ postgres, redis }, { UPHOLD_API_URL: ticker.url });
    let apiExit: string | undefined;
    api.child.once('exit', (code, signal) => (apiExit = `code ${code} signal ${signal}`));
    probe = new HealthProbe(api.url, 500);
    probe.start();
    audit = new StreamAudit(redis.url);

    // Two real worker processes whose price moves past the threshold about every tick.
    let high = false;
    for (const pair of PAIRS) ticker.setPrice(pair, '100');
    flipper = setInterval(() => {
      high = !high;
      for (const pair of PAIRS) ticker.setPrice(pair, high ? '101' : '100');
    }, 1000);
    for (const pair of PAIRS) {
      workers.push(spawnWorker({ PAIR: pair, UPHOLD_API_URL: ticker.url, REDIS_URL: redis.url }));
    }
    // And simulated workers publishing faster, through the same publisher code.
    feed = new PublisherFeed(redis.url, FEED_WORKERS);
    feed.startSteady(EVERY_MS);
    // The whole path works before any fault: each worker process is live on Redis (it has published an alert), and
    // alerts reach Postgres. The feed's rows alone came first: on a loaded machine a worker process took seconds to
    // start, began while Redis was down, and so never had a write fail and succeed again, which the case waits for.
    await waitFor(
      'each worker process to publish an alert before any fault',
      () => workers.every((w) => w.lines().some((l) => l.msg === 'price oscillation: alert published')),
      WORKER_LIVE_MS,
    ).catch((error: Error) => {
      throw new Error(`${error.message}; ${linesSince(workers, 0)}`);
    });
    await waitForRows(postgres.url, 1, 30_000);
    expect(await rowCount(postgres.url)).toBeGreaterThan(0);
    const published = (): number =>
      feed!.ledger.size + workers.reduce((n, w) => n + w.alerts().made.length, 0);

    const outages: Outage[] = [];
    // A clean restart, then a crash: SIGKILL, no shutdown, the append-only file as it was.
    for (const how of ['SIGTERM', 'SIGKILL'] as const) {
      const stoppedAt = Date.now();
      await (how === 'SIGTERM' ? redis.stop() : redis.kill());
      const downAt = Date.now();
      // Down for OUTAGE_MS (the fault itself), and until /health has answered while it is down.
      await sleep(OUTAGE_MS);
      await probe.next('an answer while Redis is down', 20_000, () => true, downAt + 1000);
      const restartingAt = Date.now();
      await redis.start();
      const startedAt = Date.now();
      const before = published();
      // Everything published before the restart is stored.
      const backlogStoredMs = await waitForRows(postgres.url, before, 60_000);
      // Counted from before the start: on a loaded machine a worker can reconnect and write before redis.start()
      // has seen the server answer and resolved.
      await waitFor(
        'both workers to write to Redis again',
        () => workers.every((w) => loggedAt(w, 'redis writes succeed again', restartingAt) !== undefined),
        WRITES_AGAIN_MS,
      ).catch((error: Error) => {
        throw new Error(`${error.message}; ${linesSince(workers, stoppedAt)}`);
      });
      // Recovered before the next fault: /health answers 200 again, and alerts made since are stored.
      const healthy = await probe.next('200 after the restart', 30_000, (s) => s.status === 200, startedAt);
      await waitForRows(postgres.url, published() + FEED_WORKERS, 30_000);
      outages.push({
        how,
        stoppedAt,
        startedAt,
        healthyAt: healthy.at,
        backlogStoredMs,
        workerReconnectMs: workers.map(
          (w) => (loggedAt(w, 'redis connection restored', restartingAt) ?? NaN) - restartingAt,
        ),
        health: probe.between(downAt + 1000, restartingAt),
      });
    }

    clearInterval(flipper);
    await feed.stopSteady();
    expect(await feed.flushAll()).toBe(true);
    expect(feed.stats).toMatchObject({ pending: 0, dropped: 0 });
    const exitCodes = await Promise.all(workers.map((w) => w.stop()));
    // /health is observed up to the end of the run.
    await probe.next('an answer at the end of the run', 20_000);
    await probe.stop();

    const ledger = feed.ledger;
    const fromFeed = ledger.size;
    const order = new Map(feed.order);
    const queuedByWorkers = workers.reduce(
      (n, w) =>
        n + w.lines().filter((l) => l.msg === 'price oscillation: alert queued until Redis is back').length,
      0,
    );
    for (const worker of workers) {
      const log = worker.alerts();
      expect(log.dropped).toEqual([]);
      expect(log.undelivered).toEqual([]);
      ledger.addAll(log.made);
      order.set(worker.monitorId, log.made);
    }
    await waitForRows(postgres.url, ledger.size, 30_000);
    await audit.stop();
    const count = await ledger.count(postgres.url, redis.url);

    // In order: each worker's alerts appear in the stream in the order it made them.
    const streamOrder = audit.orderByMonitor();
    let outOfOrder = 0;
    for (const [monitorId, made] of order) {
      if (JSON.stringify(streamOrder.get(monitorId)) !== JSON.stringify(made)) outOfOrder += 1;
    }

    console.log(
      summaryLine(`Redis restarted twice (${seconds(OUTAGE_MS)} down each)`, count, {
        workerProcesses: `${workers.length} (${count.published - fromFeed} alerts)`,
        simulatedWorkers: `${FEED_WORKERS} at ${(FEED_WORKERS * 1000) / EVERY_MS}/s (${fromFeed} alerts)`,
        queuedWhileDown: feed.queuedOnPublish + queuedByWorkers,
        streamEntries: `${audit.entries.length} (${audit.duplicates} duplicate)`,
        workersOutOfOrder: `${outOfOrder}/${order.size}`,
        ...Object.fromEntries(
          outages.map((o) => [
            o.how,
            `workerReconnect=${o.workerReconnectMs.map((ms) => seconds(ms)).join('/')},backlogStored=${seconds(o.backlogStoredMs)},health503=${o.health.filter((s) => s.status === 503).length}/${o.health.length}`,
          ]),
        ),
        apiExited: apiExit ?? 'never',
      }),
    );

    expect(exitCodes).toEqual([0, 0]);
    expect(apiExit).toBeUndefined();
    expect(feed.queuedOnPublish + queuedByWorkers).toBeGreaterThan(0);
    for (const outage of outages) {
      for (const ms of outage.workerReconnectMs) expect(ms).toBeLessThan(10_000);
      // Observed while down (the outage lasted until it was); each answer waits out the 2 s Redis check.
      expect(outage.health.length).toBeGreaterThan(0);
      for (const sample of outage.health) {
        expect(sample.status).toBe(503);
        expect(sample.body).toMatchObject({ redis: { status: 'down' }, postgres: { status: 'up' } });
      }
    }
    // Healthy again after the last restart, and it stayed so at every observation to the end of the run.
    const after = probe.samples.filter((s) => s.at >= outages[outages.length - 1].healthyAt);
    expect(after.length).toBeGreaterThan(0);
    for (const sample of after) expect(sample.status).toBe(200);
    expect(outOfOrder).toBe(0);
    expect(count.missing).toEqual([]);
    expect(count.extra).toEqual([]);
    expect(count.duplicateRows).toBe(0);
    expect(count.stored).toBe(count.published);
  }, 150_000);

  it('a worker keeps at most MAX_PENDING_ALERTS while Redis is down, drops the oldest with a counted warning, sends the rest in order', async () => {
    const PAIR = 'XRP-USD';
    const MAX = 3;
    expect(api?.child.exitCode).toBeNull();
    // What the first case left running if it failed midway: its price flips, its feed's steady alerts.
    clearInterval(flipper);
    await feed?.stopSteady();
    let high = false;
    ticker.setPrice(PAIR, '100');
    flipper = setInterval(() => {
      high = !high;
      ticker.setPrice(PAIR, high ? '101' : '100');
    }, 1000);
    const worker = spawnWorker({
      PAIR,
      UPHOLD_API_URL: ticker.url,
      REDIS_URL: redis.url,
      MAX_PENDING_ALERTS: String(MAX),
    });
    workers.push(worker);
    await waitFor('the worker to publish an alert', () => worker.alerts().made.length > 0, WORKER_LIVE_MS);
    // A group of its own: an audit the first case left running (it failed before stopping it) would share the
    // default group, and take some of this case's entries.
    const audit2 = new StreamAudit(redis.url, 'pairwatch-faults-audit-queue-bound');

    await redis.stop();
    const madeBefore = worker.alerts().made.length;
    await waitFor(
      'more alerts than the bound, made while Redis is down',
      () => worker.alerts().made.length - madeBefore >= MAX + 3,
      20_000,
    );
    const restartingAt = Date.now();
    await redis.start();
    await waitFor(
      'the worker to write to Redis again',
      () => loggedAt(worker, 'redis writes succeed again', restartingAt) !== undefined,
      WRITES_AGAIN_MS,
    );
    clearInterval(flipper);
    /** Whether every alert the worker made and did not drop has a row. */
    const keptStored = async (): Promise<boolean> => {
      const made = worker.alerts();
      const ledger = new AlertLedger();
      ledger.addAll(made.made.filter((id) => !made.dropped.includes(id)));
      return (await ledger.count(postgres.url, undefined, [worker.monitorId])).missing.length === 0;
    };
    // Nothing left to deliver before it stops: the kept alerts are stored, the drops counted in its state.
    await waitFor(
      'the kept alerts to be stored and the drops counted in the worker state',
      async () =>
        (await keptStored()) &&
        (await stateOfWorker(redis.url, worker.monitorId)).droppedAlerts ===
          String(worker.alerts().dropped.length),
      20_000,
    );
    expect(await worker.stop()).toBe(0);

    const log = worker.alerts();
    const drops = worker.lines().filter((l) => l.msg.startsWith('alert queue full'));
    // Alerts whose send may have run (the answer lost as Redis went down): kept whatever their age.
    const inDoubt = new Set(
      worker
        .lines()
        .filter((l) => l.msg.startsWith('alert send outcome unknown'))
        .map((l) => String(l.eventId)),
    );

    const kept = log.made.filter((id) => !log.dropped.includes(id));
    const ledger = new AlertLedger();
    ledger.addAll(kept);
    await waitFor('the kept alerts to be stored', keptStored, 20_000);
    const count = await ledger.count(postgres.url, undefined, [worker.monitorId]);
    await audit2.stop();
    const state = await stateOfWorker(redis.url, worker.monitorId);
    const inOrder = JSON.stringify(audit2.orderByMonitor().get(worker.monitorId)) === JSON.stringify(kept);
    console.log(
      summaryLine(`worker queue bound (MAX_PENDING_ALERTS=${MAX})`, count, {
        made: log.made.length,
        dropped: log.dropped.length,
        droppedAlertsInState: state.droppedAlerts,
        streamOrderAsMade: inOrder ? 'yes' : 'no',
        outcomeUnknown: inDoubt.size,
      }),
    );

    expect(log.dropped.length).toBeGreaterThan(0);
    expect(drops.map((l) => [l.level, l.dropped, l.maxPending])).toEqual(
      log.dropped.map((_, i) => ['warn', i + 1, MAX]),
    );
    // The dropped ones are the oldest of the outage (but those in doubt, which may be on the stream): what was kept
    // is the newest MAX, then the rest.
    const oldest = log.made.slice(madeBefore).filter((id) => !inDoubt.has(id));
    expect(log.dropped).toEqual(oldest.slice(0, log.dropped.length));
    expect(state.droppedAlerts).toBe(String(log.dropped.length));
    expect(log.undelivered).toEqual([]);
    expect(inOrder).toBe(true);
    expect(count.missing).toEqual([]);
    expect(count.extra).toEqual([]);
    expect(count.stored).toBe(log.made.length - log.dropped.length);
  }, 90_000);
});
