import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import request from 'supertest';
import { FakeUpholdServer } from '../apps/fake-ticker/src/fake-uphold.server';
import { processGone } from '../apps/api/src/runtime/process-table';
import { ProcessRuntime } from '../apps/api/src/runtime/process.runtime';
import { workerOf } from '../apps/api/src/runtime/worker-runtime';
import { eventually, resetTestState, startApi, TestApi } from './support/api';
import { TEST_ENV, testRedisUrl } from './support/test-env';
import type { AlertBody, MonitorBody } from './support/bodies';

/** The only variables a worker may see: its own (libs/contracts worker-env) and PATH. */
const WORKER_VARIABLES = [
  'MONITOR_ID',
  'PAIR',
  'INTERVAL_MS',
  'THRESHOLD_PERCENT',
  'PRICE_FIELD',
  'DIRECTION',
  'COOLDOWN_MS',
  'UPHOLD_API_URL',
  'REDIS_URL',
  'REQUEST_TIMEOUT_MS',
  'STATE_TTL_MS',
  'LOG_LEVEL',
  'PATH',
];

const SENTINEL = 'PAIRWATCH_E2E_SECRET_SENTINEL';

function pidOf(workerId: string | null): number {
  expect(workerId).toMatch(/^process:\d+$/);
  return Number(workerId?.slice('process:'.length));
}

function procList(pid: number, file: 'cmdline' | 'environ'): string[] {
  return readFileSync(`/proc/${pid}/${file}`, 'utf8')
    .split('\0')
    .filter((entry) => entry !== '');
}

function environOf(pid: number): Record<string, string> {
  return Object.fromEntries(
    procList(pid, 'environ').map((entry) => [
      entry.slice(0, entry.indexOf('=')),
      entry.slice(entry.indexOf('=') + 1),
    ]),
  );
}

async function getMonitor(api: TestApi, id: string): Promise<MonitorBody> {
  return (await request(api.url).get(`/monitors/${id}`).expect(200)).body as MonitorBody;
}

/** Waits for the worker's first tick, reported on Redis: the reference price is set. */
function firstPrice(api: TestApi, id: string, price: string): Promise<MonitorBody> {
  return eventually('the worker to read its first price', async () => {
    const monitor = await getMonitor(api, id);
    return monitor.worker?.lastPrice === price && monitor.worker.state === 'running' ? monitor : undefined;
  });
}

// No Docker needed: plain `describe`. The worker bundle must be built (npm test builds it first).
describe('monitor a pair end to end with WORKER_RUNTIME=process (Postgres, Redis, child processes)', () => {
  // The runtime the API builds, seen from outside: the same state directory, the same instance.
  const processes = new ProcessRuntime({ instance: TEST_ENV.instance });
  let ticker: FakeUpholdServer;
  let tickerUrl: string;
  let api: TestApi | undefined;

  async function stopProcessWorkers(): Promise<void> {
    const workers = await processes.list('worker');
    await Promise.all(workers.map((w) => processes.stop(workerOf(w.monitorId))));
  }

  beforeAll(async () => {
    if (!existsSync(processes.workerScript)) {
      throw new Error(
        `the worker bundle ${processes.workerScript} is missing: run "npm run build:worker" first`,
      );
    }
    await stopProcessWorkers(); // left by an interrupted run
    ticker = new FakeUpholdServer();
    tickerUrl = (await ticker.start(0, '127.0.0.1')).url;
  });

  afterEach(async () => {
    await api?.close();
    api = undefined;
    await stopProcessWorkers();
  });

  afterAll(async () => {
    await processes.onModuleDestroy();
    await ticker?.stop();
  });

  it('starts a child process with only the worker environment, stores alerts, and stops it on DELETE', async () => {
    ticker.setQuote('BTC-USD', { ask: '63120.45', bid: '63100.00' });
    api = await startApi({ env: { WORKER_RUNTIME: 'process', UPHOLD_API_URL: tickerUrl } });
    await request(api.url)
      .get('/health')
      .expect(200)
      .expect((res) => expect(res.body).toMatchObject({ runtime: { status: 'up', kind: 'process' } }));

    // A variable of the API's own environment, which a worker must never see.
    process.env[SENTINEL] = 'must-not-leak';
    let monitor: MonitorBody;
    try {
      const created = await request(api.url)
        .post('/monitors')
        .send({ pair: 'btc-usd', intervalMs: 1000, thresholdPercent: 0.5 })
        .expect(201);
      monitor = created.body as MonitorBody;
    } finally {
      delete process.env[SENTINEL];
    }
    expect(monitor).toMatchObject({ pair: 'BTC-USD', status: 'running' });
    const pid = pidOf(monitor.workerId);

    // A live Node process running the worker bundle, recorded in the state directory.
    expect(await processGone(pid)).toBe(false);
    const [argv0, ...args] = procList(pid, 'cmdline');
    expect(path.basename(argv0)).toMatch(/node/);
    expect(args[args.length - 1]).toBe(processes.workerScript);
    const state = JSON.parse(readFileSync(path.join(processes.stateDir, `${monitor.id}.json`), 'utf8')) as {
      pid: number;
      instance: string;
      pair: string;
    };
    expect(state).toMatchObject({ pid, instance: TEST_ENV.instance, pair: 'BTC-USD' });
    expect(await processes.find(workerOf(monitor.id))).toMatchObject({
      workerId: monitor.workerId,
      state: 'running',
    });

    // Its environment: the worker's variables and PATH, nothing else of the API's.
    const env = environOf(pid);
    expect(Object.keys(env).filter((name) => !WORKER_VARIABLES.includes(name))).toEqual([]);
    expect(env).toMatchObject({
      MONITOR_ID: monitor.id,
      PAIR: 'BTC-USD',
      INTERVAL_MS: '1000',
      THRESHOLD_PERCENT: '0.5',
      UPHOLD_API_URL: tickerUrl,
      REDIS_URL: testRedisUrl(),
    });
    expect(env[SENTINEL]).toBeUndefined();
    expect(env.DATABASE_URL).toBeUndefined();

    await firstPrice(api, monitor.id, '63120.45');

    // +0.6 % on the ask: past the 0.5 % threshold.
    ticker.setQuote('BTC-USD', { ask: '63499.1727', bid: '63480.00' });
    const [up] = await eventually('the upward alert', async () => {
      const res = await request(api!.url).get('/alerts').query({ pair: 'BTC-USD' }).expect(200);
      const items = (res.body as { items: AlertBody[] }).items;
      return items.length >= 1 ? items : undefined;
    });
    expect(up).toMatchObject({
      monitorId: monitor.id,
      pair: 'BTC-USD',
      direction: 'up',
      referencePrice: '63120.45',
      price: '63499.1727',
      changePercent: '0.6',
    });

    // DELETE: the process is gone with its files, the monitor is kept as stopped, the alert kept.
    await request(api.url).delete(`/monitors/${monitor.id}`).expect(204);
    expect(await processGone(pid)).toBe(true);
    expect(existsSync(path.join(processes.stateDir, `${monitor.id}.json`))).toBe(false);
    expect(await processes.find(workerOf(monitor.id))).toBeNull();
    const stopped = await getMonitor(api, monitor.id);
    expect(stopped).toMatchObject({ status: 'stopped', worker: null });
    expect(stopped.stoppedAt).not.toBeNull();
    const after = await request(api.url).get('/alerts').query({ monitorId: monitor.id }).expect(200);
    expect((after.body as { items: AlertBody[] }).items.map((a) => a.id)).toEqual([up.id]);

    await request(api.url).delete(`/monitors/${monitor.id}`).expect(204);
  });

  it('leaves the worker running when the API stops, adopts it after a restart, and replaces it when it dies', async () => {
    ticker.setQuote('ETH-USD', { ask: '3000.00', bid: '2999.00' });
    await resetTestState();
    const env = { WORKER_RUNTIME: 'process', UPHOLD_API_URL: tickerUrl };
    api = await startApi({ env, keepState: true });
    const created = await request(api.url)
      .post('/monitors')
      .send({ pair: 'ETH-USD', intervalMs: 1000, thresholdPercent: 1 })
      .expect(201);
    const monitor = created.body as MonitorBody;
    const pid = pidOf(monitor.workerId);
    await firstPrice(api, monitor.id, '3000.00');

    // The API goes away; its worker does not.
    await api.close();
    api = undefined;
    // It keeps working with no API: it asks the ticker for its price again, twice.
    const asked = ticker.requestCount('ETH-USD');
    await eventually('the worker to tick with no API running', () =>
      ticker.requestCount('ETH-USD') >= asked + 2 ? true : undefined,
    );
    expect(await processGone(pid)).toBe(false);

    // A new API finds it through the state file and keeps it: same process, running.
    api = await startApi({ env, keepState: true });
    const adopted = await eventually('the worker to be adopted', async () => {
      const m = await getMonitor(api!, monitor.id);
      return m.worker?.id === monitor.workerId && m.worker.state === 'running' ? m : undefined;
    });
    expect(adopted).toMatchObject({ status: 'running', workerId: monitor.workerId });

    // It dies (not a child of this API: found by polling); the supervisor starts a new one.
    process.kill(pid, 'SIGKILL');
    const replaced = await eventually('a replacement worker', async () => {
      const m = await getMonitor(api!, monitor.id);
      return m.worker?.id && m.worker.id !== monitor.workerId && m.worker.state === 'running' ? m : undefined;
    });
    const replacement = pidOf(replaced.worker!.id);
    expect(await processGone(replacement)).toBe(false);
    expect(replaced.status).toBe('running');
    // The death is on record for the crash-loop rule, once.
    const exits = await api.db.query<{ key: string; exit_code: number | null }[]>(
      'SELECT key, exit_code FROM worker_exits WHERE monitor_id = $1',
      [monitor.id],
    );
    expect(exits).toEqual([{ key: expect.stringMatching(new RegExp(`^process:${pid}@`)), exit_code: null }]);

    await request(api.url).delete(`/monitors/${monitor.id}`).expect(204);
    expect(await processGone(replacement)).toBe(true);
    expect(await processes.list('worker')).toEqual([]);
    await api.close();
    api = undefined;
    await resetTestState();
  });
});
