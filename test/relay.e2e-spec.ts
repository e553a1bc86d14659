import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import * as path from 'node:path';
import request from 'supertest';
import { FakeUpholdServer } from '../apps/fake-ticker/src/fake-uphold.server';
import { processGone } from '../apps/api/src/runtime/process-table';
import { ProcessRuntime } from '../apps/api/src/runtime/process.runtime';
import { RELAY, workerOf } from '../apps/api/src/runtime/worker-runtime';
import { eventually, resetTestState, startApi, TestApi } from './support/api';
import type { AlertBody, MonitorBody } from './support/bodies';
import { describeWithDocker, docker, workerContainers } from './support/docker';
import { freePort } from './support/faults/util';
import { getMonitor, relayContainers, relayHealth, runningRelay, tickAfter } from './support/relay';
import { TEST_ENV } from './support/test-env';

/** Short, so that "within one reconcile period" is a deadline a test can wait for. */
const RECONCILE_MS = 3000;
/** What a reconcile pass may take on a loaded machine, on top of its period. */
const SLACK_MS = 15_000;

async function alertsOf(api: TestApi, monitorId: string): Promise<AlertBody[]> {
  const res = await request(api.url).get('/alerts').query({ monitorId }).expect(200);
  return (res.body as { items: AlertBody[] }).items;
}

async function createMonitor(api: TestApi, pair: string): Promise<MonitorBody> {
  const res = await request(api.url)
    .post('/monitors')
    .send({ pair, intervalMs: 1000, thresholdPercent: 0.5 });
  expect(res.status).toBe(201);
  return res.body as MonitorBody;
}

function environ(env: string[] | undefined): Record<string, string> {
  return Object.fromEntries(
    (env ?? []).map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]),
  );
}

describeWithDocker('the relay on the Docker runtime (UPHOLD_RELAY=on)', () => {
  let ticker: FakeUpholdServer;
  let tickerUrl: string;
  let relayPort: number;
  let api: TestApi | undefined;

  beforeAll(async () => {
    ticker = new FakeUpholdServer();
    tickerUrl = (await ticker.start(0, '127.0.0.1')).url;
  });

  beforeEach(async () => {
    relayPort = await freePort();
    ticker.clearRequestLog();
  });

  afterEach(async () => {
    await api?.close();
    api = undefined;
    await resetTestState();
  });

  afterAll(async () => {
    await ticker?.stop();
  });

  /** An API with the relay on; `keepState`: what it leaves (its relay) stays for the next one. */
  function start(extra: Record<string, string> = {}, keepState = false): Promise<TestApi> {
    return startApi({
      keepState,
      env: {
        UPHOLD_RELAY: 'on',
        RELAY_PORT: String(relayPort),
        UPHOLD_API_URL: tickerUrl,
        RECONCILE_INTERVAL_MS: String(RECONCILE_MS),
        ...extra,
      },
    });
  }

  it('runs one hardened relay, points workers at it, serves them from currency lists, and replaces it when removed', async () => {
    ticker.setQuote('BTC-USD', { ask: '63120.45', bid: '63100.00' });
    ticker.setQuote('ETH-USD', { ask: '3000.00', bid: '2999.00' });
    api = await start();

    // One relay container, with the role label and the workers' hardening and limits.
    const relay = await runningRelay();
    const limits = api.config.workerLimits;
    expect(relay.Name).toBe(`/pairwatch-relay-${TEST_ENV.instance}`);
    expect(relay.Config.Labels).toMatchObject({
      'pairwatch.managed': 'true',
      'pairwatch.instance': TEST_ENV.instance,
      'pairwatch.role': 'relay',
    });
    expect(relay.Config.Labels['pairwatch.monitor-id']).toBeUndefined();
    expect(relay.Config.Labels['pairwatch.spec-hash']).toMatch(/^[0-9a-f]{16}$/);
    expect(relay.Config.Image).toBe(TEST_ENV.workerImage);
    expect(relay.Config.Entrypoint).toEqual(['node', '/app/relay.js']);
    expect(relay.Config.User).toBe('10001:10001');
    expect(relay.HostConfig).toMatchObject({
      NetworkMode: 'host',
      ReadonlyRootfs: true,
      CapDrop: ['ALL'],
      SecurityOpt: ['no-new-privileges'],
      Memory: limits.memoryBytes,
      NanoCpus: limits.nanoCpus,
      PidsLimit: limits.pids,
      RestartPolicy: { Name: 'on-failure', MaximumRetryCount: limits.maxRestarts },
      LogConfig: { Type: 'json-file', Config: { 'max-size': '1m', 'max-file': '3' } },
    });
    expect(environ(relay.Config.Env)).toMatchObject({
      RELAY_HOST: '127.0.0.1',
      RELAY_PORT: String(relayPort),
      UPHOLD_API_URL: tickerUrl,
      UPHOLD_RATE_LIMIT_PER_MIN: '250',
    });

    // /health reports it up, with its address and the budget.
    const address = `http://127.0.0.1:${relayPort}`;
    const healthy = await eventually('/health to report the relay up', async () => {
      const h = await relayHealth(api!);
      return h.status === 200 && h.relay.status === 'up' ? h : undefined;
    });
    expect(healthy.relay).toEqual({
      status: 'up',
      address,
      budget: { plannedRequestsPerMin: 0, limitPerMin: 250 },
    });

    // The pair checks and the workers go through it.
    const btc = await createMonitor(api, 'BTC-USD');
    const eth = await createMonitor(api, 'ETH-USD');
    const [worker] = await workerContainers(btc.id);
    const workerEnv = environ((await docker.getContainer(worker.Id).inspect()).Config.Env);
    expect(workerEnv.UPHOLD_API_URL).toBe(address);
    // The relay is not taken for a worker, nor for an orphan: the monitors list their own workers only.
    const listed = (await request(api.url).get('/monitors').expect(200)).body as MonitorBody[];
    expect(listed.map((m) => m.id).sort()).toEqual([btc.id, eth.id].sort());
    await tickAfter(api, btc.id, 0, '63120.45');
    await tickAfter(api, eth.id, 0, '3000.00');

    // Both USD pairs at 1 s come from one list: 60 requests/min planned, where the pairs alone would be 120.
    const budget = await eventually('the budget with both monitors', async () => {
      const h = await relayHealth(api!);
      return h.relay.budget?.plannedRequestsPerMin === 60 ? h.relay.budget : undefined;
    });
    expect(budget).toEqual({ plannedRequestsPerMin: 60, limitPerMin: 250 });

    // +0.6 % on the ask: an alert, through the relay.
    ticker.setQuote('BTC-USD', { ask: '63499.1727', bid: '63480.00' });
    const [up] = await eventually('the upward alert', async () => {
      const items = await alertsOf(api!, btc.id);
      return items.length >= 1 ? items : undefined;
    });
    expect(up).toMatchObject({ pair: 'BTC-USD', direction: 'up', price: '63499.1727' });

    // Upstream saw currency lists, and not one request at the watched pairs' own endpoints.
    expect(ticker.requestCount({ kind: 'list' })).toBeGreaterThan(0);
    expect(ticker.requestCount({ kind: 'pair', target: 'BTC-USD' })).toBe(0);
    expect(ticker.requestCount({ kind: 'pair', target: 'ETH-USD' })).toBe(0);

    // Removed behind the API's back: a new relay within one reconcile period, and the workers tick again.
    const removedAt = Date.now();
    await docker.getContainer(relay.Id).remove({ force: true });
    const replacement = await runningRelay(relay.Id, RECONCILE_MS + SLACK_MS);
    expect(replacement.Config.Labels['pairwatch.role']).toBe('relay');
    ticker.setQuote('BTC-USD', { ask: '63500.00', bid: '63480.00' });
    await tickAfter(api, btc.id, removedAt, '63500.00');
    await tickAfter(api, eth.id, removedAt);
    // No worker was replaced for it: the same containers, still running.
    expect((await getMonitor(api, btc.id)).workerId).toBe(btc.workerId);
    expect(await relayContainers()).toHaveLength(1);
  });

  it('with UPHOLD_RELAY=off runs no relay and removes one left running', async () => {
    api = await start({}, true);
    const relay = await runningRelay();
    await api.close();
    api = undefined;
    expect((await relayContainers()).map((r) => r.Id)).toEqual([relay.Id]);
    // keepState: the relay of the first API is still there for the second.
    api = await startApi({
      keepState: true,
      env: { UPHOLD_RELAY: 'off', UPHOLD_API_URL: tickerUrl, RECONCILE_INTERVAL_MS: String(RECONCILE_MS) },
    });
    await eventually(
      'the relay to be removed',
      async () => ((await relayContainers()).length === 0 ? true : undefined),
      RECONCILE_MS + SLACK_MS,
    );
    expect(
      await docker
        .getContainer(relay.Id)
        .inspect()
        .catch(() => null),
    ).toBeNull();
    const h = await relayHealth(api);
    expect(h.status).toBe(200);
    expect(h.relay).toMatchObject({ status: 'off', address: null });
  });

  it('adopts the running relay after an API restart instead of starting another', async () => {
    api = await start({}, true);
    const relay = await runningRelay();
    await api.close();
    api = undefined;
    api = await start({}, true);
    await eventually('/health to report the relay up', async () => {
      const h = await relayHealth(api!);
      return h.relay.status === 'up' ? h : undefined;
    });
    const relays = await relayContainers();
    expect(relays.map((r) => r.Id)).toEqual([relay.Id]);
  });

  it('replaces the relay when its configuration changes (the spec hash covers its environment)', async () => {
    api = await start({}, true);
    const relay = await runningRelay();
    await api.close();
    api = undefined;
    api = await start({ UPHOLD_RATE_LIMIT_PER_MIN: '200' }, true);
    const replacement = await runningRelay(relay.Id, RECONCILE_MS + SLACK_MS);
    expect(environ(replacement.Config.Env).UPHOLD_RATE_LIMIT_PER_MIN).toBe('200');
  });
});

describe('the relay on the process runtime (UPHOLD_RELAY=on)', () => {
  const processes = new ProcessRuntime({ instance: TEST_ENV.instance });
  let ticker: FakeUpholdServer;
  let tickerUrl: string;
  let api: TestApi | undefined;

  /** As `npm run down` does: a runtime of its own, which knows only what the state files say now. */
  async function stopAll(): Promise<void> {
    const runtime = new ProcessRuntime({ instance: TEST_ENV.instance });
    try {
      const [workers, relays] = await Promise.all([runtime.list('worker'), runtime.list('relay')]);
      await Promise.all([
        ...workers.map((w) => runtime.stop(workerOf(w.monitorId))),
        ...relays.map((r) => runtime.stop(RELAY, r.workerId)),
      ]);
    } finally {
      await runtime.onModuleDestroy();
    }
  }

  /** The relay's pid as its state file tells it, while that process lives (read, never adopted). */
  async function liveRelayPid(): Promise<number | undefined> {
    let record: { pid: number; exit?: object };
    try {
      record = JSON.parse(readFileSync(path.join(processes.stateDir, 'relay.json'), 'utf8')) as typeof record;
    } catch {
      return undefined;
    }
    return !record.exit && !(await processGone(record.pid)) ? record.pid : undefined;
  }

  beforeAll(async () => {
    await stopAll();
    ticker = new FakeUpholdServer();
    tickerUrl = (await ticker.start(0, '127.0.0.1')).url;
  });

  afterEach(async () => {
    await api?.close();
    api = undefined;
    await stopAll();
  });

  afterAll(async () => {
    await processes.onModuleDestroy();
    await ticker?.stop();
  });

  it('runs the relay as a child process with a state file, and replaces it when it is SIGKILLed', async () => {
    const relayPort = await freePort();
    ticker.setQuote('XRP-USD', { ask: '0.5100', bid: '0.5000' });
    api = await startApi({
      env: {
        WORKER_RUNTIME: 'process',
        UPHOLD_RELAY: 'on',
        RELAY_PORT: String(relayPort),
        UPHOLD_API_URL: tickerUrl,
        RECONCILE_INTERVAL_MS: String(RECONCILE_MS),
      },
    });
    const pid = await eventually('the relay process to run', liveRelayPid);
    const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    expect(args[args.length - 1]).toBe(processes.relayScript);
    const state = JSON.parse(readFileSync(path.join(processes.stateDir, 'relay.json'), 'utf8')) as object;
    expect(state).toMatchObject({ pid, instance: TEST_ENV.instance, script: processes.relayScript });

    // Until it listens, pair checks answer 503; /health says when it does.
    const health = await eventually('/health to report the relay up', async () => {
      const h = await relayHealth(api!);
      return h.status === 200 && h.relay.status === 'up' ? h : undefined;
    });
    expect(health.relay.address).toBe(`http://127.0.0.1:${relayPort}`);
    const monitor = await createMonitor(api, 'XRP-USD');
    const workerPid = Number(monitor.workerId?.slice('process:'.length));
    const workerEnv = Object.fromEntries(
      readFileSync(`/proc/${workerPid}/environ`, 'utf8')
        .split('\0')
        .filter(Boolean)
        .map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]),
    );
    expect(workerEnv.UPHOLD_API_URL).toBe(`http://127.0.0.1:${relayPort}`);
    await tickAfter(api, monitor.id, 0, '0.5100');

    const killedAt = Date.now();
    process.kill(pid, 'SIGKILL');
    const replacement = await eventually(
      'a new relay process',
      async () => {
        const live = await liveRelayPid();
        return live !== undefined && live !== pid ? live : undefined;
      },
      RECONCILE_MS + SLACK_MS,
    );
    expect(await processGone(pid)).toBe(true);
    ticker.setQuote('XRP-USD', { ask: '0.5101', bid: '0.5000' });
    await tickAfter(api, monitor.id, killedAt, '0.5101');
    expect((await getMonitor(api, monitor.id)).workerId).toBe(monitor.workerId);
    expect(readFileSync(`/proc/${replacement}/cmdline`, 'utf8')).toContain(processes.relayScript);
  });

  it('two API replicas on one database reach the same crash-loop verdict for a relay that keeps dying', async () => {
    // Something else holds the relay's port: every relay exits at once (it cannot listen).
    const relayPort = await freePort();
    const squatter = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => squatter.listen(relayPort, '127.0.0.1', resolve));
    const env = {
      WORKER_RUNTIME: 'process',
      UPHOLD_RELAY: 'on',
      RELAY_PORT: String(relayPort),
      UPHOLD_API_URL: tickerUrl,
      RECONCILE_INTERVAL_MS: '1000',
      CRASH_LOOP_MAX_DEATHS: '2',
    };
    let second: TestApi | undefined;
    try {
      api = await startApi({ env });
      second = await startApi({ env, keepState: true });
      const replicas = [api, second];
      // Each replica records the deaths it sees in worker_exits, and counts every replica's there.
      const verdicts = await eventually(
        'both replicas to report the relay crash loop',
        async () => {
          const seen = await Promise.all(replicas.map((replica) => relayHealth(replica)));
          return seen.every((h) => /relay crash loop: died \d+ times/.test(h.relay.error ?? ''))
            ? seen
            : undefined;
        },
        60_000,
      );
      expect(verdicts.map((h) => h.relay.status)).toEqual(['down', 'down']);
      const [{ deaths }] = await api.db.query<Array<{ deaths: number }>>(
        `SELECT count(*)::int AS deaths FROM worker_exits WHERE role = 'relay' AND monitor_id IS NULL`,
      );
      expect(deaths).toBeGreaterThan(2);
    } finally {
      await second?.close();
      await new Promise((resolve) => squatter.close(resolve));
    }
  });
});
