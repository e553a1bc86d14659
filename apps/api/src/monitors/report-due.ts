import { defaultStateTtlMs } from '@pairwatch/contracts';
import type { MonitorEntity } from './monitor.entity';

/**
 * Whether a missing report is no news yet: the monitor is `starting`, or it has been running for less than
 * the report's TTL (a worker just started has not had time to tick).
 */
export function reportNotDueYet(
  monitor: Pick<MonitorEntity, 'status' | 'updatedAt' | 'intervalMs'>,
  now: number,
): boolean {
  if (monitor.status === 'starting') return true;
  return (
    monitor.status === 'running' && now - monitor.updatedAt.getTime() <= defaultStateTtlMs(monitor.intervalMs)
  );
}
