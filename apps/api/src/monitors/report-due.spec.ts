import { defaultStateTtlMs } from '@pairwatch/contracts';
import { reportNotDueYet } from './report-due';
import { sampleMonitorEntity } from './testing/monitor-entity.fixture';

describe(reportNotDueYet.name, () => {
  const since = new Date('2025-01-01T00:00:00.000Z');
  const ttl = defaultStateTtlMs(1000);
  const at = (ms: number) => since.getTime() + ms;
  const monitor = (status: 'starting' | 'running' | 'stopped') =>
    sampleMonitorEntity({ status, intervalMs: 1000, updatedAt: since });

  it('a starting monitor: not due, however long it takes', () => {
    expect(reportNotDueYet(monitor('starting'), at(10 * ttl))).toBe(true);
  });

  it('a running monitor: not due within the report TTL of its last transition, due after it', () => {
    expect(reportNotDueYet(monitor('running'), at(ttl))).toBe(true);
    expect(reportNotDueYet(monitor('running'), at(ttl + 1))).toBe(false);
  });

  it('a stopped monitor: due (nothing excuses a missing report)', () => {
    expect(reportNotDueYet(monitor('stopped'), at(0))).toBe(false);
  });
});
