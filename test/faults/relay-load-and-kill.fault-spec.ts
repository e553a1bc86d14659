import Docker from 'dockerode';
import Redis from 'ioredis';
import { workerStateKey } from '@pairwatch/contracts';
import { syntheticPairs } from '../../apps/fake-ticker/src/fake-ticker.config';
import { FakeUpholdServer } from '../../apps/fake-ticker/src/fake-uphold.server';
import { demuxLogs } from '../../apps/api/src/runtime/docker-engine';
import type { ApiProcess } from '../support/api-process';
import type { MonitorBody } from '../support/bodies';
import { AlertLedger, summaryLine, waitForRows } from '../support/faults/alert-ledger';
import { dockerStatusSync, engineSocketPath } from '../support/faults/docker-proxy';
import { FAULTS_INSTANCE, health, spawnFaultApi } from '../support/faults/fault-api';
import { PostgresCluster, startPostgresCluster } from '../support/faults/postgres-cluster';
import { RedisServer, startRedisServer } from '../support/faults/redis-server';
import { freePort, seconds, waitFor } from '../support/faults/util';
import { alertsFromLog, parseLogText } from '../support/faults/worker-process';
import { eventually } from '../support/wait';

const WORKER_IMAGE = process.env.WORKER_IMAGE ?? 'pairwatch-worker:latest';
const dockerStatus = dockerStatusSync(WORKER_IMAGE);
if (dockerStatus !== 'yes') {
  if (process.env.CI === 'true') throw new Error(`faults: the relay cases must run in CI: ${dockerStatus}`);
  console.warn(`!! SKIPPED the relay fault cases: ${dockerStatus}`);
}
const describeDocker = dockerStatus === 'yes' ? describe : describe.skip;

const CURRENCIES = ['USD', 'EUR', 'BTC'];
const INTERVAL_MS = 5000;
const RATE_LIMIT_PER_MIN = 250;
/**
 * 0 answers 429 over a minute of that load once every worker ticks (the creation burst before it counted too):
 * the fake's limit is per rolling minute, so a window of one minute holds every span it judges, and a second
 * minute of the same steady load would show nothing more. The observation is the test.
 */
const WINDOW_MS = 60_000;
const RECONCILE_MS = 10_000;
/** What a reconcile pass may take on top of its period on the loaded 2-core machine (72 workers running). */
const PASS_SLACK_MS = 5000;
/** Prices move by 1 % at each step (threshold 0.5 %): every step is one alert per monitor. */
const PRICES = ['100', '101', '102.01', '103.0301'];

/**
 * The relay's fault cases on the Docker runtime, with real worker containers, the API as a process on the case's
 * own Postgres and Redis, and the fake ticker enforcing 250 requests/min: `window`, the load (72
 * monitors at 5 s over USD, EUR and BTC) for a minute once all tick; `kill`, the relay killed while the monitors run.
 */
function relayCases(pairs: string[], which: readonly ('window' | 'kill')[]): void {
  const engine = new Docker({ socketPath: engineSocketPath() });
  let postgres: PostgresCluster;
  let redis: RedisServer;
  let reader: Redis;
  let ticker: FakeUpholdServer;
  let relayPort: number;
  let api: ApiProcess | undefined;
  let monitors: MonitorBody[] = [];

  const containers = (role?: 'worker' | 'relay'): Promise<Docker.ContainerInfo[]> =>
    engine.listContainers({
      all: true,
      filters: {
        label: [`pairwatch.instance=${FAULTS_INSTANCE}`, ...(role ? [`pairwatch.role=${role}`] : [])],
      },
    });
  const removeContainers = async (): Promise<void> => {
    await Promise.all(
      (await containers()).map((c) =>
        engine
          .getContainer(c.Id)
          .remove({ force: true })
          .catch(() => undefined),
      ),
    );
  };
  const setPrices = (price: string): void => {
    for (const pair of pairs) ticker.setPrice(pair, price);
  };
  /** Every monitor's own report (its state hash), in one round trip. */
  const reports = async (): Promise<Record<string, string>[]> => {
    const results = await reader.pipeline(monitors.map((m) => ['hgetall', workerStateKey(m.id)])).exec();
    return (results ?? []).map(([error, hash]) => (error ? {} : (hash as Record<string, string>)));
  };
  /** Resolves with when every worker had reported a tick after `after` at `price`; the slowest's delay. */
  const everyWorkerTicks = async (after: number, price: string, timeoutMs: number): Promise<number> => {
    let behind = monitors.length;
    try {
      return await eventually(
        `every worker to tick at ${price} after ${new Date(after).toISOString()}`,
        async () => {
          const all = await reports();
          const late = all.filter((r) => !(Date.parse(r.lastTickAt) > after && r.lastPrice === price));
          behind = late.length;
          if (late.length > 0) return undefined;
          return Math.max(...all.map((r) => Date.parse(r.lastTickAt) - after));
        },
        timeoutMs,
        250,
      );
    } catch (error) {
      throw new Error(`${(error as Error).message} (${behind} of ${monitors.length} behind)`);
    }
  };
  const relayAnswers = async (): Promise<boolean> => {
    try {
      const res = await fetch(`http://127.0.0.1:${relayPort}/healthz`, { signal: AbortSignal.timeout(1000) });
      return res.status === 200;
    } catch {
      return false;
    }
  };
  const runningRelay = async (not?: string): Promise<Docker.ContainerInfo | undefined> => {
    const relays = await containers('relay');
    return relays.length === 1 && relays[0].Id !== not && relays[0].State === 'running'
      ? relays[0]
      : undefined;
  };

  /** POSTs that answered 503 (the pair check through the relay exceeded its 5 s on a loaded machine) and were sent again. */
  let retried503 = 0;

  /**
   * The case's monitors, created 4 at a time. A 503 is what the API answers when it could not check the pair in time, with
   * nothing left behind: the request is sent again, as a client would, and counted.
   */
  async function ensureMonitors(): Promise<{ createdMs: number }> {
    const started = Date.now();
    const listed = (await (await fetch(`${api!.url}/monitors`)).json()) as MonitorBody[];
    const made = listed.filter((m) => m.status === 'running' && pairs.includes(m.pair));
    const queue = pairs.filter((pair) => !made.some((m) => m.pair === pair));
    monitors = made;
    if (queue.length === 0) return { createdMs: 0 };
    const post = async (): Promise<void> => {
      for (let pair = queue.shift(); pair; pair = queue.shift()) {
        for (let attempt = 1; ; attempt += 1) {
          const res = await fetch(`${api!.url}/monitors`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ pair, intervalMs: INTERVAL_MS, thresholdPercent: 0.5 }),
          });
          const body = (await res.json()) as MonitorBody;
          if (res.status === 201) {
            made.push(body);
            break;
          }
          if (res.status !== 503 || attempt >= 3)
            throw new Error(`POST /monitors ${pair}: ${res.status} ${JSON.stringify(body)}`);
          retried503 += 1;
        }
      }
    };
    await Promise.all(Array.from({ length: 4 }, post));
    monitors = made;
    return { createdMs: Date.now() - started };
  }

  beforeAll(async () => {
    [postgres, redis] = await Promise.all([startPostgresCluster(), startRedisServer()]);
    reader = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    ticker = new FakeUpholdServer();
    await ticker.start(0, '127.0.0.1');
    setPrices(PRICES[0]);
    ticker.setRateLimit(RATE_LIMIT_PER_MIN);
    relayPort = await freePort();
    await removeContainers();
    api = await spawnFaultApi(
      { postgres, redis },
      {
        WORKER_RUNTIME: 'docker',
        WORKER_NETWORK: 'host',
        WORKER_IMAGE,
        UPHOLD_API_URL: ticker.url,
        UPHOLD_RELAY: 'on',
        RELAY_PORT: String(relayPort),
        UPHOLD_RATE_LIMIT_PER_MIN: String(RATE_LIMIT_PER_MIN),
        RECONCILE_INTERVAL_MS: String(RECONCILE_MS),
        // Workers get the API's level: at info they log every alert they publish, which the count reads.
        LOG_LEVEL: 'info',
      },
    );
    await waitFor('the relay to answer', relayAnswers, 60_000);
  }, 120_000);

  afterAll(async () => {
    await api?.kill('SIGKILL');
    await removeContainers();
    reader?.disconnect();
    await ticker?.stop();
    await Promise.all([postgres?.destroy(), redis?.destroy()]);
  }, 120_000);

  if (which.includes('window'))
    it(
      `${pairs.length} monitors at ${INTERVAL_MS / 1000} s over USD, EUR and BTC: the fake, enforcing ` +
        `${RATE_LIMIT_PER_MIN}/min, answers 0 requests 429 from the first POST to a minute after all tick`,
      async () => {
        const firstPost = ticker.stats().now;
        const { createdMs } = await ensureMonitors();
        await everyWorkerTicks(0, PRICES[0], 120_000);
        const windowStart = ticker.stats().now;
        const windowEnd = windowStart + WINDOW_MS;

        // The requirement is a count over the window of this load, so the wait's deadline is the
        // window itself: it ends when the window has passed, or as soon as the fake has refused one request
        // (counted from the first POST, so the creation burst, with its pair checks, is in it too).
        const refused = await eventually(
          'the window to pass (or a 429)',
          () => {
            const { rateLimit } = ticker.stats(firstPost);
            return rateLimit.refused > 0 || ticker.stats().now >= windowEnd ? rateLimit.refused : undefined;
          },
          WINDOW_MS + 10_000,
          250,
        );
        const stats = ticker.stats(firstPost);
        const byList = Object.fromEntries(
          Object.entries(stats.byTarget)
            .filter(([, counts]) => counts.kind === 'list')
            .map(([target, counts]) => [target, counts.requests]),
        );
        const minutes = (stats.now - firstPost) / 60_000;
        const steady = ticker.stats(windowStart);
        console.log(
          `[faults] relay at ${pairs.length} monitors (${INTERVAL_MS} ms): created in ${seconds(createdMs)}, ` +
            `(${retried503} POSTs answered 503 and were sent again), ` +
            `all ticking ${seconds(windowStart - firstPost)} after the first POST; over the ${seconds(stats.now - firstPost)} ` +
            `from the first POST to the end of the window after all ticked ` +
            `the fake answered ${stats.requests} requests (${(stats.requests / minutes).toFixed(1)}/min; lists ${JSON.stringify(byList)}, ` +
            `pair endpoints ${stats.byEndpoint.pair.requests}), refused ${stats.rateLimit.refused} (limit ${RATE_LIMIT_PER_MIN}/min); ` +
            `steady ${seconds(WINDOW_MS)}: ${steady.requests} requests (${(steady.requests / (WINDOW_MS / 60_000)).toFixed(1)}/min); ` +
            `without the relay: ${(pairs.length * 60_000) / INTERVAL_MS}/min`,
        );
        expect(refused).toBe(0);
        expect(stats.byEndpoint.list.byStatus['429']).toBeUndefined();
        // The load was real to the end: every worker still ticking at the window's close.
        await everyWorkerTicks(windowEnd - INTERVAL_MS, PRICES[0], 3 * INTERVAL_MS);
      },
      WINDOW_MS + 360_000,
    );

  if (which.includes('kill'))
    it(
      `the relay SIGKILLed, then its container removed, while ${pairs.length} monitors run: back within a ` +
        'reconcile period, every worker ticks again within 3 intervals, no worker exits, no alert lost or doubled',
      async () => {
        await ensureMonitors();
        await everyWorkerTicks(0, PRICES[0], 120_000);
        const workers = new Map((await containers('worker')).map((c) => [c.Id, c]));
        expect(monitors.every((m) => workers.has(m.workerId!))).toBe(true);
        const countFrom = ticker.stats().now;

        // One alert per monitor with the relay up.
        setPrices(PRICES[1]);
        await waitForRows(postgres.url, monitors.length, 60_000);

        // The relay's process is SIGKILLed (as by the OOM killer): it comes back, restarted by its container's
        // restart policy or replaced by the supervisor, whichever is first.
        const first = (await runningRelay())!;
        const before = await engine.getContainer(first.Id).inspect();
        const killedAt = Date.now();
        process.kill(before.State.Pid, 'SIGKILL');
        setPrices(PRICES[2]);
        const backAfterKill = await waitFor(
          'the relay to be back after the SIGKILL',
          async () => {
            const relay = await runningRelay();
            if (!relay) return false;
            const now = await engine.getContainer(relay.Id).inspect();
            const anew = relay.Id !== first.Id || now.State.StartedAt !== before.State.StartedAt;
            return anew && (await relayAnswers());
          },
          RECONCILE_MS + PASS_SLACK_MS,
          100,
        );
        const ticksAfterKill = await everyWorkerTicks(backAfterKill, PRICES[2], 3 * INTERVAL_MS);

        // Its container removed behind the API's back: the supervisor starts another.
        const second = (await runningRelay())!;
        const removedAt = Date.now();
        await engine.getContainer(second.Id).remove({ force: true });
        setPrices(PRICES[3]);
        const replacedAt = await waitFor(
          'a new relay container that answers',
          async () => (await runningRelay(second.Id)) !== undefined && (await relayAnswers()),
          RECONCILE_MS + PASS_SLACK_MS,
          100,
        );
        const ticksAfterRemoval = await everyWorkerTicks(replacedAt, PRICES[3], 3 * INTERVAL_MS);
        expect(await containers('relay')).toHaveLength(1);
        expect((await health(api!.url)).body).toMatchObject({ relay: { status: 'up' } });

        // No worker exited: the same containers, never restarted.
        for (const monitor of monitors) {
          const inspected = await engine.getContainer(monitor.workerId!).inspect();
          expect({
            pair: monitor.pair,
            running: inspected.State.Running,
            restarts: inspected.RestartCount,
          }).toEqual({ pair: monitor.pair, running: true, restarts: 0 });
        }

        // Three alerts per monitor, each published once and stored once.
        await waitForRows(postgres.url, 3 * monitors.length, 60_000);
        // A worker logs an alert after its MULTI, so a row can be committed before its line reaches the
        // engine's log: read the logs until they hold every alert stored.
        const logged = await eventually(
          "every stored alert's line in its worker's log",
          async () => {
            const all = [];
            for (const monitor of monitors) {
              const log = demuxLogs(
                await engine
                  .getContainer(monitor.workerId!)
                  .logs({ stdout: true, stderr: true, follow: false }),
              );
              all.push(alertsFromLog(parseLogText(log)));
            }
            return all.reduce((n, a) => n + a.made.length, 0) >= 3 * monitors.length ? all : undefined;
          },
          15_000,
          250,
        );
        const ledger = new AlertLedger();
        let dropped = 0;
        for (const alerts of logged) {
          dropped += alerts.dropped.length + alerts.undelivered.length;
          ledger.addAll(alerts.made);
        }
        const count = await ledger.count(postgres.url, redis.url);
        const refused = ticker.stats(countFrom).rateLimit.refused;
        console.log(
          summaryLine('relay killed', count, {
            monitors: monitors.length,
            relayBackAfterSigkill: seconds(backAfterKill - killedAt),
            slowestWorkerTickAfterThat: seconds(ticksAfterKill),
            relayReplacedAfterRemoval: seconds(replacedAt - removedAt),
            slowestWorkerTickAfterThatToo: seconds(ticksAfterRemoval),
            workerRestarts: 0,
            upstream429s: refused,
          }),
        );
        expect(dropped).toBe(0);
        expect(count.published).toBe(3 * monitors.length);
        expect(count.missing).toEqual([]);
        expect(count.extra).toEqual([]);
        expect(count.duplicateRows).toBe(0);
        expect(count.streamAppends).toBe(count.published);
        expect(refused).toBe(0);
      },
      240_000,
    );
}

// One setup for both cases: the load for a minute, then the relay killed while those same monitors run
// (the kill case asks for 20; it runs at the 72 already there, a harder version of it, for one setup's time).
describeDocker(
  "faults: the relay at the issue's load (72 worker containers, the fake enforcing 250/min), then killed",
  () => relayCases(syntheticPairs(72, CURRENCIES), ['window', 'kill']),
);
