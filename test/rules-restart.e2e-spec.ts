import Redis from 'ioredis';
import request from 'supertest';
import { parseRuleStates, ruleStateKey, workerStateKey } from '@pairwatch/contracts';
import { FakeUpholdServer } from '../apps/fake-ticker/src/fake-uphold.server';
import { describeWithDocker, docker, removeAllWorkers, workerContainers } from './support/docker';
import { eventually, startApi, TestApi, truncateAll } from './support/api';
import type { AlertPageBody, MonitorBody } from './support/bodies';
import { testRedisUrl } from './support/test-env';

type Alert = AlertPageBody['items'][number];

/**
 * DESIGN.md "Rules", state across restarts: a worker killed (SIGKILL, no shutdown) in the middle of a move is
 * restarted by the engine (the workers' on-failure restart policy); it replays its stored ticks and takes on its
 * rule state, so it fires no spurious alert and loses neither the window, the peak, the crossing side, the fires
 * counted towards `maxFires` nor the cooldown. The fake ticker's controls (PUT /__fake/prices) move the price so
 * that the move completes after the restart.
 */
describeWithDocker('rules across a worker restart (killed mid-move, restarted by the engine)', () => {
  const PAIR = 'BTC-USD';
  let ticker: FakeUpholdServer;
  let tickerUrl: string;
  let api: TestApi;
  let redis: Redis;

  beforeAll(async () => {
    ticker = new FakeUpholdServer();
    ({ url: tickerUrl } = await ticker.start(0, '127.0.0.1'));
    api = await startApi({ env: { UPHOLD_API_URL: tickerUrl } });
    redis = new Redis(testRedisUrl());
  });

  beforeEach(async () => {
    await truncateAll(api.db);
    await removeAllWorkers();
  });

  afterAll(async () => {
    await api?.close();
    await removeAllWorkers();
    await ticker?.stop();
    redis?.disconnect();
  });

  /** The fake's price control over HTTP, held there: bid 0.10 under ask. */
  async function setPrice(ask: string): Promise<void> {
    const bid = (Number(ask) - 0.1).toFixed(2);
    await request(tickerUrl).put(`/__fake/prices/${PAIR}`).send({ ask, bid }).expect(200);
  }

  async function create(rules: object[]): Promise<MonitorBody> {
    const res = await request(api.url)
      .post('/monitors')
      .send({ pair: PAIR, intervalMs: 1000, rules })
      .expect(201);
    return res.body as MonitorBody;
  }

  /** Waits until the worker has stored a tick at `ask` observed after `afterMs`; answers that tick's time. */
  async function seen(id: string, ask: string, afterMs = 0): Promise<number> {
    return eventually(`the worker to see ${ask}`, async () => {
      const prices = await request(api.url).get(`/monitors/${id}/prices`).expect(200);
      const at = (prices.body as { at: string; ask: string }[])
        .filter((t) => t.ask === ask && Date.parse(t.at) > afterMs)
        .map((t) => Date.parse(t.at));
      return at.length > 0 ? at[0] : undefined;
    });
  }

  /** The first price the restarted worker saw (the first tick stored after the kill). */
  async function firstAfter(id: string, killedAt: number): Promise<string> {
    const prices = await request(api.url).get(`/monitors/${id}/prices`).expect(200);
    const after = (prices.body as { at: string; ask: string }[]).filter((t) => Date.parse(t.at) > killedAt);
    return after[0].ask;
  }

  /** SIGKILLs the worker's process (a crash: no shutdown, exit 137); answers when. */
  async function kill(id: string): Promise<{ containerId: string; killedAt: number }> {
    const [container] = await workerContainers(id);
    const info = await docker.getContainer(container.Id).inspect();
    const killedAt = Date.now();
    process.kill(info.State.Pid, 'SIGKILL');
    return { containerId: container.Id, killedAt };
  }

  /** Waits for the engine to restart that container: a new worker process has reported since the kill. */
  async function restarted(id: string, containerId: string, killedAt: number): Promise<void> {
    await eventually(
      'the worker restarted by the engine',
      async () => {
        const startedAt = await redis.hget(workerStateKey(id), 'startedAt');
        return startedAt && Date.parse(startedAt) > killedAt ? true : undefined;
      },
      30_000,
    );
    const info = await docker.getContainer(containerId).inspect();
    expect(info.RestartCount).toBeGreaterThanOrEqual(1);
  }

  async function alerts(id: string): Promise<Alert[]> {
    const res = await request(api.url).get('/alerts').query({ monitorId: id, limit: 100 }).expect(200);
    return (res.body as AlertPageBody).items.reverse();
  }

  async function alertsAtLeast(id: string, n: number): Promise<Alert[]> {
    return eventually(`${n} alert(s) stored`, async () => {
      const stored = await alerts(id);
      return stored.length >= n ? stored : undefined;
    });
  }

  /**
   * Exactly `sinceRestart` alerts sent by the restarted worker, with two more ticks seen after the last one (the
   * worker counts what it sent in its state hash, written after each tick's alerts), and `total` stored.
   */
  async function exactly(
    id: string,
    sinceRestart: number,
    total: number,
    lastAlertMs: number,
  ): Promise<Alert[]> {
    const sent = await eventually('two more ticks after the last alert', async () => {
      const state = await redis.hgetall(workerStateKey(id));
      return Date.parse(state.lastTickAt ?? '') >= lastAlertMs + 2000 ? Number(state.alertsSent) : undefined;
    });
    expect(sent).toBe(sinceRestart);
    const stored = await eventually(`${total} alert(s) stored`, async () => {
      const all = await alerts(id);
      return all.length === total ? all : undefined;
    });
    return stored;
  }

  it('window: the minimum seen before the kill still counts after the restart; the move fires once', async () => {
    await setPrice('100.00');
    const monitor = await create([
      { kind: 'window', thresholdPercent: '3', windowMs: 120_000, direction: 'up' },
    ]);
    await seen(monitor.id, '100.00');
    await setPrice('103.00');
    // Before the kill: +3 % fires, and the window restarts at 103.
    const [first] = await alertsAtLeast(monitor.id, 1);
    expect(first).toMatchObject({ price: '103.00', referencePrice: '100.00' });
    await setPrice('101.00');
    await seen(monitor.id, '101.00');

    const { containerId, killedAt } = await kill(monitor.id);
    await setPrice('102.00');
    await restarted(monitor.id, containerId, killedAt);
    await seen(monitor.id, '102.00', killedAt);
    expect(await firstAfter(monitor.id, killedAt)).toBe('102.00');
    // +3 % from 101 (seen only by the dead worker); a worker that forgot it would measure from 102 (+1.99 %).
    await setPrice('104.03');
    const stored = await alertsAtLeast(monitor.id, 2);
    const second = stored[1];
    expect(second).toMatchObject({
      kind: 'window',
      direction: 'up',
      price: '104.03',
      referencePrice: '101.00',
    });
    expect(Date.parse(second.observedAt)).toBeGreaterThan(killedAt);
    await exactly(monitor.id, 1, 2, Date.parse(second.observedAt));
  });

  it('trailing: the peak seen before the kill still counts after the restart; the drop fires once', async () => {
    await setPrice('100.00');
    const monitor = await create([{ kind: 'trailing', thresholdPercent: '2', direction: 'down' }]);
    await seen(monitor.id, '100.00');
    await setPrice('105.00');
    await seen(monitor.id, '105.00');

    const { containerId, killedAt } = await kill(monitor.id);
    await setPrice('104.00');
    await restarted(monitor.id, containerId, killedAt);
    await seen(monitor.id, '104.00', killedAt);
    expect(await firstAfter(monitor.id, killedAt)).toBe('104.00');
    // 2 % under the peak 105; a worker that forgot it would measure from 104 (−1.06 %).
    await setPrice('102.90');
    const [alert] = await alertsAtLeast(monitor.id, 1);
    expect(alert).toMatchObject({
      kind: 'trailing',
      direction: 'down',
      price: '102.90',
      referencePrice: '105.00',
      details: { peak: '105.00' },
    });
    await exactly(monitor.id, 1, 1, Date.parse(alert.observedAt));
  });

  it('cross: the side seen before the kill still counts; a crossing made while the worker was down fires once', async () => {
    await setPrice('99.00');
    const monitor = await create([{ kind: 'cross', level: '100', direction: 'both' }]);
    await seen(monitor.id, '99.00');

    const { containerId, killedAt } = await kill(monitor.id);
    // Crossed while no worker ran: the restarted worker's first price is above the level. A worker that forgot
    // the side would take that first price as its side, and never fire.
    await setPrice('100.50');
    await restarted(monitor.id, containerId, killedAt);
    const [alert] = await alertsAtLeast(monitor.id, 1);
    expect(alert).toMatchObject({
      kind: 'cross',
      direction: 'up',
      price: '100.50',
      details: { level: '100', previousPrice: '99.00' },
    });
    expect(Date.parse(alert.observedAt)).toBeGreaterThan(killedAt);
    // That crossing was the restarted worker's first price: the side below came from the replay.
    expect(await firstAfter(monitor.id, killedAt)).toBe('100.50');
    await exactly(monitor.id, 1, 1, Date.parse(alert.observedAt));
  });

  it('maxFires and cooldown: what fired before the kill is counted after the restart; no second fire', async () => {
    await setPrice('99.00');
    const cross = { kind: 'cross', level: '100', direction: 'up' };
    const monitor = await create([
      { ...cross, maxFires: 1 },
      { ...cross, cooldownMs: 3_600_000 },
      // Fires at every crossing: when its second alert is stored, the others had their chance on that tick.
      cross,
    ]);
    await seen(monitor.id, '99.00');
    await setPrice('100.50');
    const before = await alertsAtLeast(monitor.id, 3);
    expect(before.map((a) => a.ruleId).sort()).toEqual(['r1', 'r2', 'r3']);
    await setPrice('99.00');
    const below = await seen(monitor.id, '99.00', Date.parse(before[0].observedAt));

    const { containerId, killedAt } = await kill(monitor.id);
    await restarted(monitor.id, containerId, killedAt);
    await seen(monitor.id, '99.00', Math.max(killedAt, below));
    await setPrice('100.50');
    const last = await eventually('r3 to fire again after the restart', async () =>
      (await alerts(monitor.id)).find((a) => a.ruleId === 'r3' && Date.parse(a.observedAt) > killedAt),
    );
    expect(last).toMatchObject({ price: '100.50' });
    // The restarted worker sent that one alert only: r1 (maxFires 1) and r2 (cooling down) held.
    const stored = await exactly(monitor.id, 1, 4, Date.parse(last.observedAt));
    expect(stored.map((a) => a.ruleId).sort()).toEqual(['r1', 'r2', 'r3', 'r3']);
    const got = (await request(api.url).get(`/monitors/${monitor.id}`).expect(200)).body as MonitorBody;
    expect(got.rules.map((r) => [r.id, r.fires, r.done])).toEqual([
      ['r1', 1, true],
      ['r2', 1, false],
      ['r3', 2, false],
    ]);
    // What the worker recorded with its alerts, and what the restarted one took on.
    const states = parseRuleStates(await redis.hgetall(ruleStateKey(monitor.id))).states;
    expect(Object.fromEntries(Object.entries(states).map(([id, s]) => [id, s.fires]))).toEqual({
      r1: 1,
      r2: 1,
      r3: 2,
    });
  });
});
