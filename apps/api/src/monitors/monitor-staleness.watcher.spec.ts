import type { WorkerState } from '@pairwatch/contracts';
import type { WorkerStateReader } from '../redis/worker-state.reader';
import type { MonitorEntity, MonitorStatus } from './monitor.entity';
import type { MonitorLifecycle } from './monitor-lifecycle.service';
import { MonitorStalenessWatcher, stalenessStep } from './monitor-staleness.watcher';
import type { MonitorsRepository } from './monitors.repository';
import { sampleMonitorEntity } from './testing/monitor-entity.fixture';
import { newMonitorLifecycleMock } from './testing/monitor-lifecycle.mock';
import { newMonitorsRepositoryMock } from './testing/monitors-repository.mock';

const SINCE = new Date('2025-01-01T00:00:00.000Z');
const REPORT = { tickCount: 3 } as unknown as WorkerState;

function monitor(status: MonitorStatus, values: Partial<MonitorEntity> = {}): MonitorEntity {
  return sampleMonitorEntity({ status, updatedAt: SINCE, intervalMs: 5000, ...values });
}

describe(stalenessStep.name, () => {
  const at = (ms: number) => SINCE.getTime() + ms;

  it.each<[string, MonitorEntity, WorkerState | undefined, number, string | undefined]>([
    ['running, reporting', monitor('running'), REPORT, at(60_000), undefined],
    ['running, no report past the 15 s TTL', monitor('running'), undefined, at(15_001), 'markStale'],
    [
      'running, no report yet within the TTL (just started)',
      monitor('running'),
      undefined,
      at(15_000),
      undefined,
    ],
    [
      'a 10 s interval: its TTL is 30 s',
      monitor('running', { intervalMs: 10_000 }),
      undefined,
      at(20_000),
      undefined,
    ],
    [
      'stale already: once per episode',
      monitor('running', { staleSince: SINCE }),
      undefined,
      at(60_000),
      undefined,
    ],
    [
      'stale, reporting again',
      monitor('running', { staleSince: SINCE }),
      REPORT,
      at(60_000),
      'markReporting',
    ],
    ['starting: not yet running', monitor('starting'), undefined, at(60_000), undefined],
    ['failed: no worker expected', monitor('failed'), undefined, at(60_000), undefined],
  ])('%s → %s', (_name, m, report, now, step) => {
    expect(stalenessStep(m, report, now)).toBe(step);
  });
});

describe(MonitorStalenessWatcher.name, () => {
  const stale = monitor('running', { id: 'a' });
  const back = monitor('running', { id: 'b', staleSince: SINCE });
  const fine = monitor('running', { id: 'c' });
  const starting = monitor('starting', { id: 'd' });
  let monitors: ReturnType<typeof newMonitorsRepositoryMock>;
  let lifecycle: ReturnType<typeof newMonitorLifecycleMock>;
  let read: jest.Mock;
  let sut: MonitorStalenessWatcher;

  beforeEach(() => {
    monitors = newMonitorsRepositoryMock();
    monitors.listActive.mockResolvedValue([stale, back, fine, starting]);
    lifecycle = newMonitorLifecycleMock();
    read = jest.fn().mockResolvedValue(
      new Map([
        ['b', REPORT],
        ['c', REPORT],
      ]),
    );
    sut = new MonitorStalenessWatcher(
      monitors as unknown as MonitorsRepository,
      { read } as unknown as WorkerStateReader,
      lifecycle as unknown as MonitorLifecycle,
    );
  });

  it('reads the reports of the running monitors and tells the lifecycle which went stale and which came back', async () => {
    const now = SINCE.getTime() + 60_000;
    await sut.check(now);
    expect(read).toHaveBeenCalledWith(['a', 'b', 'c']);
    expect(lifecycle.markStale.mock.calls).toEqual([[stale, new Date(now)]]);
    expect(lifecycle.markReporting.mock.calls).toEqual([[back, new Date(now)]]);
  });

  it('concludes nothing when Redis cannot be read', async () => {
    read.mockRejectedValue(new Error('ECONNREFUSED'));
    await expect(sut.check(SINCE.getTime() + 60_000)).rejects.toThrow('ECONNREFUSED');
    expect(lifecycle.markStale).not.toHaveBeenCalled();
    expect(lifecycle.markReporting).not.toHaveBeenCalled();
  });
});
