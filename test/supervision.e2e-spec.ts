import { randomUUID } from 'node:crypto';
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import Redis from 'ioredis';
import request from 'supertest';
import { ALERT_EVENT_FIELD, ALERTS_STREAM } from '@pairwatch/contracts';
import { FakeUpholdServer } from '../apps/fake-ticker/src/fake-uphold.server';
import { WorkerRuntime } from '../apps/api/src/runtime/worker-runtime';
import { ApiProcess, spawnApi } from './support/api-process';
import { eventually, reconcilePassAfterNow, resetTestState, startApi, TestApi } from './support/api';
import { describeWithDocker, docker, removeAllWorkers, workerContainers } from './support/docker';
import { startDockerSocketProxy } from './support/faults/docker-proxy';
import { TEST_ENV, testRedisUrl } from './support/test-env';
import type { MonitorBody } from './support/bodies';

const run = promisify(execFile);

/** Builds an image from a Dockerfile given as text (no context), with the classic builder. */
async function buildImage(tag: string, dockerfile: string): Promise<void> {
  const child = spawn('docker', ['build', '-q', '-t', tag, '-'], {
    env: { ...process.env, DOCKER_BUILDKIT: '0' },
    stdio: ['pipe', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdin.end(dockerfile);
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`docker build ${tag} failed: ${stderr}`);
}

async function createMonitor(url: string, pair: string, extra: object = {}): Promise<MonitorBody> {
  const res = await request(url)
    .post('/monitors')
    .send({ pair, intervalMs: 1000, thresholdPercent: 0.5, ...extra })
    .expect(201);
  return res.body as MonitorBody;
}

async function getMonitor(url: string, id: string): Promise<MonitorBody> {
  return (await request(url).get(`/monitors/${id}`).expect(200)).body as MonitorBody;
}

async function alertsOf(url: string, pair: string): Promise<{ id: string; price: string }[]> {
  const res = await request(url).get('/alerts').query({ pair }).expect(200);
  return (res.body as { items: { id: string; price: string }[] }).items;
}

/** Running containers per monitor id. */
async function runningByMonitor(): Promise<Map<string, string[]>> {
  const containers = await workerContainers();
  const map = new Map<string, string[]>();
  for (const c of containers) {
    if (c.State !== 'running' && c.State !== 'restarting' && c.State !== 'created') continue;
    const id = c.Labels['pairwatch.monitor-id'];
    map.set(id, [...(map.get(id) ?? []), c.Id]);
  }
  return map;
}

/** The alert events in the stream (read, not consumed), as the workers published them. */
async function streamedAlerts(): Promise<{ pair: string; price: string }[]> {
  const redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: 1 });
  try {
    const entries = await redis.xrange(ALERTS_STREAM, '-', '+');
    return entries.map(([, fields]) => {
      const event = JSON.parse(fields[fields.indexOf(ALERT_EVENT_FIELD) + 1]) as {
        pair: string;
        price: string;
      };
      return { pair: event.pair, price: event.price };
    });
  } finally {
    redis.disconnect();
  }
}

/**
 * Reconcile passes an API began, as seen through a Docker socket proxy: each pass starts by listing all the
 * installation's workers (the only listing without a monitor id in its filter).
 */
function reconcileListings(targets: string[]): number {
  return targets.filter(
    (t) => /^GET \S*\/containers\/json\b/.test(t) && !decodeURIComponent(t).includes('pairwatch.monitor-id'),
  ).length;
}

const PAIRS = ['BTC-USD', 'ETH-USD', 'XRP-USD'];

describeWithDocker('supervision: reconcile, adoption, crash loops (Docker)', () => {
  let ticker: FakeUpholdServer;

  beforeAll(async () => {
    ticker = new FakeUpholdServer();
    await ticker.start(0, '127.0.0.1');
  });

  beforeEach(async () => {
    for (const pair of PAIRS) ticker.setQuote(pair, { ask: '100', bid: '99.9' });
    ticker.clearFaults();
    await resetTestState();
  });

  afterAll(async () => {
    await resetTestState();
    await ticker?.stop();
  });

  it('adopts the same three workers after the API is SIGKILLed and restarted, and alerts keep arriving', async () => {
    const env = { UPHOLD_API_URL: ticker.url, RECONCILE_INTERVAL_MS: '2000' };
    let api: ApiProcess = await spawnApi(env);
    const proxy = await startDockerSocketProxy();
    try {
      const monitors = await Promise.all(PAIRS.map((pair) => createMonitor(api.url, pair)));
      for (const monitor of monitors) {
        await eventually(`${monitor.pair}'s first tick`, async () =>
          (await getMonitor(api.url, monitor.id)).worker?.lastPrice === '100' ? true : undefined,
        );
      }
      const before = await runningByMonitor();
      expect([...before.values()].map((ids) => ids.length)).toEqual([1, 1, 1]);

      await api.kill('SIGKILL');
      // While no API runs, a worker still publishes: the alert waits in the stream.
      ticker.setQuote('ETH-USD', { ask: '101', bid: '100.9' });
      await eventually('the alert published while no API runs to wait in the stream', async () =>
        (await streamedAlerts()).some((a) => a.pair === 'ETH-USD' && a.price === '101') ? true : undefined,
      );

      // The new API reaches the engine through a proxy that sees its reconcile passes.
      api = await spawnApi({ ...env, DOCKER_HOST: proxy.dockerHost });
      // Give it several reconcile passes to do anything it (wrongly) might: two whole ones, and a third begun.
      await eventually(
        'the new API to begin its third reconcile pass',
        () => (reconcileListings(proxy.targets) >= 3 ? true : undefined),
        30_000,
      );
      const after = await runningByMonitor();
      expect(after).toEqual(before);
      for (const monitor of monitors) {
        const now = await getMonitor(api.url, monitor.id);
        expect(now).toMatchObject({ status: 'running', workerId: before.get(monitor.id)?.[0] });
      }
      const eth = await eventually('the alert published while the API was down', async () => {
        const items = await alertsOf(api.url, 'ETH-USD');
        return items.length > 0 ? items : undefined;
      });
      expect(eth[0].price).toBe('101');
      ticker.setQuote('BTC-USD', { ask: '99', bid: '98.9' });
      const btc = await eventually('a new alert after the restart', async () => {
        const items = await alertsOf(api.url, 'BTC-USD');
        return items.length > 0 ? items : undefined;
      });
      expect(btc[0].price).toBe('99');
    } finally {
      await api.kill('SIGKILL');
      await proxy.close();
    }
  });

  describe('with one API reconciling every 3 s', () => {
    let api: TestApi;

    beforeEach(async () => {
      api = await startApi({
        env: { UPHOLD_API_URL: ticker.url, RECONCILE_INTERVAL_MS: '3000', CRASH_LOOP_MAX_DEATHS: '3' },
        keepState: true,
      });
    });

    afterEach(async () => {
      await api.close();
    });

    it('replaces a worker removed by hand within one reconcile period, never running two', async () => {
      const monitor = await createMonitor(api.url, 'BTC-USD');
      const [original] = (await runningByMonitor()).get(monitor.id) ?? [];
      expect(original).toBeDefined();
      // Each reconcile pass begins by listing the workers; a replacement is a start for this monitor.
      const runtime = api.app.get(WorkerRuntime);
      const list = jest.spyOn(runtime, 'list');
      const start = jest.spyOn(runtime, 'start');
      await docker.getContainer(original).remove({ force: true });
      const listsBeforeRemoval = list.mock.calls.length;

      let most = 0;
      const replacement = await eventually(
        'a replacement worker',
        async () => {
          const ids = (await runningByMonitor()).get(monitor.id) ?? [];
          most = Math.max(most, ids.length);
          return ids.length === 1 && ids[0] !== original ? ids[0] : undefined;
        },
        30_000,
      );
      // Within one reconcile period: started by the first pass that began after the removal (or by the one
      // under way during it), not a later one.
      const startIndex = start.mock.calls.findIndex(
        ([spec]) => spec.role === 'worker' && spec.monitor.monitorId === monitor.id,
      );
      expect(startIndex).toBeGreaterThanOrEqual(0);
      const startOrder = start.mock.invocationCallOrder[startIndex];
      // A pass lists the workers once (and the relays once): the workers' listings count the passes.
      const passesBeforeStart = list.mock.invocationCallOrder
        .slice(listsBeforeRemoval)
        .filter(
          (order, i) => list.mock.calls[listsBeforeRemoval + i][0] === 'worker' && order < startOrder,
        ).length;
      expect(passesBeforeStart).toBeLessThanOrEqual(1);
      list.mockRestore();
      start.mockRestore();
      expect(most).toBe(1);
      await eventually('the monitor to point at the replacement', async () =>
        (await getMonitor(api.url, monitor.id)).workerId === replacement ? true : undefined,
      );
      expect((await getMonitor(api.url, monitor.id)).status).toBe('running');
    });

    it('removes a labelled worker whose monitor is stopped or unknown', async () => {
      const monitor = await createMonitor(api.url, 'ETH-USD');
      await request(api.url).delete(`/monitors/${monitor.id}`).expect(204);
      const strays: string[] = [];
      for (const monitorId of [monitor.id, randomUUID()]) {
        const container = await docker.createContainer({
          Image: TEST_ENV.workerImage,
          Entrypoint: ['node', '-e', 'setInterval(() => {}, 1000)'],
          Labels: {
            'pairwatch.managed': 'true',
            'pairwatch.instance': TEST_ENV.instance,
            'pairwatch.monitor-id': monitorId,
            'pairwatch.pair': 'ETH-USD',
          },
          HostConfig: { NetworkMode: 'none' },
        });
        strays.push(container.id);
        // A reconcile pass may remove the stray between its creation and its start: that is the outcome awaited.
        await container.start().catch((error: { statusCode?: number }) => {
          if (error.statusCode !== 404 && error.statusCode !== 409) throw error;
        });
      }
      await eventually(
        'the stray workers to be removed',
        async () => {
          const left = (await workerContainers()).filter((c) => strays.includes(c.Id));
          return left.length === 0 ? true : undefined;
        },
        // A stray that ignores SIGTERM takes the 5 s stop timeout to go.
        20_000,
      );
    });

    it('shows the hardening on the worker container', async () => {
      const monitor = await createMonitor(api.url, 'XRP-USD');
      const info = await docker.getContainer(monitor.workerId!).inspect();
      expect(info.Config.User).toBe('10001:10001');
      expect(info.HostConfig).toMatchObject({
        ReadonlyRootfs: true,
        CapDrop: ['ALL'],
        SecurityOpt: ['no-new-privileges'],
        Memory: 128 * 1024 * 1024,
        // A quarter CPU over a 1 s period (workload.ts: WORKER_CPU_PERIOD_US), not NanoCpus' 100 ms.
        NanoCpus: 0,
        CpuPeriod: 1_000_000,
        CpuQuota: 250_000,
        PidsLimit: 64,
        RestartPolicy: { Name: 'on-failure', MaximumRetryCount: 3 },
        LogConfig: { Type: 'json-file', Config: { 'max-size': '1m', 'max-file': '3' } },
      });
      const { stdout } = await run('docker', [
        'exec',
        monitor.workerId!,
        'node',
        '-e',
        'process.stdout.write(String(process.getuid()))',
      ]);
      expect(stdout).toBe('10001');
      await eventually('the worker to report', async () =>
        (await getMonitor(api.url, monitor.id)).worker?.lastTickAt ? true : undefined,
      );
      const health = (await request(api.url).get('/health').expect(200)).body as { monitors: object };
      expect(health.monitors).toEqual({ running: 1, starting: 0, stale: 0, failed: 0 });
    });

    it('replaces a running worker when its limits change, as for a new image', async () => {
      const monitor = await createMonitor(api.url, 'ETH-USD');
      await api.close();
      api = await startApi({
        env: { UPHOLD_API_URL: ticker.url, RECONCILE_INTERVAL_MS: '3000', WORKER_MILLICPUS: '500' },
        keepState: true,
      });
      const replaced = await eventually('the worker replaced under the new limit', async () => {
        const now = await getMonitor(api.url, monitor.id);
        return now.status === 'running' && now.workerId && now.workerId !== monitor.workerId
          ? now
          : undefined;
      });
      const info = await docker.getContainer(replaced.workerId!).inspect();
      expect(info.HostConfig).toMatchObject({ CpuPeriod: 1_000_000, CpuQuota: 500_000 });
      expect(await workerContainers(monitor.id)).toHaveLength(1);
    });

    it('fails a monitor at once when its pair disappears from the ticker', async () => {
      const monitor = await createMonitor(api.url, 'BTC-USD');
      ticker.removePair('BTC-USD');
      const failed = await eventually('the monitor to fail', async () => {
        const now = await getMonitor(api.url, monitor.id);
        return now.status === 'failed' ? now : undefined;
      });
      expect(failed.reason).toMatch(/BTC-USD is unknown at the ticker \(worker exit code 3\)/);
      expect(failed.reason).toMatch(/last log lines/);
      // Marked failed first, then its worker is removed (the engine may have restarted it meanwhile).
      await eventually('the failed monitor to have no worker container', async () =>
        (await workerContainers(monitor.id)).length === 0 ? true : undefined,
      );
      expect(await workerContainers(monitor.id)).toHaveLength(0);
    });
  });

  it('fails a crash-looping monitor with its exit code and last log lines, and restarts it once the cause is gone', async () => {
    const crasher = 'pairwatch-crasher:e2e';
    await buildImage(
      crasher,
      `FROM ${TEST_ENV.workerImage}\nENTRYPOINT ["node", "-e", "console.error('crasher: cannot start'); process.exit(7)"]\n`,
    );
    const common = { UPHOLD_API_URL: ticker.url, RECONCILE_INTERVAL_MS: '3000', CRASH_LOOP_MAX_DEATHS: '3' };
    let api = await startApi({ env: { ...common, WORKER_IMAGE: crasher }, keepState: true });
    let monitor: MonitorBody;
    try {
      monitor = await createMonitor(api.url, 'ETH-USD');
      const failed = await eventually(
        'the crash-looping monitor to fail',
        async () => {
          const now = await getMonitor(api.url, monitor.id);
          return now.status === 'failed' ? now : undefined;
        },
        60_000,
      );
      expect(failed.reason).toMatch(/crash loop: died \d+ times/);
      expect(failed.reason).toMatch(/last exit code 7/);
      expect(failed.reason).toMatch(/crasher: cannot start/);
      // Not restarted again by a reconcile pass that began after it failed.
      await reconcilePassAfterNow(api);
      expect(await workerContainers(monitor.id)).toHaveLength(0);
      expect((await getMonitor(api.url, monitor.id)).status).toBe('failed');
      const health = (await request(api.url).get('/health').expect(200)).body as { monitors: object };
      expect(health.monitors).toEqual({ running: 0, starting: 0, stale: 0, failed: 1 });
    } finally {
      await api.close();
    }

    // The cause is gone (the real image): restart brings the monitor back.
    api = await startApi({ env: common, keepState: true });
    try {
      const restarted = (await request(api.url).post(`/monitors/${monitor.id}/restart`).expect(200))
        .body as MonitorBody;
      expect(restarted).toMatchObject({ status: 'running', reason: null });
      await eventually('the restarted worker to tick', async () =>
        (await getMonitor(api.url, monitor.id)).worker?.lastPrice === '100' ? true : undefined,
      );
      await request(api.url).post(`/monitors/${monitor.id}/restart`).expect(409);
    } finally {
      await api.close();
      await removeAllWorkers();
    }
  });

  it('keeps exactly one worker per monitor while two API replicas reconcile at once for 30 s', async () => {
    const env = { UPHOLD_API_URL: ticker.url, RECONCILE_INTERVAL_MS: '1000' };
    const a = await startApi({ env, keepState: true });
    // Monitors recorded as running with no worker yet: both replicas race to start them.
    const ids = PAIRS.map(() => randomUUID());
    await a.db.query(
      `INSERT INTO monitors (id, pair, interval_ms, threshold_percent, price_field, direction, cooldown_ms, status)
       SELECT unnest($1::uuid[]), unnest($2::text[]), 1000, 0.5, 'ask', 'both', 0, 'running'`,
      [ids, PAIRS],
    );
    const b = await startApi({ env, keepState: true });
    try {
      await eventually('a worker for each monitor', async () => {
        const running = await runningByMonitor();
        return ids.every((id) => running.get(id)?.length === 1) ? true : undefined;
      });
      // One each at every observation, however few a busy machine allows, until the 30 s have passed; and
      // one each at the end of them.
      const end = Date.now() + 30_000;
      let lastObservedAt = 0;
      while (lastObservedAt < end) {
        lastObservedAt = Date.now();
        const running = await runningByMonitor();
        for (const id of ids) expect(running.get(id) ?? []).toHaveLength(1);
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    } finally {
      await a.close();
      await b.close();
    }
  });
});
