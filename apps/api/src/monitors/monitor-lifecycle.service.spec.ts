import type { MonitorEntity, MonitorStatus } from './monitor.entity';
import {
  IllegalTransitionError,
  LifecycleIntent,
  LifecycleState,
  MonitorLifecycle,
  MonitorTransition,
} from './monitor-lifecycle.service';
import { MonitorsRepository, NewMonitor, UpstreamBudget } from './monitors.repository';
import { SAMPLE_MONITOR_ID, sampleMonitorEntity } from './testing/monitor-entity.fixture';
import { newMonitorsRepositoryMock, PublicOf } from './testing/monitors-repository.mock';

const ID = SAMPLE_MONITOR_ID;
const EARLIER = new Date('2025-01-02T00:00:00.000Z');

function monitor(status: MonitorStatus, values: Partial<MonitorEntity> = {}): MonitorEntity {
  return sampleMonitorEntity({ status, ...values });
}

/** What create() is given: the monitor's validated fields. */
const { pair, intervalMs, rules } = monitor('starting');
const NEW_MONITOR: NewMonitor = { pair, intervalMs, rules };

const BUDGET: UpstreamBudget = { limitPerMin: 250, relay: false, pairEndpointOnly: [] };

describe(MonitorLifecycle.name, () => {
  let monitors: jest.Mocked<PublicOf<MonitorsRepository>>;
  let sut: MonitorLifecycle;
  let announced: MonitorTransition[];

  beforeEach(() => {
    monitors = newMonitorsRepositoryMock();
    // The row is where the transition may start from: the first status of its condition.
    monitors.move.mockImplementation((_id, move) => Promise.resolve(move.from[0]));
    monitors.moveWithinBudget.mockImplementation((_m, move) => Promise.resolve(move.from[0]));
    monitors.deleteIfIn.mockImplementation((_id, from) => Promise.resolve(from[0]));
    monitors.markStale.mockResolvedValue(true);
    monitors.insertWithinBudget.mockImplementation((row) =>
      Promise.resolve(Object.assign(monitor(row.status), row)),
    );
    sut = new MonitorLifecycle(monitors as unknown as MonitorsRepository);
    announced = [];
    sut.transitions.subscribe((t) => announced.push(t));
  });

  afterEach(() => sut.onModuleDestroy());

  /** Each intent, called on a monitor that is in `from` (null: none yet), towards its usual target. */
  const CALLS: Record<LifecycleIntent, (from: LifecycleState) => Promise<unknown>> = {
    create: () => sut.create(NEW_MONITOR, BUDGET),
    markRunning: (from) => sut.markRunning(monitor(from!), 'worker-2'),
    fail: (from) => sut.fail(monitor(from!), 'worker crash loop'),
    stop: (from) => sut.stop(monitor(from!)),
    reactivate: (from) => sut.reactivate(monitor(from!), BUDGET),
    discard: (from) => sut.discard(monitor(from!)),
    markStale: (from) => sut.markStale(monitor(from!)),
    markReporting: (from) => sut.markReporting(monitor(from!, { staleSince: EARLIER })),
  };

  function wrote(): number {
    return (
      monitors.move.mock.calls.length +
      monitors.moveWithinBudget.mock.calls.length +
      monitors.deleteIfIn.mock.calls.length +
      monitors.insertWithinBudget.mock.calls.length +
      monitors.markStale.mock.calls.length
    );
  }

  // One row per rule: every intent from every status, allowed or refused.
  const S: LifecycleState[] = [null, 'starting', 'running', 'stopped', 'failed'];
  const ALLOWED: Record<LifecycleIntent, LifecycleState[]> = {
    create: [null],
    markRunning: ['starting', 'running'],
    fail: ['starting', 'running'],
    stop: ['starting', 'running', 'failed'],
    reactivate: ['stopped', 'failed'],
    discard: ['starting', 'stopped'],
    markStale: ['running'],
    markReporting: ['running'],
  };
  const rows = (Object.keys(ALLOWED) as LifecycleIntent[]).flatMap((intent) =>
    S.filter((from) => (intent === 'create') === (from === null)).map(
      (from) => [intent, from, ALLOWED[intent].includes(from)] as const,
    ),
  );

  it.each(rows)('%s from %s: allowed %s', async (intent, from, allowed) => {
    if (allowed) {
      await expect(CALLS[intent](from)).resolves.toBeTruthy();
      expect(wrote()).toBe(1);
      expect(announced).toHaveLength(1);
      expect(announced[0]).toMatchObject({ intent, monitorId: ID, pair: 'BTC-USD' });
    } else {
      await expect(CALLS[intent](from)).rejects.toThrow(IllegalTransitionError);
      expect(wrote()).toBe(0);
      expect(announced).toEqual([]);
    }
  });

  it('names the intent and both statuses when it refuses a transition', async () => {
    const error = await sut.markRunning(monitor('stopped'), 'worker-2').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(IllegalTransitionError);
    expect(error).toMatchObject({ intent: 'markRunning', from: 'stopped', to: 'running', monitorId: ID });
    expect((error as Error).message).toBe(
      `monitor ${ID}: markRunning cannot take it from stopped to running`,
    );
  });

  it('writes each transition as a condition on the statuses it starts from', async () => {
    const m = monitor('running', { workerId: 'worker-1' });
    await sut.markRunning(m, 'worker-2');
    await sut.fail(m, 'worker crash loop');
    await sut.stop(m, EARLIER);

    expect(monitors.move.mock.calls).toEqual([
      [ID, { from: ['starting', 'running'], change: { status: 'running', workerId: 'worker-2' } }],
      [ID, { from: ['starting', 'running'], change: { status: 'failed', reason: 'worker crash loop' } }],
      [
        ID,
        {
          from: ['starting', 'running', 'failed'],
          change: { status: 'stopped', stoppedAt: EARLIER, reason: null },
        },
      ],
    ]);
  });

  it('answers false, keeps the snapshot and announces nothing when the row already left those statuses', async () => {
    monitors.move.mockResolvedValue(null);
    const m = monitor('starting');

    expect(await sut.markRunning(m, 'worker-2')).toBe(false);

    expect(m).toMatchObject({ status: 'starting', workerId: null });
    expect(announced).toEqual([]);
  });

  it('updates the snapshot and announces the move from the status the row really had', async () => {
    monitors.move.mockResolvedValue('running'); // another replica had marked it running meanwhile
    const m = monitor('starting');
    const before = Date.now();

    expect(await sut.markRunning(m, 'worker-2')).toBe(true);

    expect(m).toMatchObject({ status: 'running', workerId: 'worker-2' });
    expect(announced).toEqual([
      {
        monitorId: ID,
        pair: 'BTC-USD',
        intent: 'markRunning',
        from: 'running',
        to: 'running',
        reason: null,
        workerId: 'worker-2',
        at: expect.any(Date),
      },
    ]);
    expect(announced[0].at.getTime()).toBeGreaterThanOrEqual(before);
  });

  it('opens a stale episode and closes it, each announced once, the status staying running', async () => {
    const m = monitor('running', { workerId: 'worker-1' });
    const at = new Date('2025-01-03T00:00:00.000Z');

    expect(await sut.markStale(m, at)).toBe(true);
    expect(m.staleSince).toEqual(at);
    monitors.markStale.mockResolvedValueOnce(false); // another replica opened it first
    expect(await sut.markStale(m, at)).toBe(false);
    expect(await sut.markReporting(m, at)).toBe(true);

    expect(monitors.markStale.mock.calls).toEqual([
      [ID, at],
      [ID, at],
      [ID, null],
    ]);
    expect(m).toMatchObject({ status: 'running', staleSince: null });
    expect(announced.map((t) => [t.intent, t.from, t.to, t.workerId])).toEqual([
      ['markStale', 'running', 'running', 'worker-1'],
      ['markReporting', 'running', 'running', 'worker-1'],
    ]);
  });

  it('announces a failure with its reason', async () => {
    monitors.move.mockResolvedValue('running');
    await sut.fail(monitor('running', { workerId: 'worker-1' }), 'pair FOO-BAR is unknown at the ticker');
    expect(announced[0]).toMatchObject({
      from: 'running',
      to: 'failed',
      reason: 'pair FOO-BAR is unknown at the ticker',
    });
  });

  it('creates a monitor as starting under the budget, announced as coming from nothing', async () => {
    const created = await sut.create(NEW_MONITOR, BUDGET);

    expect(monitors.insertWithinBudget).toHaveBeenCalledWith({ ...NEW_MONITOR, status: 'starting' }, BUDGET);
    expect(created.status).toBe('starting');
    expect(announced[0]).toMatchObject({ intent: 'create', from: null, to: 'starting' });
  });

  it('reactivates under the pair and budget checks, clearing the reason and stop time and resetting the death window', async () => {
    const m = monitor('failed', { reason: 'crash loop', stoppedAt: EARLIER });
    const at = new Date('2025-01-03T00:00:00.000Z');

    await sut.reactivate(m, BUDGET, at);

    expect(monitors.moveWithinBudget).toHaveBeenCalledWith(
      m,
      {
        from: ['stopped', 'failed'],
        change: { status: 'starting', reason: null, stoppedAt: null, restartedAt: at },
      },
      BUDGET,
    );
    expect(monitors.move).not.toHaveBeenCalled();
    expect(m).toMatchObject({ status: 'starting', reason: null, stoppedAt: null, restartedAt: at });
    expect(announced[0]).toMatchObject({ intent: 'reactivate', from: 'stopped', to: 'starting', at });
  });

  it('lets the budget refusals of a reactivation through, changing nothing', async () => {
    const refused = new Error('rate budget exceeded');
    monitors.moveWithinBudget.mockRejectedValue(refused);
    const m = monitor('stopped');

    await expect(sut.reactivate(m, BUDGET)).rejects.toBe(refused);

    expect(m.status).toBe('stopped');
    expect(announced).toEqual([]);
  });

  it('discards a monitor whose worker never started, announced as going to nothing', async () => {
    expect(await sut.discard(monitor('starting'))).toBe(true);
    expect(monitors.deleteIfIn).toHaveBeenCalledWith(ID, ['starting', 'stopped']);
    expect(announced[0]).toMatchObject({ intent: 'discard', from: 'starting', to: null });
  });

  it('announces nothing when the discarded row was no longer there to delete', async () => {
    monitors.deleteIfIn.mockResolvedValue(null);
    expect(await sut.discard(monitor('starting'))).toBe(false);
    expect(announced).toEqual([]);
  });

  it('completes its announcements when the module goes', () => {
    let completed = false;
    sut.transitions.subscribe({ complete: () => (completed = true) });
    sut.onModuleDestroy();
    expect(completed).toBe(true);
  });
});
