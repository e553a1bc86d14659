import { RelayAddress } from '../config/relay-address';
import { Logger } from '@nestjs/common';
import { WORKER_EXIT } from '@pairwatch/contracts';
import { AppConfig, loadConfig } from '../config/app.config';
import { DatabaseLock, DatabaseRepository } from '../database/database.repository';
import type { MonitorEntity } from '../monitors/monitor.entity';
import { MonitorLifecycle } from '../monitors/monitor-lifecycle.service';
import { MonitorsRepository } from '../monitors/monitors.repository';
import { newMonitorLifecycleMock } from '../monitors/testing/monitor-lifecycle.mock';
import { newMonitorsRepositoryMock, PublicOf } from '../monitors/testing/monitors-repository.mock';
import { WorkerSpecFactory } from '../monitors/worker-spec.factory';
import { newWorkerRuntimeMock, splitByRole } from '../runtime/testing/worker-runtime.mock';
import {
  RELAY,
  WorkerEvent,
  WorkerExit,
  WorkerInfo,
  WorkerRuntime,
  workerOf,
} from '../runtime/worker-runtime';
import { RelaySpecFactory } from './relay-spec.factory';
import { RelayStatus } from './relay-status.service';
import { ReconcileExecutor } from './reconcile-executor.service';
import { WorkerExitsRepository } from './worker-exits.repository';
import {
  activeMonitor as monitor,
  CURRENT_HASH,
  deferred,
  ID_A,
  ID_B,
  NOW,
  sampleExit as exit,
  sampleWorker as worker,
} from './testing/reconcile.fixtures';
import { WorkerSupervisor } from './worker-supervisor.service';

// What to do in each situation is planReconcile()'s, table-tested in reconcile-planner.spec.ts; carrying a
// step out is ReconcileExecutor's. These tests are about the supervisor itself: the lock, gathering only
// the facts the plan looks at, passes and their scheduling, worker events, shutdown.

function newWorkerExitsRepositoryMock(): jest.Mocked<PublicOf<WorkerExitsRepository>> {
  return { record: jest.fn(), countDeaths: jest.fn() };
}

function newDatabaseRepositoryMock(): jest.Mocked<PublicOf<DatabaseRepository>> {
  return {
    ping: jest.fn(),
    withLock: jest.fn(),
    tryWithLock: jest.fn(),
    withKeyedLock: jest.fn(),
    tryWithKeyedLock: jest.fn(),
  };
}

/** Lets every pending promise chain run (real timers only). */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise<void>((r) => setImmediate(r));
}

describe(WorkerSupervisor.name, () => {
  let config: AppConfig;
  let locked: boolean;
  /** The monitors whose lock another session holds now. */
  let heldMonitors: Set<string>;
  let database: jest.Mocked<PublicOf<DatabaseRepository>>;
  let runtime: jest.Mocked<WorkerRuntime>;
  let byRole: ReturnType<typeof splitByRole>;
  let monitors: jest.Mocked<PublicOf<MonitorsRepository>>;
  let lifecycle: jest.Mocked<PublicOf<MonitorLifecycle>>;
  let exits: jest.Mocked<PublicOf<WorkerExitsRepository>>;
  let specs: WorkerSpecFactory;
  let warn: jest.SpyInstance;
  let sut: WorkerSupervisor;
  let relayStatus: RelayStatus;

  beforeEach(() => {
    jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
    warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    config = loadConfig({
      REDIS_URL: 'redis://api-side:6379',
      UPHOLD_API_URL: 'http://fake-ticker:8080/',
      UPHOLD_RELAY: 'off',
      DATABASE_URL: 'postgres://user:pw@db/pairwatch',
      CRASH_LOOP_MAX_DEATHS: '5',
      CRASH_LOOP_WINDOW_MS: '600000',
      RECONCILE_INTERVAL_MS: '15000',
    });
    locked = true;
    relayStatus = new RelayStatus();
    database = newDatabaseRepositoryMock();
    database.tryWithLock.mockImplementation(async (_lock, fn) =>
      locked ? { acquired: true, value: await fn() } : { acquired: false },
    );
    heldMonitors = new Set();
    database.withKeyedLock.mockImplementation((_lock, _key, fn) => fn());
    database.tryWithKeyedLock.mockImplementation(async (_lock, key, fn) =>
      heldMonitors.has(key) ? { acquired: false } : { acquired: true, value: await fn() },
    );
    runtime = newWorkerRuntimeMock();
    byRole = splitByRole(runtime);
    monitors = newMonitorsRepositoryMock();
    lifecycle = newMonitorLifecycleMock();
    exits = newWorkerExitsRepositoryMock();
    specs = new WorkerSpecFactory(config, new RelayAddress(config));

    // Happy-path defaults: nothing to do. Each test sets up the world it is about.
    monitors.listActive.mockResolvedValue([]);
    monitors.findById.mockResolvedValue(null);
    byRole.workers.list.mockResolvedValue([]);
    byRole.workers.find.mockResolvedValue(null);
    byRole.workers.start.mockImplementation((spec) =>
      Promise.resolve(
        worker({ monitorId: spec.monitor.monitorId, workerId: `new-${spec.monitor.monitorId}` }),
      ),
    );
    byRole.workers.stop.mockResolvedValue();
    byRole.workers.specHash.mockResolvedValue(CURRENT_HASH);
    byRole.workers.lastExit.mockResolvedValue(null);
    byRole.relays.list.mockResolvedValue([]);
    byRole.relays.stop.mockResolvedValue();
    exits.countDeaths.mockResolvedValue(0);
    exits.record.mockResolvedValue(true);

    sut = newSupervisor();
  });

  /** The supervisor over the mocks, for `config` as it is now. */
  function newSupervisor(): WorkerSupervisor {
    const relaySpecs = new RelaySpecFactory(config, new RelayAddress(config));
    return new WorkerSupervisor(
      config,
      database as unknown as DatabaseRepository,
      runtime,
      monitors as unknown as MonitorsRepository,
      exits as unknown as WorkerExitsRepository,
      specs,
      new ReconcileExecutor(
        runtime,
        lifecycle as unknown as MonitorLifecycle,
        specs,
        relaySpecs,
        relayStatus,
      ),
      relaySpecs,
      relayStatus,
    );
  }

  afterEach(async () => {
    await sut.beforeApplicationShutdown();
    jest.useRealTimers();
    jest.restoreAllMocks();
  });

  /**
   * The active monitors (findById answers them too) and what the runtime lists; find() answers what list()
   * does unless told otherwise.
   */
  function world(active: MonitorEntity[], workers: WorkerInfo[], others: MonitorEntity[] = []): void {
    monitors.listActive.mockResolvedValue(active);
    monitors.findById.mockImplementation((id) =>
      Promise.resolve([...active, ...others].find((m) => m.id === id) ?? null),
    );
    byRole.workers.list.mockResolvedValue(workers);
    byRole.workers.find.mockImplementation((id) =>
      Promise.resolve(workers.find((w) => w.monitorId === id) ?? null),
    );
  }

  /** How many passes were asked of the lock. */
  const passes = () => database.tryWithLock.mock.calls.length;

  describe('reconcile', () => {
    beforeEach(() => jest.spyOn(Date, 'now').mockReturnValue(NOW));

    it('is skipped, touching no worker and no monitor, when another replica holds the reconcile lock', async () => {
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
        stopped: [],
      });
      expect(database.tryWithLock).toHaveBeenCalledWith(DatabaseLock.Reconcile, expect.any(Function));
      expect(byRole.workers.list).not.toHaveBeenCalled();
      expect(monitors.listActive).not.toHaveBeenCalled();
      expect(byRole.workers.start).not.toHaveBeenCalled();
      expect(byRole.workers.stop).not.toHaveBeenCalled();
      expect(lifecycle.markRunning).not.toHaveBeenCalled();
    });

    it('gathers, plans and carries out under the lock: a missing worker is started and its monitor marked running', async () => {
      const m = monitor({ status: 'running', workerId: 'gone-worker' });
      world([m], [worker({ monitorId: ID_B })]);

      const report = await sut.reconcile();

      expect(byRole.workers.start).toHaveBeenCalledWith(specs.specFor(m));
      expect(lifecycle.markRunning).toHaveBeenCalledWith(m, `new-${ID_A}`);
      expect(byRole.workers.stop).toHaveBeenCalledWith(ID_B);
      expect(report).toEqual({
        skipped: false,
        started: [ID_A],
        adopted: [],
        replaced: [],
        removed: [ID_B],
        failed: [],
        stopped: [],
      });
      // Each step under its monitor's lock, never waiting for it.
      for (const id of [ID_A, ID_B]) {
        expect(database.tryWithKeyedLock).toHaveBeenCalledWith(
          DatabaseLock.Monitor,
          id,
          expect.any(Function),
        );
      }
      expect(database.withKeyedLock).not.toHaveBeenCalled();
    });

    it('judges a worker as the detailed list() shows it, with the spec hash of the stored monitor, and looks again only at the one it changes', async () => {
      const m = monitor();
      const healthy = monitor({ id: ID_B, pair: 'ETH-EUR', workerId: `worker-${ID_B}` });
      world(
        [m, healthy],
        [worker({ specHash: 'stale' }), worker({ monitorId: ID_B, workerId: `worker-${ID_B}` })],
      );

      const report = await sut.reconcile();

      // The replaced one is read again under its lock (a request may have changed it since the listing).
      expect(byRole.workers.find.mock.calls).toEqual([[ID_A]]);
      expect(byRole.workers.specHash).toHaveBeenCalledWith(specs.specFor(m));
      expect(report.replaced).toEqual([ID_A]);
    });

    it('writes nothing when the monitor already records its healthy worker, and looks for no crash loop', async () => {
      world([monitor()], [worker({ state: 'running', restarts: 0 })]);

      const report = await sut.reconcile();

      expect(exits.countDeaths).not.toHaveBeenCalled();
      expect(byRole.workers.lastExit).not.toHaveBeenCalled();
      expect(lifecycle.markRunning).not.toHaveBeenCalled();
      expect(byRole.workers.start).not.toHaveBeenCalled();
      expect(byRole.workers.stop).not.toHaveBeenCalled();
      expect(report).toMatchObject({ skipped: false, adopted: [], replaced: [] });
    });

    it('counts deaths from the start of the window, or of the restart when that is later', async () => {
      const restartedAt = new Date(NOW - 60_000);
      world(
        [monitor({ restartedAt }), monitor({ id: ID_B, pair: 'ETH-EUR' })],
        [
          worker({ state: 'restarting', restarts: 1 }),
          worker({ monitorId: ID_B, state: 'restarting', restarts: 1 }),
        ],
      );

      await sut.reconcile();

      expect(exits.countDeaths).toHaveBeenCalledWith(workerOf(ID_A), restartedAt);
      expect(exits.countDeaths).toHaveBeenCalledWith(
        workerOf(ID_B),
        new Date(NOW - config.crashLoop.windowMs),
      );
    });

    it('fails a crash-looping monitor (marked failed, then its worker stopped), never starting it again', async () => {
      const m = monitor();
      world([m], [worker({ state: 'restarting', exitCode: 1, restarts: 2 })]);
      exits.countDeaths.mockResolvedValue(6);
      byRole.workers.lastExit.mockResolvedValue(
        exit({ exitCode: 2, logTail: 'invalid config: PAIR\nexiting' }),
      );

      const report = await sut.reconcile();

      expect(lifecycle.fail).toHaveBeenCalledWith(m, expect.stringContaining('died 6 times'));
      expect(lifecycle.fail.mock.calls[0][1]).toContain('invalid config: PAIR\nexiting');
      expect(lifecycle.fail.mock.invocationCallOrder[0]).toBeLessThan(
        byRole.workers.stop.mock.invocationCallOrder[0],
      );
      expect(byRole.workers.start).not.toHaveBeenCalled();
      expect(report).toMatchObject({ failed: [ID_A], replaced: [], started: [] });
    });

    it('never records deaths itself during a pass (only events do)', async () => {
      world([monitor()], [worker({ state: 'exited', exitCode: 1 })]);
      byRole.workers.lastExit.mockResolvedValue(exit());
      await sut.reconcile();
      expect(exits.record).not.toHaveBeenCalled();
    });

    it('leaves a monitor alone when its lock is held (a request converges it now), and goes on with the others', async () => {
      const busy = monitor({ status: 'starting', workerId: null });
      const other = monitor({ id: ID_B, pair: 'ETH-EUR', workerId: null });
      world([busy, other], []);
      heldMonitors.add(ID_A);

      const report = await sut.reconcile();

      expect(byRole.workers.start).toHaveBeenCalledTimes(1);
      expect(byRole.workers.start).toHaveBeenCalledWith(specs.specFor(other));
      expect(report).toMatchObject({ skipped: false, started: [ID_B] });
    });

    it('starts nothing when the monitor changed between the listing and its lock (a DELETE landed)', async () => {
      const listed = monitor({ status: 'starting', workerId: null });
      world([listed], []);
      monitors.findById.mockResolvedValue({ ...listed, status: 'stopped' });

      const report = await sut.reconcile();

      expect(byRole.workers.start).not.toHaveBeenCalled();
      expect(report).toMatchObject({ skipped: false, started: [] });
    });

    it('leaves alone, worker included, a monitor whose facts cannot be read, and goes on with the others', async () => {
      const a = monitor({ id: ID_A });
      const b = monitor({ id: ID_B, pair: 'ETH-EUR', workerId: null });
      world([a, b], [worker({ monitorId: ID_A, specHash: 'stale' })]);
      byRole.workers.specHash.mockRejectedValue(new Error('engine timeout'));

      const report = await sut.reconcile();

      expect(warn).toHaveBeenCalledWith(expect.stringContaining(`monitor ${ID_A} (BTC-USD): engine timeout`));
      expect(byRole.workers.stop).not.toHaveBeenCalled();
      expect(report).toMatchObject({ skipped: false, started: [ID_B], replaced: [], removed: [] });
    });

    it('never throws when the runtime cannot list its workers', async () => {
      monitors.listActive.mockResolvedValue([monitor()]);
      byRole.workers.list.mockRejectedValue(new Error('connect ECONNREFUSED /var/run/docker.sock'));

      const report = await sut.reconcile();

      expect(report).toMatchObject({ skipped: true, started: [], removed: [] });
      expect(byRole.workers.start).not.toHaveBeenCalled();
      expect(byRole.workers.stop).not.toHaveBeenCalled();
      expect(warn).toHaveBeenCalledWith(expect.stringContaining('ECONNREFUSED'));
    });

    it('runs one pass at a time: calls during a pass share one more pass after it, and no more', async () => {
      const firstList = deferred<WorkerInfo[]>();
      byRole.workers.list.mockReturnValueOnce(firstList.promise).mockResolvedValue([]);

      const first = sut.reconcile();
      await settle();
      expect(passes()).toBe(1);
      const second = sut.reconcile();
      const third = sut.reconcile();
      await settle();
      expect(passes()).toBe(1); // the follow-up waits for the pass in flight
      firstList.resolve([]);
      await Promise.all([first, second, third]);

      expect(passes()).toBe(2);
      expect(byRole.workers.list).toHaveBeenCalledTimes(2);
      await settle();
      expect(passes()).toBe(2); // and no more
    });

    it('answers the report of a failed pass as skipped, logs it, and runs the next one', async () => {
      database.tryWithLock.mockRejectedValueOnce(new Error('connection terminated'));
      await expect(sut.reconcile()).resolves.toMatchObject({ skipped: true });
      expect(warn).toHaveBeenCalledWith('reconcile failed: connection terminated');
      await expect(sut.reconcile()).resolves.toMatchObject({ skipped: false });
    });

    it('converges no further monitor once shutdown has begun during a pass', async () => {
      world([monitor({ id: ID_A }), monitor({ id: ID_B, pair: 'ETH-EUR' })], []);
      const firstStart = deferred<WorkerInfo>();
      byRole.workers.start.mockReturnValueOnce(firstStart.promise);

      const pass = sut.reconcile();
      await settle();
      expect(byRole.workers.start).toHaveBeenCalledTimes(1);
      const shutdown = sut.beforeApplicationShutdown();
      firstStart.resolve(worker({ monitorId: ID_A }));
      const report = await pass;
      await shutdown;

      expect(byRole.workers.start).toHaveBeenCalledTimes(1);
      expect(report.started).toEqual([ID_A]);
    });

    it('runs no extra pass when calls did not overlap', async () => {
      await sut.reconcile();
      await settle();
      expect(passes()).toBe(1);
    });
  });

  describe('converge (the one start path)', () => {
    beforeEach(() => jest.spyOn(Date, 'now').mockReturnValue(NOW));

    it("waits for the monitor's lock, starts its missing worker, marks it running and answers both", async () => {
      const m = monitor({ status: 'starting', workerId: null });
      world([m], []);

      const converged = await sut.converge(ID_A);

      expect(database.withKeyedLock).toHaveBeenCalledWith(DatabaseLock.Monitor, ID_A, expect.any(Function));
      expect(byRole.workers.start).toHaveBeenCalledTimes(1);
      expect(lifecycle.markRunning).toHaveBeenCalledWith(m, `new-${ID_A}`);
      expect(converged).toEqual({ monitor: m, worker: expect.objectContaining({ workerId: `new-${ID_A}` }) });
    });

    it('is idempotent: a monitor whose healthy worker it records is left as it is', async () => {
      world([monitor()], [worker()]);

      const converged = await sut.converge(ID_A);

      expect(byRole.workers.start).not.toHaveBeenCalled();
      expect(byRole.workers.stop).not.toHaveBeenCalled();
      expect(lifecycle.markRunning).not.toHaveBeenCalled();
      expect(converged.worker).toMatchObject({ monitorId: ID_A });
    });

    it('adopts the worker another replica started meanwhile instead of starting a second one', async () => {
      const m = monitor({ status: 'starting', workerId: null });
      world([m], [worker({ workerId: 'started-by-the-other-replica' })]);

      await sut.converge(ID_A);

      expect(byRole.workers.start).not.toHaveBeenCalled();
      expect(lifecycle.markRunning).toHaveBeenCalledWith(m, 'started-by-the-other-replica');
    });

    it.each(['stopped', 'failed'] as const)('removes the worker of a %s monitor', async (status) => {
      world([], [worker()], [monitor({ status })]);

      const converged = await sut.converge(ID_A);

      expect(byRole.workers.stop).toHaveBeenCalledWith(ID_A);
      expect(byRole.workers.start).not.toHaveBeenCalled();
      expect(converged).toMatchObject({ monitor: { status }, worker: null });
    });

    it('rejects with the runtime error, and a new monitor whose first start failed goes (nothing left behind)', async () => {
      jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
      const m = monitor({ status: 'starting', workerId: null, restartedAt: null });
      world([m], []);
      const refused = new Error('engine refused the create');
      byRole.workers.start.mockRejectedValue(refused);

      await expect(sut.converge(ID_A)).rejects.toBe(refused);

      expect(lifecycle.discard).toHaveBeenCalledWith(m);
      expect(lifecycle.markRunning).not.toHaveBeenCalled();
    });

    it('keeps a restarted monitor starting when its start failed: the next pass tries again', async () => {
      jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
      world([monitor({ status: 'starting', workerId: 'old', restartedAt: new Date(NOW - 1000) })], []);
      byRole.workers.start.mockRejectedValue(new Error('engine refused the create'));

      await expect(sut.converge(ID_A)).rejects.toThrow('engine refused the create');

      expect(lifecycle.discard).not.toHaveBeenCalled();
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
      expect(database.tryWithLock).toHaveBeenCalledTimes(1);
    });

    it('reconciles on the configured period', async () => {
      await drain();
      await jest.advanceTimersByTimeAsync(config.reconcileIntervalMs);
      expect(database.tryWithLock).toHaveBeenCalledTimes(2);
    });

    it("records the relay's exit event in worker_exits, by its role", async () => {
      const fromEvent = exit({ workload: RELAY, key: 'relay-die-1', exitCode: 70, logTail: 'boom' });
      byRole.relays.lastExit.mockResolvedValue(null);
      listener({ kind: 'exit', workload: RELAY, exit: fromEvent });
      await drain();
      expect(exits.record).toHaveBeenCalledWith(fromEvent);
      expect(byRole.relays.lastExit).toHaveBeenCalled();
    });

    it('records an exit event once, taking the log tail from lastExit when the event has none', async () => {
      const fromEvent = exit({ key: 'die-42', exitCode: 1, logTail: '' });
      byRole.workers.lastExit.mockResolvedValue(exit({ key: 'older', logTail: 'Error: boom\n  at tick' }));

      listener({ kind: 'exit', workload: workerOf(ID_A), exit: fromEvent });
      await drain();

      expect(byRole.workers.lastExit).toHaveBeenCalledWith(ID_A);
      expect(exits.record).toHaveBeenCalledTimes(1);
      expect(exits.record).toHaveBeenCalledWith({ ...fromEvent, logTail: 'Error: boom\n  at tick' });
    });

    it("keeps the event's own log tail when it has one", async () => {
      const fromEvent = exit({ key: 'die-43', logTail: 'from the event' });
      byRole.workers.lastExit.mockResolvedValue(exit({ logTail: 'from inspect' }));

      listener({ kind: 'exit', workload: workerOf(ID_A), exit: fromEvent });
      await drain();

      expect(exits.record).toHaveBeenCalledTimes(1);
      expect(exits.record).toHaveBeenCalledWith(fromEvent);
    });

    it('records an event-tail-less exit with an empty tail when lastExit fails', async () => {
      byRole.workers.lastExit.mockRejectedValue(new Error('engine down'));
      const fromEvent = exit({ key: 'die-44', logTail: '' });

      listener({ kind: 'exit', workload: workerOf(ID_A), exit: fromEvent });
      await drain();

      expect(exits.record).toHaveBeenCalledWith({ ...fromEvent, logTail: '' });
    });

    it('records the runtime’s last exit for an exit event that carries none, and nothing when there is none', async () => {
      const latest = exit({ key: 'inspect-1', logTail: 'tail' });
      byRole.workers.lastExit.mockResolvedValueOnce(latest).mockResolvedValueOnce(null);

      listener({ kind: 'exit', workload: workerOf(ID_A) });
      await drain();
      listener({ kind: 'exit', workload: workerOf(ID_B) });
      await drain();

      expect(exits.record).toHaveBeenCalledTimes(1);
      expect(exits.record).toHaveBeenCalledWith(latest);
    });

    it('does not record anything for start or removal events', async () => {
      listener({ kind: 'started', workload: workerOf(ID_A) });
      listener({ kind: 'removed', workload: workerOf(ID_A) });
      await drain();
      expect(exits.record).not.toHaveBeenCalled();
      expect(byRole.workers.lastExit).not.toHaveBeenCalled();
    });

    it('fails an active monitor at once when its worker exits with code 3 (pair unknown)', async () => {
      monitors.findById.mockResolvedValue(monitor({ pair: 'FOO-BAR', status: 'running' }));
      byRole.workers.lastExit.mockResolvedValue(null);

      listener({
        kind: 'exit',
        workload: workerOf(ID_A),
        exit: exit({ exitCode: WORKER_EXIT.unknownPair, logTail: 'FOO-BAR is not listed' }),
      });
      await drain();

      expect(exits.record).toHaveBeenCalledTimes(1);
      expect(lifecycle.fail).toHaveBeenCalledWith(
        expect.objectContaining({ id: ID_A }),
        expect.stringContaining('pair FOO-BAR is unknown at the ticker (worker exit code 3)'),
      );
      expect(lifecycle.fail.mock.calls[0][1]).toContain('FOO-BAR is not listed');
      expect(byRole.workers.stop).toHaveBeenCalledWith(ID_A);
      expect(lifecycle.fail.mock.invocationCallOrder[0]).toBeLessThan(
        byRole.workers.stop.mock.invocationCallOrder[0],
      );
      expect(byRole.workers.start).not.toHaveBeenCalled();
    });

    it.each(['stopped', 'failed'] as const)(
      'leaves a %s monitor alone when its worker exits with code 3',
      async (status) => {
        monitors.findById.mockResolvedValue(monitor({ status }));

        listener({
          kind: 'exit',
          workload: workerOf(ID_A),
          exit: exit({ exitCode: WORKER_EXIT.unknownPair }),
        });
        await drain();

        expect(exits.record).toHaveBeenCalledTimes(1);
        expect(byRole.workers.stop).not.toHaveBeenCalled();
        expect(lifecycle.fail).not.toHaveBeenCalled();
      },
    );

    it('does not fail a monitor whose worker exits with another code', async () => {
      monitors.findById.mockResolvedValue(monitor({ status: 'running' }));

      listener({ kind: 'exit', workload: workerOf(ID_A), exit: exit({ exitCode: 1 }) });
      await drain();

      expect(exits.record).toHaveBeenCalledTimes(1);
      expect(lifecycle.fail).not.toHaveBeenCalled();
      expect(byRole.workers.stop).not.toHaveBeenCalled();
    });

    it('survives a failure to record an exit', async () => {
      exits.record.mockRejectedValue(new Error('db down'));
      listener({ kind: 'exit', workload: workerOf(ID_A), exit: exit() });
      await drain();
      expect(warn).toHaveBeenCalledWith(expect.stringContaining('db down'));
    });

    it.each<WorkerEvent['kind']>(['exit', 'started', 'removed'])(
      'schedules one reconcile 250 ms after a %s event',
      async (kind) => {
        await drain();
        const before = passes();

        listener({ kind, workload: workerOf(ID_A) });
        await jest.advanceTimersByTimeAsync(249);
        expect(database.tryWithLock).toHaveBeenCalledTimes(before);
        await jest.advanceTimersByTimeAsync(1);
        expect(database.tryWithLock).toHaveBeenCalledTimes(before + 1);
      },
    );

    it('reconciles once after a burst of events', async () => {
      await drain();
      const before = passes();

      listener({ kind: 'exit', workload: workerOf(ID_A) });
      await jest.advanceTimersByTimeAsync(100);
      listener({ kind: 'started', workload: workerOf(ID_A) });
      await jest.advanceTimersByTimeAsync(100);
      listener({ kind: 'exit', workload: workerOf(ID_B) });
      await jest.advanceTimersByTimeAsync(249);
      expect(database.tryWithLock).toHaveBeenCalledTimes(before);
      await jest.advanceTimersByTimeAsync(1000);
      expect(database.tryWithLock).toHaveBeenCalledTimes(before + 1);
    });

    it('on shutdown stops watching, cancels the period and a pending debounce, and stops no worker', async () => {
      await drain();
      locked = true;
      world([monitor()], [worker(), worker({ monitorId: ID_B })]); // an orphan a pass would remove
      const before = passes();
      listener({ kind: 'started', workload: workerOf(ID_A) }); // a debounce now pending

      await sut.beforeApplicationShutdown();

      expect(unwatch).toHaveBeenCalledTimes(1);
      await jest.advanceTimersByTimeAsync(config.reconcileIntervalMs * 3);
      expect(database.tryWithLock).toHaveBeenCalledTimes(before);
      listener({ kind: 'exit', workload: workerOf(ID_A) }); // a late event from the runtime
      await jest.advanceTimersByTimeAsync(1000);
      expect(database.tryWithLock).toHaveBeenCalledTimes(before);
      expect(byRole.workers.stop).not.toHaveBeenCalled();
    });

    it('waits for a pass in flight on shutdown and runs no follow-up pass after it', async () => {
      await drain();
      locked = true;
      const list = deferred<WorkerInfo[]>();
      byRole.workers.list.mockReturnValueOnce(list.promise);
      const pass = sut.reconcile();
      void sut.reconcile(); // asks for a follow-up
      await drain();
      const before = passes();

      let done = false;
      const shutdown = sut.beforeApplicationShutdown().then(() => (done = true));
      await drain();
      expect(done).toBe(false);
      list.resolve([]);
      await pass;
      await shutdown;

      await jest.advanceTimersByTimeAsync(1000);
      expect(database.tryWithLock).toHaveBeenCalledTimes(before);
      expect(byRole.workers.stop).not.toHaveBeenCalled();
    });
  });

  describe('the relay (UPHOLD_RELAY=on)', () => {
    const relayInfo = (values: Partial<WorkerInfo> = {}): WorkerInfo =>
      worker({
        role: 'relay',
        workerId: 'relay-1',
        monitorId: '',
        pair: '',
        name: 'pairwatch-relay-default',
        ...values,
      });

    beforeEach(() => {
      jest.spyOn(Date, 'now').mockReturnValue(NOW);
      jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
      config = { ...config, upholdRelay: true, workerNetwork: 'host' };
      byRole.relays.start.mockResolvedValue(relayInfo({ workerId: 'relay-new' }));
      byRole.relays.specHash.mockResolvedValue(CURRENT_HASH);
      byRole.relays.lastExit.mockResolvedValue(null);
      lifecycle.markRunning.mockResolvedValue(true);
      sut = newSupervisor();
    });

    it('starts a missing relay before the missing workers', async () => {
      world([monitor({ status: 'running', workerId: 'gone' })], []);
      const report = await sut.reconcile();
      expect(report.relay).toEqual(['start']);
      expect(byRole.relays.start.mock.invocationCallOrder[0]).toBeLessThan(
        byRole.workers.start.mock.invocationCallOrder[0],
      );
      expect(relayStatus.current.workerId).toBe('relay-new');
    });

    it('adopts a healthy relay after an API restart, then leaves it alone', async () => {
      world([], []);
      byRole.relays.list.mockResolvedValue([relayInfo()]);
      expect((await sut.reconcile()).relay).toEqual(['adopt']);
      expect((await sut.reconcile()).relay).toBeUndefined();
      expect(byRole.relays.start).not.toHaveBeenCalled();
      expect(byRole.relays.specHash).toHaveBeenCalled();
    });

    it('replaces a relay whose spec hash differs', async () => {
      world([], []);
      byRole.relays.list.mockResolvedValue([relayInfo({ specHash: 'before' })]);
      expect((await sut.reconcile()).relay).toEqual(['replace']);
      expect(byRole.relays.stop).toHaveBeenCalledWith('relay-1');
    });

    it('counts each death of the relay once (worker_exits, by role) and reports a crash loop instead of restarting it again', async () => {
      world([], []);
      // worker_exits as the repository keeps it: one row per key, whichever replica records it.
      const recorded = new Map<string, WorkerExit>();
      exits.countDeaths.mockImplementation((workload, since) =>
        Promise.resolve(
          [...recorded.values()].filter(
            (e) => e.workload.role === workload.role && e.exitCode !== 0 && e.exitedAt >= since,
          ).length,
        ),
      );
      const deaths = config.crashLoop.maxDeaths + 1;
      let reports: Array<string[] | undefined> = [];
      for (let i = 0; i < deaths; i += 1) {
        byRole.relays.list.mockResolvedValue([
          relayInfo({ workerId: `relay-${i}`, state: 'exited', exitCode: 1 }),
        ]);
        const death = exit({ workload: RELAY, key: `death-${i}`, exitCode: 1 });
        byRole.relays.lastExit.mockResolvedValue(death);
        // The same death recorded twice (two replicas saw it) counts once.
        recorded.set(death.key, death);
        recorded.set(death.key, { ...death });
        await sut.reconcile();
        reports = [...reports, (await sut.reconcile()).relay];
      }
      expect(reports.at(-1)).toEqual(['fail']);
      expect(relayStatus.current.failure).toMatch(/relay crash loop: died 6 times/);
      // Replaced on both passes of each of the first five deaths; never after the sixth.
      expect(byRole.relays.start).toHaveBeenCalledTimes(2 * config.crashLoop.maxDeaths);
    });

    it('removes every relay when UPHOLD_RELAY=off', async () => {
      config.upholdRelay = false;
      world([], []);
      byRole.relays.list.mockResolvedValue([relayInfo()]);
      expect((await sut.reconcile()).relay).toEqual(['remove']);
      expect(byRole.relays.stop).toHaveBeenCalledWith('relay-1');
      expect(byRole.relays.specHash).not.toHaveBeenCalled();
    });

    it('leaves the relay alone, and says why in its status, when the runtime cannot list it', async () => {
      world([], []);
      byRole.relays.list.mockRejectedValue(new Error('engine down'));
      const report = await sut.reconcile();
      // Reported through the plan (the executor is the one writer of the relay's status), nothing done to it.
      expect(report.relay).toEqual(['fail']);
      expect(byRole.relays.start).not.toHaveBeenCalled();
      expect(byRole.relays.stop).not.toHaveBeenCalled();
      expect(relayStatus.current.failure).toMatch(/engine down/);
    });
  });
});
