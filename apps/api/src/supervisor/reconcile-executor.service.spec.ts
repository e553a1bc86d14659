import { RelayAddress } from '../config/relay-address';
import { Logger } from '@nestjs/common';
import { loadConfig } from '../config/app.config';
import type { MonitorEntity } from '../monitors/monitor.entity';
import { MonitorLifecycle } from '../monitors/monitor-lifecycle.service';
import { newMonitorLifecycleMock } from '../monitors/testing/monitor-lifecycle.mock';
import { PublicOf } from '../monitors/testing/monitors-repository.mock';
import { WorkerSpecFactory } from '../monitors/worker-spec.factory';
import { newWorkerRuntimeMock, splitByRole } from '../runtime/testing/worker-runtime.mock';
import { WorkerInfo, WorkerRuntime } from '../runtime/worker-runtime';
import { ReconcileExecutor } from './reconcile-executor.service';
import { RelaySpecFactory } from './relay-spec.factory';
import { RelayStatus } from './relay-status.service';
import { MonitorTarget, OrphanTarget, ReconcileStep, RelayTarget } from './reconcile-planner';
import {
  activeMonitor,
  Deferred,
  deferred,
  ID_A as A,
  ID_B as B,
  ID_C as C,
} from './testing/reconcile.fixtures';

const monitor = (id = A, pair = 'BTC-USD'): MonitorEntity => activeMonitor({ id, pair });

const of = (m: MonitorEntity): MonitorTarget => ({ kind: 'monitor', monitor: m });
const orphan = (monitorId: string): OrphanTarget => ({
  kind: 'orphan',
  monitorId,
  workerId: `w-${monitorId}`,
});

describe(ReconcileExecutor.name, () => {
  let runtime: jest.Mocked<WorkerRuntime>;
  let byRole: ReturnType<typeof splitByRole>;
  let lifecycle: jest.Mocked<PublicOf<MonitorLifecycle>>;
  let specs: WorkerSpecFactory;
  let warn: jest.SpyInstance;
  let sut: ReconcileExecutor;
  let relayStatus: RelayStatus;

  beforeEach(() => {
    jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
    warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const config = loadConfig({
      REDIS_URL: 'redis://api-side:6379',
      UPHOLD_API_URL: 'http://fake-ticker:8080/',
      UPHOLD_RELAY: 'off',
      DATABASE_URL: 'postgres://user:pw@db/pairwatch',
    });
    runtime = newWorkerRuntimeMock();
    byRole = splitByRole(runtime);
    lifecycle = newMonitorLifecycleMock();
    specs = new WorkerSpecFactory(config, new RelayAddress(config));
    byRole.workers.start.mockImplementation((spec) =>
      Promise.resolve({
        workerId: `new-${spec.monitor.monitorId}`,
        monitorId: spec.monitor.monitorId,
      } as WorkerInfo),
    );
    byRole.workers.stop.mockResolvedValue();
    relayStatus = new RelayStatus();
    sut = new ReconcileExecutor(
      runtime,
      lifecycle as unknown as MonitorLifecycle,
      specs,
      new RelaySpecFactory(config, new RelayAddress(config)),
      relayStatus,
    );
  });

  afterEach(() => jest.restoreAllMocks());

  it('start: starts the worker from the stored monitor and marks the monitor running with it', async () => {
    const m = monitor();

    const report = await sut.execute([{ action: 'start', target: of(m) }]);

    expect(byRole.workers.start).toHaveBeenCalledWith(specs.specFor(m));
    expect(lifecycle.markRunning).toHaveBeenCalledWith(m, `new-${A}`);
    expect(byRole.workers.stop).not.toHaveBeenCalled();
    expect(report).toEqual({
      skipped: false,
      started: [A],
      adopted: [],
      replaced: [],
      removed: [],
      failed: [],
      stopped: [],
    });
  });

  it.each(['start', 'replace'] as const)(
    '%s: removes the worker it started, reporting nothing, when a DELETE or a failure got there first',
    async (action) => {
      lifecycle.markRunning.mockResolvedValue(false);
      const step: ReconcileStep =
        action === 'start'
          ? { action, target: of(monitor()) }
          : { action, target: of(monitor()), why: 'stale' };

      const report = await sut.execute([step]);

      expect(byRole.workers.stop).toHaveBeenLastCalledWith(A);
      expect(byRole.workers.stop.mock.invocationCallOrder.at(-1)).toBeGreaterThan(
        lifecycle.markRunning.mock.invocationCallOrder[0],
      );
      expect(report).toMatchObject({ started: [], replaced: [] });
    },
  );

  it('adopt: marks the monitor running with the worker found, touching no worker', async () => {
    const m = monitor();

    const report = await sut.execute([{ action: 'adopt', target: of(m), workerId: 'survivor' }]);

    expect(lifecycle.markRunning).toHaveBeenCalledWith(m, 'survivor');
    expect(byRole.workers.start).not.toHaveBeenCalled();
    expect(byRole.workers.stop).not.toHaveBeenCalled();
    expect(report.adopted).toEqual([A]);
  });

  it('replace: stops, then starts, then marks the monitor running with the new worker', async () => {
    const m = monitor();

    const report = await sut.execute([{ action: 'replace', target: of(m), why: 'worker exited' }]);

    expect(byRole.workers.stop).toHaveBeenCalledWith(A);
    expect(byRole.workers.start).toHaveBeenCalledWith(specs.specFor(m));
    expect(byRole.workers.stop.mock.invocationCallOrder[0]).toBeLessThan(
      byRole.workers.start.mock.invocationCallOrder[0],
    );
    expect(lifecycle.markRunning).toHaveBeenCalledWith(m, `new-${A}`);
    expect(lifecycle.fail).not.toHaveBeenCalled();
    expect(report.replaced).toEqual([A]);
  });

  it('fail: marks the monitor failed first, so no pass restarts it, then stops its worker', async () => {
    const m = monitor();

    const report = await sut.execute([{ action: 'fail', target: of(m), reason: 'worker crash loop' }]);

    expect(lifecycle.fail).toHaveBeenCalledWith(m, 'worker crash loop');
    expect(byRole.workers.stop).toHaveBeenCalledWith(A);
    expect(lifecycle.fail.mock.invocationCallOrder[0]).toBeLessThan(
      byRole.workers.stop.mock.invocationCallOrder[0],
    );
    expect(byRole.workers.start).not.toHaveBeenCalled();
    expect(report.failed).toEqual([A]);
    expect(warn).toHaveBeenCalledWith(expect.objectContaining({ monitorId: A, reason: 'worker crash loop' }));
  });

  it('fail: still stops the worker, but reports nothing, when another replica or a DELETE got there first', async () => {
    lifecycle.fail.mockResolvedValue(false);

    const report = await sut.execute([{ action: 'fail', target: of(monitor()), reason: 'crash loop' }]);

    expect(byRole.workers.stop).toHaveBeenCalledWith(A);
    expect(report.failed).toEqual([]);
  });

  it('remove: stops the orphans all at once rather than one after the other, after the monitors’ steps', async () => {
    const stops = new Map<string, Deferred<void>>();
    byRole.workers.stop.mockImplementation((id) => {
      const d = deferred<void>();
      stops.set(id, d);
      return d.promise;
    });

    const pass = sut.execute([
      { action: 'remove', target: orphan(B) },
      { action: 'adopt', target: of(monitor()), workerId: 'w' },
      { action: 'remove', target: orphan(C) },
    ]);
    await new Promise<void>((r) => setImmediate(r));
    expect([...stops.keys()].sort()).toEqual([B, C].sort()); // both under way before either finished
    expect(lifecycle.markRunning.mock.invocationCallOrder[0]).toBeLessThan(
      byRole.workers.stop.mock.invocationCallOrder[0],
    );
    stops.get(B)!.resolve();
    stops.get(C)!.resolve();
    const report = await pass;

    expect(report.removed.sort()).toEqual([B, C].sort());
    expect(lifecycle.markRunning).toHaveBeenCalledTimes(1);
  });

  it('goes on with the other steps when one fails, logging what failed', async () => {
    const a = monitor(A);
    const b = monitor(B, 'ETH-EUR');
    byRole.workers.start.mockImplementation((spec) =>
      spec.monitor.monitorId === A
        ? Promise.reject(new Error('engine refused'))
        : Promise.resolve({ workerId: 'b-new' } as WorkerInfo),
    );
    byRole.workers.stop.mockImplementation((id) =>
      id === B ? Promise.reject(new Error('engine gone')) : Promise.resolve(),
    );

    const report = await sut.execute([
      { action: 'start', target: of(a) },
      { action: 'start', target: of(b) },
      { action: 'remove', target: orphan(B) },
      { action: 'remove', target: orphan(C) },
    ]);

    expect(report).toMatchObject({ skipped: false, started: [B], removed: [C] });
    expect(lifecycle.markRunning).toHaveBeenCalledTimes(1);
    expect(lifecycle.markRunning).toHaveBeenCalledWith(b, 'b-new');
    expect(warn).toHaveBeenCalledWith(expect.stringContaining(`monitor ${A} (BTC-USD): engine refused`));
    expect(warn).toHaveBeenCalledWith(expect.stringContaining('engine gone'));
  });

  it('begins no step once cancelled (the API is shutting down), finishing the one under way', async () => {
    let cancelled = false;
    const first = deferred<WorkerInfo>();
    byRole.workers.start.mockReturnValueOnce(first.promise);
    const steps: ReconcileStep[] = [
      { action: 'start', target: of(monitor(A)) },
      { action: 'start', target: of(monitor(B, 'ETH-EUR')) },
      { action: 'remove', target: orphan(C) },
    ];

    const pass = sut.execute(steps, () => cancelled);
    await new Promise<void>((r) => setImmediate(r));
    cancelled = true;
    first.resolve({ workerId: 'a-new' } as WorkerInfo);
    const report = await pass;

    expect(byRole.workers.start).toHaveBeenCalledTimes(1);
    expect(byRole.workers.stop).not.toHaveBeenCalled();
    expect(report.started).toEqual([A]);
  });
});

describe(`${ReconcileExecutor.name}: the relay`, () => {
  const RELAY: RelayTarget = { kind: 'relay' };
  let runtime: jest.Mocked<WorkerRuntime>;
  let byRole: ReturnType<typeof splitByRole>;
  let relaySpecs: RelaySpecFactory;
  let relayStatus: RelayStatus;
  let error: jest.SpyInstance;
  let sut: ReconcileExecutor;

  beforeEach(() => {
    jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
    jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    error = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    const config = loadConfig({ WORKER_NETWORK: 'host', UPHOLD_API_URL: 'http://fake-ticker:8080' });
    runtime = newWorkerRuntimeMock();
    byRole = splitByRole(runtime);
    relaySpecs = new RelaySpecFactory(config, new RelayAddress(config));
    relayStatus = new RelayStatus();
    byRole.relays.start.mockResolvedValue({ workerId: 'relay-new' } as WorkerInfo);
    byRole.relays.stop.mockResolvedValue();
    byRole.workers.start.mockResolvedValue({ workerId: `new-${A}` } as WorkerInfo);
    const lifecycle = newMonitorLifecycleMock();
    lifecycle.markRunning.mockResolvedValue(true);
    sut = new ReconcileExecutor(
      runtime,
      lifecycle as unknown as MonitorLifecycle,
      new WorkerSpecFactory(config, new RelayAddress(config)),
      relaySpecs,
      relayStatus,
    );
  });

  afterEach(() => jest.restoreAllMocks());

  it('start: starts the relay from its spec and records it as running', async () => {
    const report = await sut.execute([{ action: 'start', target: RELAY }]);
    expect(byRole.relays.start).toHaveBeenCalledWith(relaySpecs.spec());
    expect(relayStatus.current).toEqual({ workerId: 'relay-new', failure: null });
    expect(report.relay).toEqual(['start']);
    expect(report.started).toEqual([]);
  });

  it('start: the relay starts before the workers planned after it', async () => {
    const order: string[] = [];
    byRole.relays.start.mockImplementation(() => {
      order.push('relay');
      return Promise.resolve({ workerId: 'relay-new' } as WorkerInfo);
    });
    byRole.workers.start.mockImplementation(() => {
      order.push('worker');
      return Promise.resolve({ workerId: `new-${A}` } as WorkerInfo);
    });
    await sut.execute([
      { action: 'start', target: RELAY },
      { action: 'start', target: of(monitor()) },
    ]);
    expect(order).toEqual(['relay', 'worker']);
  });

  it('start: a relay that cannot start is recorded as down with the reason, and the other steps go on', async () => {
    byRole.relays.start.mockRejectedValue(new Error('image missing'));
    const report = await sut.execute([
      { action: 'start', target: RELAY },
      { action: 'start', target: of(monitor()) },
    ]);
    expect(relayStatus.current.failure).toBe('the relay could not be started: image missing');
    expect(report.started).toEqual([A]);
    expect(report.relay).toBeUndefined();
  });

  it('adopt: records the running relay without touching it', async () => {
    await sut.execute([{ action: 'adopt', target: RELAY, workerId: 'relay-1' }]);
    expect(relayStatus.current.workerId).toBe('relay-1');
    expect(byRole.relays.start).not.toHaveBeenCalled();
    expect(byRole.relays.stop).not.toHaveBeenCalled();
  });

  it('replace: stops the old relay, then starts and records a new one', async () => {
    relayStatus.running('relay-1');
    await sut.execute([{ action: 'replace', target: RELAY, workerId: 'relay-1', why: 'relay exited' }]);
    expect(byRole.relays.stop).toHaveBeenCalledWith('relay-1');
    expect(byRole.relays.stop.mock.invocationCallOrder[0]).toBeLessThan(
      byRole.relays.start.mock.invocationCallOrder[0],
    );
    expect(relayStatus.current.workerId).toBe('relay-new');
  });

  it('fail: reports the crash loop once (logged, kept for /health), and neither stops nor restarts the relay', async () => {
    const step: ReconcileStep = {
      action: 'fail',
      target: RELAY,
      workerId: 'relay-1',
      reason: 'relay crash loop',
    };
    await sut.execute([step]);
    await sut.execute([step]);
    expect(relayStatus.current).toEqual({ workerId: 'relay-1', failure: 'relay crash loop' });
    expect(error).toHaveBeenCalledTimes(1);
    expect(byRole.relays.stop).not.toHaveBeenCalled();
    expect(byRole.relays.start).not.toHaveBeenCalled();
  });

  it('remove: stops the relay named, forgetting it when it was the recorded one', async () => {
    relayStatus.running('relay-1');
    await sut.execute([
      { action: 'remove', target: { kind: 'relay-removal', workerId: 'relay-1', why: 'UPHOLD_RELAY=off' } },
    ]);
    expect(byRole.relays.stop).toHaveBeenCalledWith('relay-1');
    expect(byRole.workers.stop).not.toHaveBeenCalled();
    expect(relayStatus.current.workerId).toBeNull();
  });
});
