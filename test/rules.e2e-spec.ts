import request from 'supertest';
import { parseWorkerEnv } from '@pairwatch/contracts';
import { FakeUpholdServer } from '../apps/fake-ticker/src/fake-uphold.server';
import { describeWithDocker, docker, removeAllWorkers, workerContainers } from './support/docker';
import { eventually, startApi, TestApi, truncateAll } from './support/api';
import type { AlertPageBody, ErrorBody, MonitorBody } from './support/bodies';

/** The environment a worker container was started with, as the worker itself reads it. */
async function workerEnv(monitorId: string): Promise<Record<string, string>> {
  const [container] = await workerContainers(monitorId);
  const info = await docker.getContainer(container.Id).inspect();
  return Object.fromEntries(
    (info.Config.Env ?? []).map((entry) => {
      const at = entry.indexOf('=');
      return [entry.slice(0, at), entry.slice(at + 1)];
    }),
  );
}

async function monitorRows(api: TestApi): Promise<number> {
  const [{ count }] = await api.db.query<{ count: number }[]>('SELECT count(*)::int AS count FROM monitors');
  return count;
}

describeWithDocker(
  'rules on monitors (POST /monitors with rules, GET /monitors, GET /alerts by rule)',
  () => {
    let ticker: FakeUpholdServer;
    let api: TestApi;

    beforeAll(async () => {
      ticker = new FakeUpholdServer();
      const { url } = await ticker.start(0, '127.0.0.1');
      ticker.controls.set('BTC-USD', { ask: '99000.00', bid: '98990.00' });
      ticker.controls.set('ETH-USD', { ask: '3000.00', bid: '2999.00' });
      api = await startApi({ env: { UPHOLD_API_URL: url } });
    });

    beforeEach(async () => {
      await truncateAll(api.db);
      await removeAllWorkers();
    });

    afterAll(async () => {
      await api?.close();
      await removeAllWorkers();
      await ticker?.stop();
    });

    const badRules: [string, string, unknown][] = [
      ['no rule', 'rules', []],
      [
        'eleven rules',
        'rules',
        Array.from({ length: 11 }, () => ({ kind: 'spread', thresholdPercent: '1' })),
      ],
      ['an unknown kind', 'rules[0].kind', [{ kind: 'teleport' }]],
      [
        'a field of another kind',
        'rules[1].level',
        [
          { kind: 'move', thresholdPercent: '1' },
          { kind: 'move', thresholdPercent: '1', level: '5' },
        ],
      ],
      ['a level of zero', 'rules[0].level', [{ kind: 'cross', level: '0' }]],
      ['garbage for a level', 'rules[0].level', [{ kind: 'cross', level: '1e5' }]],
      [
        '19 significant digits',
        'rules[0].thresholdPercent',
        [{ kind: 'move', thresholdPercent: '1.234567890123456789' }],
      ],
      [
        'a window shorter than the interval',
        'rules[0].windowMs',
        [{ kind: 'window', thresholdPercent: '1', windowMs: 1000 }],
      ],
      [
        'a window over 24 h',
        'rules[0].windowMs',
        [{ kind: 'window', thresholdPercent: '1', windowMs: 86_400_001 }],
      ],
      [
        'trailing both ways',
        'rules[0].direction',
        [{ kind: 'trailing', thresholdPercent: '1', direction: 'both' }],
      ],
      [
        'expiresAt in the past',
        'rules[0].expiresAt',
        [{ kind: 'spread', thresholdPercent: '1', expiresAt: '2020-01-01T00:00:00Z' }],
      ],
      ['maxFires 0', 'rules[0].maxFires', [{ kind: 'spread', thresholdPercent: '1', maxFires: 0 }]],
      [
        'duplicate ids',
        'rules[1].id',
        [
          { id: 'a', kind: 'spread', thresholdPercent: '1' },
          { id: 'a', kind: 'spread', thresholdPercent: '2' },
        ],
      ],
    ];

    it.each(badRules)('%s → 400 naming %s, no row, no container', async (_name, field, rules) => {
      const res = await request(api.url)
        .post('/monitors')
        .send({ pair: 'BTC-USD', intervalMs: 5000, rules })
        .expect(400);
      const error = res.body as ErrorBody;
      expect(error.errors?.map((e) => e.field)).toContain(field);
      expect(error.message.join(' ')).toContain(field);
      expect(await monitorRows(api)).toBe(0);
      expect(await workerContainers()).toHaveLength(0);
    });

    it('refuses rules together with a top-level thresholdPercent, naming it', async () => {
      const res = await request(api.url)
        .post('/monitors')
        .send({ pair: 'BTC-USD', thresholdPercent: 1, rules: [{ kind: 'cross', level: '100000' }] })
        .expect(400);
      expect((res.body as ErrorBody).errors?.map((e) => e.field)).toEqual(['thresholdPercent']);
      expect(await monitorRows(api)).toBe(0);
    });

    it('keeps the old top-level fields: one move rule r1 with the defaults, the worker started as before', async () => {
      const res = await request(api.url).post('/monitors').send({ pair: 'ETH-USD' }).expect(201);
      const monitor = res.body as MonitorBody;
      expect(monitor.rules).toEqual([
        {
          id: 'r1',
          kind: 'move',
          thresholdPercent: '0.01',
          direction: 'both',
          priceField: 'ask',
          cooldownMs: 0,
          fires: 0,
          done: false,
        },
      ]);
      expect(monitor.thresholdPercent).toBe('0.01');
      const env = await workerEnv(monitor.id);
      expect(env.RULES).toBeUndefined();
      expect(env.THRESHOLD_PERCENT).toBe('0.01');
    });

    it('starts a worker with its rules; a crossing fires an alert of that rule, counted on the monitor', async () => {
      const res = await request(api.url)
        .post('/monitors')
        .send({
          pair: 'BTC-USD',
          intervalMs: 1000,
          rules: [
            { kind: 'cross', level: '100000', direction: 'up', label: 'BTC at 100k' },
            { kind: 'window', thresholdPercent: 50, windowMs: 60_000 },
          ],
        })
        .expect(201);
      const created = res.body as MonitorBody;
      expect(created.rules.map((r) => [r.id, r.kind, r.fires, r.done])).toEqual([
        ['r1', 'cross', 0, false],
        ['r2', 'window', 0, false],
      ]);
      expect(created.thresholdPercent).toBeNull();
      // The worker reads the very rules the API stored.
      const env = await workerEnv(created.id);
      expect(parseWorkerEnv(env).rules).toEqual(
        created.rules.map(({ fires: _f, done: _d, ...rule }) => rule),
      );

      // The first ticks set the side (below the level); then the price crosses it.
      await eventually('the worker has seen the price below the level', async () => {
        const prices = await request(api.url).get(`/monitors/${created.id}/prices`).expect(200);
        return (prices.body as unknown[]).length > 0 ? true : undefined;
      });
      ticker.controls.set('BTC-USD', { ask: '100012.50', bid: '100002.50' });

      const page = await eventually('the crossing alert stored', async () => {
        const alerts = await request(api.url)
          .get('/alerts')
          .query({ monitorId: created.id, kind: 'cross', ruleId: 'r1' })
          .expect(200);
        const body = alerts.body as AlertPageBody;
        return body.items.length > 0 ? body : undefined;
      });
      expect(page.items).toHaveLength(1);
      expect(page.items[0]).toMatchObject({
        ruleId: 'r1',
        kind: 'cross',
        direction: 'up',
        price: '100012.50',
        referencePrice: '100000',
        details: { level: '100000' },
      });
      // The other rule fired nothing: the filters keep it out.
      const none = await request(api.url)
        .get('/alerts')
        .query({ monitorId: created.id, ruleId: 'r2' })
        .expect(200);
      expect((none.body as AlertPageBody).items).toEqual([]);

      const listed = await request(api.url).get('/monitors').expect(200);
      const monitor = (listed.body as MonitorBody[]).find((m) => m.id === created.id)!;
      expect(monitor.rules.map((r) => [r.id, r.fires, r.done])).toEqual([
        ['r1', 1, false],
        ['r2', 0, false],
      ]);
      ticker.controls.set('BTC-USD', { ask: '99000.00', bid: '98990.00' });
    });

    it('stops the monitor itself when every rule is done (worker exit 4): stopReason "rules done", not a failure', async () => {
      ticker.controls.set('ETH-USD', { ask: '3000.00', bid: '2999.00' });
      const res = await request(api.url)
        .post('/monitors')
        .send({
          pair: 'ETH-USD',
          intervalMs: 1000,
          rules: [{ kind: 'cross', level: '3100', direction: 'up', maxFires: 1 }],
        })
        .expect(201);
      const created = res.body as MonitorBody;
      await eventually('the worker has seen the price below the level', async () => {
        const prices = await request(api.url).get(`/monitors/${created.id}/prices`).expect(200);
        return (prices.body as unknown[]).length > 0 ? true : undefined;
      });
      ticker.controls.set('ETH-USD', { ask: '3150.00', bid: '3149.00' });

      const stopped = await eventually('the monitor stopped by itself', async () => {
        const got = await request(api.url).get(`/monitors/${created.id}`).expect(200);
        const monitor = got.body as MonitorBody;
        return monitor.status === 'stopped' ? monitor : undefined;
      });
      expect(stopped).toMatchObject({ stopReason: 'rules done', reason: null });
      expect(stopped.rules.map((r) => [r.id, r.fires, r.done])).toEqual([['r1', 1, true]]);
      await eventually('its worker removed', async () =>
        (await workerContainers(created.id)).length === 0 ? true : undefined,
      );
      const alerts = await request(api.url).get('/alerts').query({ monitorId: created.id }).expect(200);
      expect((alerts.body as AlertPageBody).items).toHaveLength(1);
      ticker.controls.set('ETH-USD', { ask: '3000.00', bid: '2999.00' });
    });

    it('PATCH edits the rules: ids kept, new ones numbered on, the worker replaced; bad input and 404 change nothing', async () => {
      const res = await request(api.url)
        .post('/monitors')
        .send({
          pair: 'BTC-USD',
          intervalMs: 2000,
          rules: [
            { kind: 'cross', level: '100000' },
            { kind: 'spread', thresholdPercent: '5' },
          ],
        })
        .expect(201);
      const created = res.body as MonitorBody;
      const [before] = await workerContainers(created.id);

      const bad = await request(api.url)
        .patch(`/monitors/${created.id}`)
        .send({ rules: [{ id: 'r1', kind: 'cross', level: '-1' }] })
        .expect(400);
      expect((bad.body as ErrorBody).errors?.map((e) => e.field)).toEqual(['rules[0].level']);
      const pairChange = await request(api.url)
        .patch(`/monitors/${created.id}`)
        .send({ pair: 'ETH-USD' })
        .expect(400);
      expect((pairChange.body as ErrorBody).errors?.map((e) => e.field)).toEqual(['pair']);
      await request(api.url)
        .patch('/monitors/00000000-0000-4000-8000-000000000000')
        .send({ intervalMs: 3000 })
        .expect(404);
      const unchanged = (await request(api.url).get(`/monitors/${created.id}`).expect(200))
        .body as MonitorBody;
      expect(unchanged.rules.map((r) => r.id)).toEqual(['r1', 'r2']);
      expect(unchanged.intervalMs).toBe(2000);

      const edited = await request(api.url)
        .patch(`/monitors/${created.id}`)
        .send({
          intervalMs: 3000,
          rules: [
            { id: 'r1', kind: 'cross', level: '101000' },
            { kind: 'trailing', thresholdPercent: '2' },
          ],
        })
        .expect(200);
      const monitor = edited.body as MonitorBody;
      // r2 was removed: the new rule takes the next number past every id the monitor had.
      expect(monitor.rules.map((r) => [r.id, r.kind])).toEqual([
        ['r1', 'cross'],
        ['r3', 'trailing'],
      ]);
      expect(monitor.intervalMs).toBe(3000);
      const [after] = await workerContainers(created.id);
      expect(after.Id).not.toBe(before.Id);
      const env = parseWorkerEnv(await workerEnv(created.id));
      expect(env.intervalMs).toBe(3000);
      expect(env.rules.map((r) => (r.kind === 'cross' ? r.level : r.id))).toEqual(['101000', 'r3']);

      // A stopped monitor is edited and stays stopped.
      await request(api.url).delete(`/monitors/${created.id}`).expect(204);
      const stoppedEdit = await request(api.url)
        .patch(`/monitors/${created.id}`)
        .send({ rules: [{ id: 'r1', kind: 'cross', level: '102000' }] })
        .expect(200);
      expect((stoppedEdit.body as MonitorBody).status).toBe('stopped');
      expect(await workerContainers(created.id)).toHaveLength(0);
    });

    it('POST /monitors/backtest answers, over the stored ticks, exactly the alerts the worker fired, one by one', async () => {
      ticker.controls.set('ETH-USD', { ask: '3000.00', bid: '2999.00' });
      const rules = [
        { kind: 'cross', level: '3050', direction: 'both' },
        { kind: 'window', thresholdPercent: '2', windowMs: 10_000 },
        { kind: 'trailing', thresholdPercent: '1.5', direction: 'down' },
      ];
      const res = await request(api.url)
        .post('/monitors')
        .send({ pair: 'ETH-USD', intervalMs: 1000, rules })
        .expect(201);
      const created = res.body as MonitorBody;
      await eventually('the worker has seen the first price', async () => {
        const prices = await request(api.url).get(`/monitors/${created.id}/prices`).expect(200);
        return (prices.body as unknown[]).length > 0 ? true : undefined;
      });
      const points = ['3020', '3060', '3110', '3040', '3000', '2990', '3070', '3120', '3010', '2950'].map(
        (ask) => ({ ask: `${ask}.00`, bid: `${Number(ask) - 1}.00` }),
      );
      const run = ticker.controls.play('ETH-USD', points, { stepMs: 1500 });
      expect(await run.done).toBe(true);
      // A few more ticks at the last price, so the worker has seen every point.
      const lastTick = await eventually('the worker at the last point', async () => {
        const prices = await request(api.url).get(`/monitors/${created.id}/prices`).expect(200);
        const ticks = prices.body as { at: string; ask: string }[];
        const atLast = ticks.filter((t) => t.ask === '2950.00');
        return atLast.length >= 2 ? atLast[atLast.length - 1].at : undefined;
      });
      await request(api.url).delete(`/monitors/${created.id}`).expect(204);

      const stored = (
        (await request(api.url).get('/alerts').query({ monitorId: created.id, limit: 100 }).expect(200))
          .body as AlertPageBody
      ).items.reverse();
      expect(stored.length).toBeGreaterThan(2);
      const until = new Date(Date.parse(lastTick) + 1).toISOString();
      const since = created.createdAt;
      const result = await eventually('the archive holds every tick the worker saw', async () => {
        const bt = await request(api.url)
          .post('/monitors/backtest')
          .send({ pair: 'ETH-USD', intervalMs: 1000, rules, since, until });
        if (bt.status !== 200) return undefined;
        const body = bt.body as {
          to: string | null;
          alerts: Record<string, unknown>[];
          firedByRule: Record<string, number>;
        };
        return body.to === lastTick ? body : undefined;
      });
      const pick = (a: Record<string, unknown>) => ({
        ruleId: a.ruleId,
        kind: a.kind,
        direction: a.direction,
        referencePrice: a.referencePrice,
        price: a.price,
        changePercent: a.changePercent,
        details: a.details,
        observedAt: a.observedAt,
      });
      // Alerts of one tick are stored in id order; both sides in (observedAt, ruleId) order.
      const order = (x: ReturnType<typeof pick>, y: ReturnType<typeof pick>) =>
        `${String(x.observedAt)} ${String(x.ruleId)}`.localeCompare(
          `${String(y.observedAt)} ${String(y.ruleId)}`,
        );
      expect(result.alerts.map(pick).sort(order)).toEqual(
        stored.map((a) => pick(a as unknown as Record<string, unknown>)).sort(order),
      );
      const counted: Record<string, number> = { r1: 0, r2: 0, r3: 0 };
      for (const a of stored) counted[a.ruleId] += 1;
      expect(result.firedByRule).toEqual(counted);
    });

    it('POST /monitors/backtest refuses bad rules and a range over 30 days (400), and a pair with no ticks (422)', async () => {
      const bad = await request(api.url)
        .post('/monitors/backtest')
        .send({ pair: 'BTC-USD', rules: [{ kind: 'cross', level: 'x' }] })
        .expect(400);
      expect((bad.body as ErrorBody).errors?.map((e) => e.field)).toEqual(['rules[0].level']);
      const long = await request(api.url)
        .post('/monitors/backtest')
        .send({
          pair: 'BTC-USD',
          rules: [{ kind: 'cross', level: '1' }],
          since: '2026-01-01T00:00:00Z',
          until: '2026-02-01T00:00:01Z',
        })
        .expect(400);
      expect((long.body as ErrorBody).errors?.map((e) => e.field)).toEqual(['since']);
      await request(api.url)
        .post('/monitors/backtest')
        .send({ pair: 'ZZZ-USD', rules: [{ kind: 'cross', level: '1' }] })
        .expect(422);
    });

    it.each([
      ['kind', { kind: 'sideways' }],
      ['ruleId', { ruleId: 'r 1' }],
    ])('GET /alerts refuses a bad %s with a 400 naming it', async (param, query) => {
      const res = await request(api.url).get('/alerts').query(query).expect(400);
      expect((res.body as ErrorBody).errors?.map((e) => e.field)).toEqual([param]);
    });
  },
);
