import { sampleMonitorConfig } from '../../runtime/testing/worker-runtime.mock';
import { MonitorEntity } from '../monitor.entity';

export const SAMPLE_MONITOR_ID = '3f2b8c1a-5d4e-4f6a-9b8c-7d6e5f4a3b2c';

/** A stored monitor for unit specs (a `starting` BTC-USD one by default); specs override what they are about. */
export function sampleMonitorEntity(values: Partial<MonitorEntity> = {}): MonitorEntity {
  const id = values.id ?? SAMPLE_MONITOR_ID;
  const { monitorId, ...config } = sampleMonitorConfig({ monitorId: id });
  const at = new Date('2025-01-01T00:00:00.000Z');
  return Object.assign(new MonitorEntity(), {
    id: monitorId,
    ...config,
    thresholdPercent: null,
    priceField: null,
    direction: null,
    cooldownMs: null,
    status: 'starting',
    reason: null,
    workerId: null,
    createdAt: at,
    updatedAt: at,
    stoppedAt: null,
    restartedAt: null,
    staleSince: null,
    mutedUntil: null,
    ...values,
  });
}
