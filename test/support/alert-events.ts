import { randomUUID } from 'node:crypto';
import type Redis from 'ioredis';
import { ALERT_EVENT_FIELD, ALERTS_STREAM, type AlertEvent } from '@pairwatch/contracts';

/** An alert event as a worker publishes it: a 1.02 % move up of `pair` now, new ids; `over` changes any field. */
export function alertEvent(pair: string, over: Partial<AlertEvent> = {}): AlertEvent {
  const down = over.direction === 'down';
  return {
    id: randomUUID(),
    monitorId: randomUUID(),
    pair,
    ruleId: 'r1',
    kind: 'move',
    details: {},
    direction: 'up',
    priceField: 'ask',
    referencePrice: '63120.45',
    price: '63764.10',
    changePercent: down ? '-1.02' : '1.02',
    thresholdPercent: '1',
    intervalMs: 5000,
    observedAt: new Date().toISOString(),
    ...over,
  };
}

/** Publishes the events on the alerts stream in one MULTI, as the workers do. */
export async function publishAlerts(redis: Redis, events: readonly AlertEvent[]): Promise<void> {
  const tx = redis.multi();
  for (const event of events) tx.xadd(ALERTS_STREAM, '*', ALERT_EVENT_FIELD, JSON.stringify(event));
  await tx.exec();
}
