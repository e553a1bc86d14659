import request from 'supertest';
import { FakeUpholdServer } from '../apps/fake-ticker/src/fake-uphold.server';
import { reconcilePassAfterNow, resetTestState, startApi, TestApi } from './support/api';
import type { ErrorBody, MonitorBody } from './support/bodies';
import { describeWithDocker, workerContainers } from './support/docker';

const PAIRS = ['BTC-USD', 'ETH-USD', 'XRP-USD', 'LTC-USD'];

interface Answer {
  status: number;
  body: MonitorBody & ErrorBody;
}

async function answer(pending: request.Test): Promise<Answer> {
  const res = await pending;
  return { status: res.status, body: res.body as MonitorBody & ErrorBody };
}

/**
 * The one start path, seen from outside: two API replicas on one database and one engine, the same
 * monitors created, stopped and restarted through both at once. Whatever order the requests land in, once
 * they are answered every active monitor has exactly one worker container and a stopped one has none.
 */
describeWithDocker('one start path: two API replicas racing on the same monitors (Docker)', () => {
  let ticker: FakeUpholdServer;
  let a: TestApi;
  let b: TestApi;

  beforeAll(async () => {
    ticker = new FakeUpholdServer();
    await ticker.start(0, '127.0.0.1');
    for (const pair of PAIRS) ticker.setQuote(pair, { ask: '100', bid: '99.9' });
    // Both replicas also reconcile every second, so their passes race with the requests too.
    const env = { UPHOLD_API_URL: ticker.url, RECONCILE_INTERVAL_MS: '1000' };
    a = await startApi({ env });
    b = await startApi({ env, keepState: true });
  });

  afterAll(async () => {
    await a?.close();
    await b?.close();
    await resetTestState();
    await ticker?.stop();
  });

  /** Every monitor row with the running worker containers of its id; and containers of no monitor. */
  async function world(): Promise<{ statuses: Map<string, string>; containers: Map<string, number> }> {
    const rows = await a.db.query<{ id: string; status: string }[]>('SELECT id, status FROM monitors');
    const containers = new Map<string, number>();
    for (const c of await workerContainers()) {
      const id = c.Labels['pairwatch.monitor-id'];
      containers.set(id, (containers.get(id) ?? 0) + 1);
    }
    return { statuses: new Map(rows.map((r) => [r.id, r.status])), containers };
  }

  /** Exactly one container per active monitor, none for the others, none of unknown monitors. */
  async function expectOneWorkerPerActiveMonitor(): Promise<Map<string, string>> {
    const { statuses, containers } = await world();
    const expected = new Map(
      [...statuses].map(([id, status]) => [id, status === 'running' || status === 'starting' ? 1 : 0]),
    );
    const actual = new Map([...statuses.keys()].map((id) => [id, containers.get(id) ?? 0]));
    expect(actual).toEqual(expected);
    expect([...containers.keys()].filter((id) => !statuses.has(id))).toEqual([]);
    return statuses;
  }

  it('creates, stops and restarts through both replicas at once, ending with one worker per active monitor', async () => {
    // The same pair posted to both replicas at once: one monitor, one worker, and a 409 naming it.
    const created = await Promise.all(
      PAIRS.map((pair) =>
        Promise.all(
          [a, b].map((api) =>
            answer(
              request(api.url).post('/monitors').send({ pair, intervalMs: 1000, thresholdPercent: 0.5 }),
            ),
          ),
        ),
      ),
    );
    const ids: string[] = [];
    for (const [i, answers] of created.entries()) {
      expect(answers.map((r) => r.status).sort()).toEqual([201, 409]);
      const won = answers.find((r) => r.status === 201)!;
      const lost = answers.find((r) => r.status === 409)!;
      expect(won.body).toMatchObject({ pair: PAIRS[i], status: 'running' });
      expect(lost.body.message).toEqual([`pair ${PAIRS[i]} is already monitored by monitor ${won.body.id}`]);
      ids.push(won.body.id);
    }
    const afterCreate = await expectOneWorkerPerActiveMonitor();
    expect([...afterCreate.values()]).toEqual(PAIRS.map(() => 'running'));
    // Just started, whether it has ticked yet or not: not stale, and /health counts each as running (it has
    // reported) or starting (not yet), never as stale. Read first, so no worker has had long to report.
    const health = (await request(a.url).get('/health').expect(200)).body as {
      monitors: { running: number; starting: number; stale: number; failed: number };
    };
    expect(health.monitors).toMatchObject({ stale: 0, failed: 0 });
    expect(health.monitors.running + health.monitors.starting).toBe(PAIRS.length);
    for (const id of ids) {
      const shown = await answer(request(b.url).get(`/monitors/${id}`));
      expect(shown.body.worker).toMatchObject({ stale: false });
    }
    // A restart takes no body: 400 naming the field, nothing changed.
    const withBody = await answer(
      request(a.url).post(`/monitors/${ids[0]}/restart`).send({ thresholdPercent: 0.1 }),
    );
    expect(withBody.status).toBe(400);
    expect(withBody.body.errors).toEqual([
      {
        field: 'thresholdPercent',
        messages: [
          "thresholdPercent is not an accepted field: a restart takes no body (it keeps the monitor's settings)",
        ],
      },
    ]);
    await expectOneWorkerPerActiveMonitor();

    // Stops through both at once (the first two), and a stop racing a restart of the same monitor (the others).
    const [first, second, third, fourth] = ids;
    const stops = await Promise.all([
      answer(request(a.url).delete(`/monitors/${first}`)),
      answer(request(b.url).delete(`/monitors/${first}`)),
      answer(request(b.url).delete(`/monitors/${second}`)),
      answer(request(a.url).delete(`/monitors/${second}`)),
    ]);
    expect(stops.map((r) => r.status)).toEqual([204, 204, 204, 204]);
    const raced = await Promise.all(
      [third, fourth].map((id, i) =>
        Promise.all([
          answer(request([a, b][i].url).delete(`/monitors/${id}`)),
          // Restarting a running monitor is a conflict; once the stop has landed it starts it again.
          answer(request([b, a][i].url).post(`/monitors/${id}/restart`)),
        ]),
      ),
    );
    for (const [stop, restart] of raced) {
      expect(stop.status).toBe(204);
      expect([200, 409]).toContain(restart.status);
    }
    const afterRace = await expectOneWorkerPerActiveMonitor();
    expect(afterRace.get(first)).toBe('stopped');
    expect(afterRace.get(second)).toBe('stopped');
    for (const [i, id] of [third, fourth].entries()) {
      expect(afterRace.get(id)).toBe(raced[i][1].status === 200 ? 'running' : 'stopped');
    }

    // Every stopped monitor restarted through both at once: one restart wins, the other is a conflict.
    const stopped = [...afterRace].filter(([, status]) => status === 'stopped').map(([id]) => id);
    const restarts = await Promise.all(
      stopped.map((id) =>
        Promise.all([a, b].map((api) => answer(request(api.url).post(`/monitors/${id}/restart`)))),
      ),
    );
    for (const answers of restarts) {
      expect(answers.map((r) => r.status).sort()).toEqual([200, 409]);
      expect(answers.find((r) => r.status === 200)!.body).toMatchObject({ status: 'running' });
    }
    const afterRestart = await expectOneWorkerPerActiveMonitor();
    expect([...afterRestart.values()]).toEqual(PAIRS.map(() => 'running'));

    // A pass of each replica afterwards finds nothing to start, replace or remove.
    for (const api of [a, b]) {
      const report = await reconcilePassAfterNow(api);
      expect(report).toMatchObject({ started: [], replaced: [], removed: [], failed: [] });
    }
    await expectOneWorkerPerActiveMonitor();
  });
});
