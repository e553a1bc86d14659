import { Logger } from '@nestjs/common';
import { WORKER_EXIT } from '@pairwatch/contracts';
import { DataSource } from 'typeorm';
import { AppConfig, loadConfig } from '../config/app.config';
import { MonitorEntity } from '../monitors/monitor.entity';
import { MonitorsRepository } from '../monitors/monitors.repository';
import { WorkerSpecFactory } from '../monitors/worker-spec.factory';
import { newWorkerRuntimeMock } from '../runtime/testing/worker-runtime.mock';
import { WorkerEvent, WorkerExit, WorkerInfo, WorkerRuntime } from '../runtime/worker-runtime';
import { WorkerExitsRepository } from './worker-exits.repository';
import { WorkerSupervisor } from './worker-supervisor.service';
import { newMonitorsRepositoryMock, PublicOf } from '../monitors/testing/monitors-repository.mock';

/** The public surface of a class, so a plain object of jest.fn()s can stand for it. */

const NOW = Date.parse('2025-06-01T12:00:00.000Z');
const ID_A = '3f2b8c1a-5d4e-4f6a-9b8c-7d6e5f4a3b2c';
const ID_B = '11111111-2222-4333-8444-555555555555';
const ID_C = '99999999-8888-4777-8666-555555555555';
const CURRENT_HASH = 'hash-now';
const OLD_ENOUGH = new Date(NOW - 60_000);

function newWorkerExitsRepositoryMock(): jest.Mocked<PublicOf<WorkerExitsRepository>> {
  return { record: jest.fn(), countDeaths: jest.fn() };
}

interface QueryRunnerMock {
  connect: jest.Mock<Promise<void>, []>;
  query: jest.Mock<Promise<unknown>, [string, unknown[]?]>;
  release: jest.Mock<Promise<void>, []>;
}

/** A DataSource whose query runners answer the advisory-lock query with `locked`. */
function newDataSourceFake(locked: () => boolean) {
  const runners: QueryRunnerMock[] = [];
  const createQueryRunner = jest.fn(() => {
    const runner: QueryRunnerMock = {
      connect: jest.fn(() => Promise.resolve()),
      query: jest.fn((sql: string) =>
        Promise.resolve(sql.includes('pg_try_advisory_lock') ? [{ locked: locked() }] : [{}]),
      ),
      release: jest.fn(() => Promise.resolve()),
    };
    runners.push(runner);
    return runner;
  });
  return { createQueryRunner, runners };
}

function monitor(values: Partial<MonitorEntity> = {}): MonitorEntity {
  return Object.assign(new MonitorEntity(), {
    id: ID_A,
    pair: 'BTC-USD',
    intervalMs: 5000,
    thresholdPercent: '0.01',
    priceField: 'ask',
    direction: 'both',
    cooldownMs: 0,
    status: 'running',
    reason: null,
    workerId: `w-${values.id ?? ID_A}`,
    createdAt: OLD_ENOUGH,
    updatedAt: OLD_ENOUGH,
    stoppedAt: null,
    restartedAt: null,
    ...values,
  });
}

function worker(values: Partial<WorkerInfo> = {}): WorkerInfo {
  const monitorId = values.monitorId ?? ID_A;
  return {
    workerId: `w-${monitorId}`,
    monitorId,
    pair: 'BTC-USD',
    name: `pairwatch-worker-${monitorId}`,
    state: 'running',
    exitCode: null,
    restarts: 0,
    image: 'pairwatch-worker:latest',
    startedAt: '2025-06-01T11:59:00.000Z',
    specHash: CURRENT_HASH,
    ...values,
  };
}

function exit(values: Partial<WorkerExit> = {}): WorkerExit {
  return {
    monitorId: ID_A,
    workerId: `w-${ID_A}`,
    key: 'die-event-1',
    exitCode: 1,
    exitedAt: new Date(NOW - 1000),
    logTail: '',
    ...values,
  };
}

interface Deferred<T> {
  promise: Promise<T>;
  resolve: (value: T) => void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** Lets every pending promise chain run (real timers only). */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise<void>((r) => setImmediate(r));
}

describe(WorkerSupervisor.name, () => {
  let config: AppConfig;
  let locked: boolean;
  let db: ReturnType<typeof newDataSourceFake>;
  let runtime: jest.Mocked<WorkerRuntime>;
  let monitors: jest.Mocked<PublicOf<MonitorsRepository>>;
  let exits: jest.Mocked<PublicOf<WorkerExitsRepository>>;
  let specs: WorkerSpecFactory;
  let warn: jest.SpyInstance;
  let sut: WorkerSupervisor;

  beforeEach(() => {
    jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
    warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    config = loadConfig({
      REDIS_URL: 'redis://api-side:6379',
      UPHOLD_API_URL: 'http://fake-ticker:8080/',
      DATABASE_URL: 'postgres://user:pw@db/pairwatch',
      CRASH_LOOP_MAX_DEATHS: '5',
      CRASH_LOOP_WINDOW_MS: '600000',
      RECONCILE_INTERVAL_MS: '15000',
    });
    locked = true;
    db = newDataSourceFake(() => locked);
    runtime = newWorkerRuntimeMock();
    monitors = newMonitorsRepositoryMock();
    exits = newWorkerExitsRepositoryMock();
    specs = new WorkerSpecFactory(config);

    // Happy-path defaults: nothing to do. Each test sets up the world it is about.
    monitors.listActive.mockResolvedValue([]);
    monitors.updateIfActive.mockResolvedValue(true);
    monitors.findById.mockResolvedValue(null);
    runtime.list.mockResolvedValue([]);
    runtime.find.mockResolvedValue(null);
    runtime.start.mockImplementation((spec) =>
      Promise.resolve(
        worker({ monitorId: spec.monitor.monitorId, workerId: `new-${spec.monitor.monitorId}` }),
      ),
    );
    runtime.stop.mockResolvedValue();
    runtime.specHash.mockResolvedValue(CURRENT_HASH);
    runtime.lastExit.mockResolvedValue(null);
    exits.countDeaths.mockResolvedValue(0);
    exits.record.mockResolvedValue();

    sut = new WorkerSupervisor(
      config,
      db as unknown as DataSource,
      runtime,
      monitors as unknown as MonitorsRepository,
      exits as unknown as WorkerExitsRepository,
      specs,
    );
  });

  afterEach(() => {
    jest.useRealTimers();
    jest.restoreAllMocks();
  });

  /** The active monitors and what the runtime lists; find() answers what list() does unless told otherwise. */
  function world(active: MonitorEntity[], workers: WorkerInfo[]): void {
    monitors.listActive.mockResolvedValue(active);
    runtime.list.mockResolvedValue(workers);
    runtime.find.mockImplementation((id) => Promise.resolve(workers.find((w) => w.monitorId === id) ?? null));
  }

  describe('reconcile', () => {
    beforeEach(() => jest.spyOn(Date, 'now').mockReturnValue(NOW));

    it('is skipped, touching no worker and no monitor, when another replica holds the advisory lock', async () => {
      locked = false;
      world([monitor({ status: 'running' })], [worker({ monitorId: ID_B })]);

      const report = await sut.reconcile();

      expect(report).toEqual({
        skipped: true,
        started: [],
        adopted: [],
        replaced: [],
        removed: [],
        failed: [],
      });
      expect(runtime.list).not.toHaveBeenCalled();
      expect(monitors.listActive).not.toHaveBeenCalled();
      expect(runtime.start).not.toHaveBeenCalled();
      expect(runtime.stop).not.toHaveBeenCalled();
      expect(monitors.updateIfActive).not.toHaveBeenCalled();
      const [runner] = db.runners;
      expect(runner.query).toHaveBeenCalledTimes(1);
      expect(runner.query.mock.calls[0][0]).toContain('pg_try_advisory_lock');
      expect(runner.release).toHaveBeenCalledTimes(1);
    });

    it('takes the lock, then unlocks with the same key and releases the connection', async () => {
      await sut.reconcile();

      const [runner] = db.runners;
      expect(runner.connect).toHaveBeenCalled();
      const calls = runner.query.mock.calls;
      expect(calls).toHaveLength(2);
      expect(calls[0][0]).toContain('pg_try_advisory_lock');
      expect(calls[1][0]).toContain('pg_advisory_unlock');
      expect(calls[1][1]).toEqual(calls[0][1]);
      expect(runner.release).toHaveBeenCalledTimes(1);
      expect(runner.release.mock.invocationCallOrder[0]).toBeGreaterThan(
        runner.query.mock.invocationCallOrder[1],
      );
    });

    it('starts a missing worker for an active monitor and marks the monitor running with its worker id', async () => {
      const m = monitor({ status: 'running', workerId: 'gone-worker' });
      world([m], []);

      const report = await sut.reconcile();

      expect(runtime.start).toHaveBeenCalledTimes(1);
      expect(runtime.start).toHaveBeenCalledWith(specs.specFor(m));
      expect(monitors.updateIfActive).toHaveBeenCalledWith(ID_A, {
        status: 'running',
        workerId: `new-${ID_A}`,
      });
      expect(report.started).toEqual([ID_A]);
      expect(runtime.stop).not.toHaveBeenCalled();
    });

    it('leaves a monitor that has been starting for under 30 s to its POST /monitors, worker included', async () => {
      const young = monitor({ status: 'starting', workerId: null, createdAt: new Date(NOW - 29_000) });
      world([young], [worker({ specHash: 'something-else', state: 'exited', exitCode: 1 })]);

      const report = await sut.reconcile();

      expect(runtime.start).not.toHaveBeenCalled();
      expect(runtime.stop).not.toHaveBeenCalled(); // neither replaced nor removed as an orphan
      expect(monitors.updateIfActive).not.toHaveBeenCalled();
      expect(report).toMatchObject({ skipped: false, started: [], replaced: [], removed: [] });
    });

    it('handles a monitor that has been starting for 30 s or more: starts its missing worker', async () => {
      const stuck = monitor({ status: 'starting', workerId: null, createdAt: new Date(NOW - 30_000) });
      world([stuck], []);

      const report = await sut.reconcile();

      expect(runtime.start).toHaveBeenCalledWith(specs.specFor(stuck));
      expect(monitors.updateIfActive).toHaveBeenCalledWith(ID_A, {
        status: 'running',
        workerId: `new-${ID_A}`,
      });
      expect(report.started).toEqual([ID_A]);
    });

    it('leaves a long-existing monitor alone for 30 s after POST /monitors/:id/restart put it back to starting', async () => {
      const restarting = monitor({
        status: 'starting',
        workerId: null,
        createdAt: new Date(NOW - 86_400_000),
        restartedAt: new Date(NOW - 5_000),
      });
      world([restarting], []);

      await sut.reconcile();

      expect(runtime.start).not.toHaveBeenCalled();
      expect(monitors.updateIfActive).not.toHaveBeenCalled();
    });

    it('handles a restarted monitor still starting 30 s after the restart', async () => {
      const stuck = monitor({
        status: 'starting',
        workerId: null,
        createdAt: new Date(NOW - 86_400_000),
        restartedAt: new Date(NOW - 30_000),
      });
      world([stuck], []);

      expect((await sut.reconcile()).started).toEqual([ID_A]);
    });

    it('adopts a healthy worker: no start or stop, monitor marked running with the worker id', async () => {
      const m = monitor({ status: 'starting', workerId: null, createdAt: OLD_ENOUGH });
      world([m], [worker({ workerId: 'survivor' })]);

      const report = await sut.reconcile();

      expect(runtime.start).not.toHaveBeenCalled();
      expect(runtime.stop).not.toHaveBeenCalled();
      expect(runtime.specHash).toHaveBeenCalledWith(specs.specFor(m));
      expect(monitors.updateIfActive).toHaveBeenCalledWith(ID_A, { status: 'running', workerId: 'survivor' });
      expect(report.adopted).toEqual([ID_A]);
    });

    it('adopts a healthy worker whose id differs from the recorded one (e.g. started by another replica)', async () => {
      world([monitor({ status: 'running', workerId: 'old-id' })], [worker({ workerId: 'other-id' })]);

      await sut.reconcile();

      expect(monitors.updateIfActive).toHaveBeenCalledWith(ID_A, { status: 'running', workerId: 'other-id' });
      expect(runtime.start).not.toHaveBeenCalled();
      expect(runtime.stop).not.toHaveBeenCalled();
    });

    it('writes nothing when the monitor already records the healthy worker as running', async () => {
      world([monitor({ status: 'running', workerId: `w-${ID_A}` })], [worker()]);

      const report = await sut.reconcile();

      expect(monitors.updateIfActive).not.toHaveBeenCalled();
      expect(monitors.update).not.toHaveBeenCalled();
      expect(runtime.start).not.toHaveBeenCalled();
      expect(runtime.stop).not.toHaveBeenCalled();
      expect(report).toEqual({
        skipped: false,
        started: [],
        adopted: [],
        replaced: [],
        removed: [],
        failed: [],
      });
    });

    it('judges the worker as find() inspects it, not as list() summarised it', async () => {
      world([monitor()], [worker()]);
      runtime.find.mockResolvedValue(worker({ specHash: 'stale' }));

      const report = await sut.reconcile();

      expect(runtime.find).toHaveBeenCalledWith(ID_A);
      expect(report.replaced).toEqual([ID_A]);
    });

    it('replaces a worker whose spec hash differs: stop, then start, monitor running with the new id', async () => {
      const m = monitor({ status: 'running' });
      world([m], [worker({ specHash: 'made-from-an-older-image' })]);

      const report = await sut.reconcile();

      expect(runtime.stop).toHaveBeenCalledWith(ID_A);
      expect(runtime.start).toHaveBeenCalledWith(specs.specFor(m));
      expect(runtime.stop.mock.invocationCallOrder[0]).toBeLessThan(
        runtime.start.mock.invocationCallOrder[0],
      );
      expect(monitors.updateIfActive).toHaveBeenCalledWith(ID_A, {
        status: 'running',
        workerId: `new-${ID_A}`,
      });
      expect(monitors.updateIfActive).not.toHaveBeenCalledWith(
        ID_A,
        expect.objectContaining({ status: 'failed' }),
      );
      expect(report.replaced).toEqual([ID_A]);
      expect(report.adopted).toEqual([]);
    });

    it('replaces a worker that has no spec hash label at all', async () => {
      world([monitor()], [worker({ specHash: null })]);
      expect((await sut.reconcile()).replaced).toEqual([ID_A]);
    });

    it.each(['exited', 'dead'] as const)(
      'replaces a worker in state %s (stop, then start) when it is not a crash loop',
      async (state) => {
        world([monitor({ status: 'running' })], [worker({ state, exitCode: 137, restarts: 0 })]);

        const report = await sut.reconcile();

        expect(runtime.stop).toHaveBeenCalledWith(ID_A);
        expect(runtime.start).toHaveBeenCalledTimes(1);
        expect(runtime.stop.mock.invocationCallOrder[0]).toBeLessThan(
          runtime.start.mock.invocationCallOrder[0],
        );
        expect(monitors.updateIfActive).toHaveBeenCalledTimes(1);
        expect(monitors.updateIfActive).toHaveBeenCalledWith(ID_A, {
          status: 'running',
          workerId: `new-${ID_A}`,
        });
        expect(report).toMatchObject({ replaced: [ID_A], failed: [] });
      },
    );

    it('removes workers whose monitor is not active, all at once rather than one after the other', async () => {
      world([], [worker({ monitorId: ID_B }), worker({ monitorId: ID_C })]);
      const stops = new Map<string, Deferred<void>>();
      runtime.stop.mockImplementation((id) => {
        const d = deferred<void>();
        stops.set(id, d);
        return d.promise;
      });

      const pass = sut.reconcile();
      await settle();
      // Both stops are under way before either finished.
      expect([...stops.keys()].sort()).toEqual([ID_B, ID_C].sort());
      stops.get(ID_B)!.resolve();
      stops.get(ID_C)!.resolve();
      const report = await pass;

      expect(report.removed.sort()).toEqual([ID_B, ID_C].sort());
      expect(runtime.start).not.toHaveBeenCalled();
      expect(monitors.updateIfActive).not.toHaveBeenCalled();
    });

    it('removes only the orphans, keeping the workers of active monitors', async () => {
      world([monitor({ id: ID_A })], [worker({ monitorId: ID_A }), worker({ monitorId: ID_B })]);

      const report = await sut.reconcile();

      expect(runtime.stop).toHaveBeenCalledTimes(1);
      expect(runtime.stop).toHaveBeenCalledWith(ID_B);
      expect(report.removed).toEqual([ID_B]);
    });

    it('goes on with the other monitors when one fails', async () => {
      const a = monitor({ id: ID_A, pair: 'BTC-USD' });
      const b = monitor({ id: ID_B, pair: 'ETH-EUR' });
      const c = monitor({ id: ID_C, pair: 'XRP-USD' });
      world([a, b, c], [worker({ monitorId: ID_C })]);
      runtime.start.mockImplementation((spec) =>
        spec.monitor.monitorId === ID_A
          ? Promise.reject(new Error('engine refused'))
          : Promise.resolve(worker({ monitorId: spec.monitor.monitorId, workerId: 'b-new' })),
      );

      const report = await sut.reconcile();

      expect(runtime.start).toHaveBeenCalledTimes(2);
      expect(report.started).toEqual([ID_B]);
      expect(monitors.updateIfActive).toHaveBeenCalledWith(ID_B, { status: 'running', workerId: 'b-new' });
      expect(monitors.updateIfActive).not.toHaveBeenCalledWith(ID_A, expect.anything());
      expect(warn).toHaveBeenCalledWith(expect.stringContaining('engine refused'));
      expect(report.skipped).toBe(false);
    });

    it('never throws when the runtime cannot list its workers, and still unlocks and releases', async () => {
      monitors.listActive.mockResolvedValue([monitor()]);
      runtime.list.mockRejectedValue(new Error('connect ECONNREFUSED /var/run/docker.sock'));

      const report = await sut.reconcile();

      expect(report).toMatchObject({ skipped: true, started: [], removed: [] });
      expect(runtime.start).not.toHaveBeenCalled();
      expect(runtime.stop).not.toHaveBeenCalled();
      const [runner] = db.runners;
      expect(runner.query.mock.calls.map(([sql]) => sql)).toEqual([
        expect.stringContaining('pg_try_advisory_lock'),
        expect.stringContaining('pg_advisory_unlock'),
      ]);
      expect(runner.release).toHaveBeenCalledTimes(1);
      expect(warn).toHaveBeenCalledWith(expect.stringContaining('ECONNREFUSED'));
    });

    it('shares one pass between overlapping calls and runs exactly one more after it', async () => {
      const firstList = deferred<WorkerInfo[]>();
      runtime.list.mockReturnValueOnce(firstList.promise).mockResolvedValue([]);

      const first = sut.reconcile();
      const second = sut.reconcile();
      const third = sut.reconcile();
      expect(second).toBe(first);
      expect(third).toBe(first);

      await settle();
      expect(db.createQueryRunner).toHaveBeenCalledTimes(1); // the follow-up waits for the pass in flight
      firstList.resolve([]);
      await first;
      await settle();

      expect(db.createQueryRunner).toHaveBeenCalledTimes(2);
      expect(runtime.list).toHaveBeenCalledTimes(2);
      await settle();
      expect(db.createQueryRunner).toHaveBeenCalledTimes(2); // and no more
    });

    it('converges no further monitor once shutdown has begun during a pass', async () => {
      world([monitor({ id: ID_A }), monitor({ id: ID_B, pair: 'ETH-EUR' })], []);
      const firstStart = deferred<WorkerInfo>();
      runtime.start.mockReturnValueOnce(firstStart.promise);

      const pass = sut.reconcile();
      await settle();
      expect(runtime.start).toHaveBeenCalledTimes(1);
      const shutdown = sut.beforeApplicationShutdown();
      firstStart.resolve(worker({ monitorId: ID_A }));
      const report = await pass;
      await shutdown;

      expect(runtime.start).toHaveBeenCalledTimes(1);
      expect(report.started).toEqual([ID_A]);
    });

    it('runs no extra pass when calls did not overlap', async () => {
      await sut.reconcile();
      await settle();
      expect(db.createQueryRunner).toHaveBeenCalledTimes(1);
    });
  });

  describe('crash loop', () => {
    beforeEach(() => jest.spyOn(Date, 'now').mockReturnValue(NOW));

    it('fails the monitor when its worker died more than CRASH_LOOP_MAX_DEATHS times, and does not restart it', async () => {
      world([monitor()], [worker({ state: 'restarting', exitCode: 1, restarts: 2 })]);
      exits.countDeaths.mockResolvedValue(6);
      runtime.lastExit.mockResolvedValue(exit({ exitCode: 2, logTail: 'invalid config: PAIR\nexiting' }));

      const report = await sut.reconcile();

      expect(runtime.stop).toHaveBeenCalledWith(ID_A);
      expect(runtime.start).not.toHaveBeenCalled();
      expect(monitors.updateIfActive).toHaveBeenCalledTimes(1);
      expect(monitors.updateIfActive).toHaveBeenCalledWith(ID_A, {
        status: 'failed',
        reason: expect.any(String),
      });
      const { reason } = monitors.updateIfActive.mock.calls[0][1];
      expect(reason).toContain('died 6 times');
      expect(reason).toContain('within 600 s');
      expect(reason).toContain('last exit code 2');
      expect(reason).toContain('invalid config: PAIR\nexiting');
      expect(report).toMatchObject({ failed: [ID_A], replaced: [], started: [] });
    });

    it('fails the monitor when the runtime gave up restarting it (exited, non-zero, restarts at the limit)', async () => {
      const maxRestarts = config.workerLimits.maxRestarts;
      world([monitor()], [worker({ state: 'exited', exitCode: 1, restarts: maxRestarts })]);
      exits.countDeaths.mockResolvedValue(0);

      const report = await sut.reconcile();

      expect(runtime.start).not.toHaveBeenCalled();
      expect(runtime.stop).toHaveBeenCalledWith(ID_A);
      const { reason } = monitors.updateIfActive.mock.calls[0][1];
      expect(monitors.updateIfActive.mock.calls[0][1].status).toBe('failed');
      expect(reason).toContain(`died ${maxRestarts + 1} times`);
      expect(reason).toContain('last exit code 1');
      expect(report.failed).toEqual([ID_A]);
    });

    it('does not count a runtime that stopped restarting a worker which exited cleanly as giving up', async () => {
      world(
        [monitor()],
        [worker({ state: 'exited', exitCode: 0, restarts: config.workerLimits.maxRestarts })],
      );

      const report = await sut.reconcile();

      expect(report).toMatchObject({ failed: [], replaced: [ID_A] });
    });

    it('fails at once, without restarting, a worker that exited with code 3: pair unknown at the ticker', async () => {
      world([monitor({ pair: 'FOO-BAR' })], [worker({ state: 'exited', exitCode: WORKER_EXIT.unknownPair })]);
      runtime.lastExit.mockResolvedValue(
        exit({ exitCode: WORKER_EXIT.unknownPair, logTail: 'pair FOO-BAR not on the ticker' }),
      );
      exits.countDeaths.mockResolvedValue(1);

      const report = await sut.reconcile();

      expect(runtime.start).not.toHaveBeenCalled();
      expect(runtime.stop).toHaveBeenCalledWith(ID_A);
      expect(monitors.updateIfActive).toHaveBeenCalledWith(ID_A, {
        status: 'failed',
        reason: expect.stringContaining('pair FOO-BAR is unknown at the ticker'),
      });
      expect(monitors.updateIfActive.mock.calls[0][1].reason).toContain('pair FOO-BAR not on the ticker');
      expect(report.failed).toEqual([ID_A]);
    });

    it('does not report a monitor as failed when another replica or a DELETE got there first', async () => {
      world([monitor()], [worker({ state: 'restarting', restarts: 1 })]);
      exits.countDeaths.mockResolvedValue(9);
      monitors.updateIfActive.mockResolvedValue(false);

      const report = await sut.reconcile();

      expect(runtime.start).not.toHaveBeenCalled();
      expect(report.failed).toEqual([]);
    });

    it.each([0, 5])(
      'replaces, and does not fail, a dead worker with %i deaths in the window (limit 5)',
      async (deaths) => {
        world([monitor()], [worker({ state: 'exited', exitCode: 1, restarts: 0 })]);
        exits.countDeaths.mockResolvedValue(deaths);

        const report = await sut.reconcile();

        expect(monitors.updateIfActive).not.toHaveBeenCalledWith(
          ID_A,
          expect.objectContaining({ status: 'failed' }),
        );
        expect(runtime.start).toHaveBeenCalledTimes(1);
        expect(report).toMatchObject({ failed: [], replaced: [ID_A] });
      },
    );

    it('leaves alone a worker the runtime is restarting when the deaths are within the limit', async () => {
      world([monitor()], [worker({ state: 'restarting', restarts: 2 })]);
      exits.countDeaths.mockResolvedValue(3);

      const report = await sut.reconcile();

      expect(exits.countDeaths).toHaveBeenCalled();
      expect(runtime.stop).not.toHaveBeenCalled();
      expect(runtime.start).not.toHaveBeenCalled();
      expect(report.failed).toEqual([]);
    });

    it('does not look for a crash loop when a running worker never restarted', async () => {
      world([monitor()], [worker({ state: 'running', restarts: 0 })]);
      await sut.reconcile();
      expect(exits.countDeaths).not.toHaveBeenCalled();
    });

    it('counts deaths over the window when the monitor was never restarted', async () => {
      world([monitor({ restartedAt: null })], [worker({ state: 'restarting', restarts: 1 })]);

      await sut.reconcile();

      expect(exits.countDeaths).toHaveBeenCalledWith(ID_A, new Date(NOW - config.crashLoop.windowMs));
    });

    it('does not count deaths from before the monitor was restarted', async () => {
      const restartedAt = new Date(NOW - 60_000);
      world([monitor({ restartedAt })], [worker({ state: 'restarting', restarts: 1 })]);

      await sut.reconcile();

      expect(exits.countDeaths).toHaveBeenCalledWith(ID_A, restartedAt);
    });

    it('counts over the window when the restart is older than the window', async () => {
      const restartedAt = new Date(NOW - config.crashLoop.windowMs - 60_000);
      world([monitor({ restartedAt })], [worker({ state: 'restarting', restarts: 1 })]);

      await sut.reconcile();

      expect(exits.countDeaths).toHaveBeenCalledWith(ID_A, new Date(NOW - config.crashLoop.windowMs));
    });

    it('never records deaths itself during a pass (only events do)', async () => {
      world([monitor()], [worker({ state: 'exited', exitCode: 1 })]);
      runtime.lastExit.mockResolvedValue(exit());
      await sut.reconcile();
      expect(exits.record).not.toHaveBeenCalled();
    });
  });

  describe('worker events', () => {
    let listener: (event: WorkerEvent) => void;
    let unwatch: jest.Mock;

    beforeEach(() => {
      jest.useFakeTimers({ now: NOW });
      locked = false; // passes are cheap and touch nothing; the tests count them
      unwatch = jest.fn();
      runtime.watch.mockImplementation((l) => {
        listener = l;
        return unwatch;
      });
      sut.onApplicationBootstrap();
    });

    afterEach(async () => {
      await sut.beforeApplicationShutdown();
    });

    /** Lets the promise chains started by an event run, without moving the clock. */
    const drain = () => jest.advanceTimersByTimeAsync(0);

    it('watches the runtime and reconciles once at bootstrap', async () => {
      await drain();
      expect(runtime.watch).toHaveBeenCalledTimes(1);
      expect(db.createQueryRunner).toHaveBeenCalledTimes(1);
    });

    it('reconciles on the configured period', async () => {
      await drain();
      await jest.advanceTimersByTimeAsync(config.reconcileIntervalMs);
      expect(db.createQueryRunner).toHaveBeenCalledTimes(2);
    });

    it('records an exit event once, taking the log tail from lastExit when the event has none', async () => {
      const fromEvent = exit({ key: 'die-42', exitCode: 1, logTail: '' });
      runtime.lastExit.mockResolvedValue(exit({ key: 'older', logTail: 'Error: boom\n  at tick' }));

      listener({ kind: 'exit', monitorId: ID_A, exit: fromEvent });
      await drain();

      expect(runtime.lastExit).toHaveBeenCalledWith(ID_A);
      expect(exits.record).toHaveBeenCalledTimes(1);
      expect(exits.record).toHaveBeenCalledWith({ ...fromEvent, logTail: 'Error: boom\n  at tick' });
    });

    it("keeps the event's own log tail when it has one", async () => {
      const fromEvent = exit({ key: 'die-43', logTail: 'from the event' });
      runtime.lastExit.mockResolvedValue(exit({ logTail: 'from inspect' }));

      listener({ kind: 'exit', monitorId: ID_A, exit: fromEvent });
      await drain();

      expect(exits.record).toHaveBeenCalledTimes(1);
      expect(exits.record).toHaveBeenCalledWith(fromEvent);
    });

    it('records an event-tail-less exit with an empty tail when lastExit fails', async () => {
      runtime.lastExit.mockRejectedValue(new Error('engine down'));
      const fromEvent = exit({ key: 'die-44', logTail: '' });

      listener({ kind: 'exit', monitorId: ID_A, exit: fromEvent });
      await drain();

      expect(exits.record).toHaveBeenCalledWith({ ...fromEvent, logTail: '' });
    });

    it('records the runtime’s last exit for an exit event that carries none, and nothing when there is none', async () => {
      const latest = exit({ key: 'inspect-1', logTail: 'tail' });
      runtime.lastExit.mockResolvedValueOnce(latest).mockResolvedValueOnce(null);

      listener({ kind: 'exit', monitorId: ID_A });
      await drain();
      listener({ kind: 'exit', monitorId: ID_B });
      await drain();

      expect(exits.record).toHaveBeenCalledTimes(1);
      expect(exits.record).toHaveBeenCalledWith(latest);
    });

    it('does not record anything for start or removal events', async () => {
      listener({ kind: 'started', monitorId: ID_A });
      listener({ kind: 'removed', monitorId: ID_A });
      await drain();
      expect(exits.record).not.toHaveBeenCalled();
      expect(runtime.lastExit).not.toHaveBeenCalled();
    });

    it('fails an active monitor at once when its worker exits with code 3 (pair unknown)', async () => {
      monitors.findById.mockResolvedValue(monitor({ pair: 'FOO-BAR', status: 'running' }));
      runtime.lastExit.mockResolvedValue(null);

      listener({
        kind: 'exit',
        monitorId: ID_A,
        exit: exit({ exitCode: WORKER_EXIT.unknownPair, logTail: 'FOO-BAR is not listed' }),
      });
      await drain();

      expect(exits.record).toHaveBeenCalledTimes(1);
      expect(runtime.stop).toHaveBeenCalledWith(ID_A);
      expect(monitors.updateIfActive).toHaveBeenCalledWith(ID_A, {
        status: 'failed',
        reason: expect.stringContaining('pair FOO-BAR is unknown at the ticker (worker exit code 3)'),
      });
      expect(monitors.updateIfActive.mock.calls[0][1].reason).toContain('FOO-BAR is not listed');
      expect(runtime.start).not.toHaveBeenCalled();
    });

    it.each(['stopped', 'failed'] as const)(
      'leaves a %s monitor alone when its worker exits with code 3',
      async (status) => {
        monitors.findById.mockResolvedValue(monitor({ status }));

        listener({ kind: 'exit', monitorId: ID_A, exit: exit({ exitCode: WORKER_EXIT.unknownPair }) });
        await drain();

        expect(exits.record).toHaveBeenCalledTimes(1);
        expect(runtime.stop).not.toHaveBeenCalled();
        expect(monitors.updateIfActive).not.toHaveBeenCalled();
      },
    );

    it('does not fail a monitor whose worker exits with another code', async () => {
      monitors.findById.mockResolvedValue(monitor({ status: 'running' }));

      listener({ kind: 'exit', monitorId: ID_A, exit: exit({ exitCode: 1 }) });
      await drain();

      expect(exits.record).toHaveBeenCalledTimes(1);
      expect(monitors.updateIfActive).not.toHaveBeenCalled();
      expect(runtime.stop).not.toHaveBeenCalled();
    });

    it('survives a failure to record an exit', async () => {
      exits.record.mockRejectedValue(new Error('db down'));
      listener({ kind: 'exit', monitorId: ID_A, exit: exit() });
      await drain();
      expect(warn).toHaveBeenCalledWith(expect.stringContaining('db down'));
    });

    it.each<WorkerEvent['kind']>(['exit', 'started', 'removed'])(
      'schedules one reconcile 250 ms after a %s event',
      async (kind) => {
        await drain();
        const before = db.createQueryRunner.mock.calls.length;

        listener({ kind, monitorId: ID_A });
        await jest.advanceTimersByTimeAsync(249);
        expect(db.createQueryRunner).toHaveBeenCalledTimes(before);
        await jest.advanceTimersByTimeAsync(1);
        expect(db.createQueryRunner).toHaveBeenCalledTimes(before + 1);
      },
    );

    it('reconciles once after a burst of events', async () => {
      await drain();
      const before = db.createQueryRunner.mock.calls.length;

      listener({ kind: 'exit', monitorId: ID_A });
      await jest.advanceTimersByTimeAsync(100);
      listener({ kind: 'started', monitorId: ID_A });
      await jest.advanceTimersByTimeAsync(100);
      listener({ kind: 'exit', monitorId: ID_B });
      await jest.advanceTimersByTimeAsync(249);
      expect(db.createQueryRunner).toHaveBeenCalledTimes(before);
      await jest.advanceTimersByTimeAsync(1000);
      expect(db.createQueryRunner).toHaveBeenCalledTimes(before + 1);
    });

    it('on shutdown stops watching, cancels the period and a pending debounce, and stops no worker', async () => {
      await drain();
      locked = true;
      world([monitor()], [worker(), worker({ monitorId: ID_B })]); // an orphan a pass would remove
      const before = db.createQueryRunner.mock.calls.length;
      listener({ kind: 'started', monitorId: ID_A }); // a debounce now pending

      await sut.beforeApplicationShutdown();

      expect(unwatch).toHaveBeenCalledTimes(1);
      await jest.advanceTimersByTimeAsync(config.reconcileIntervalMs * 3);
      expect(db.createQueryRunner).toHaveBeenCalledTimes(before);
      listener({ kind: 'exit', monitorId: ID_A }); // a late event from the runtime
      await jest.advanceTimersByTimeAsync(1000);
      expect(db.createQueryRunner).toHaveBeenCalledTimes(before);
      expect(runtime.stop).not.toHaveBeenCalled();
    });

    it('waits for a pass in flight on shutdown and runs no follow-up pass after it', async () => {
      await drain();
      locked = true;
      const list = deferred<WorkerInfo[]>();
      runtime.list.mockReturnValueOnce(list.promise);
      const pass = sut.reconcile();
      void sut.reconcile(); // asks for a follow-up
      await drain();
      const before = db.createQueryRunner.mock.calls.length;

      let done = false;
      const shutdown = sut.beforeApplicationShutdown().then(() => (done = true));
      await drain();
      expect(done).toBe(false);
      list.resolve([]);
      await pass;
      await shutdown;

      await jest.advanceTimersByTimeAsync(1000);
      expect(db.createQueryRunner).toHaveBeenCalledTimes(before);
      expect(runtime.stop).not.toHaveBeenCalled();
    });
  });
});
