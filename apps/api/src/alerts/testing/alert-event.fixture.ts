import type { AlertEvent } from '@pairwatch/contracts';
import type { AlertDto } from '../dto/alert.dto';

/** A valid alert event as a worker publishes it, for unit specs; `overrides` replaces fields. */
export function sampleAlertEvent(overrides: Partial<AlertEvent> = {}): AlertEvent {
  return {
    id: '0b8f4a52-6c1e-4d8e-9a0f-3c2b1a0d9e8f',
    monitorId: '3f1c2b7e-8a4d-4c5e-9f60-1a2b3c4d5e6f',
    pair: 'BTC-USD',
    ruleId: 'r1',
    kind: 'move',
    details: {},
    direction: 'up',
    priceField: 'ask',
    referencePrice: '63120.45',
    price: '63126.762045',
    changePercent: '0.01',
    thresholdPercent: '0.01',
    intervalMs: 5000,
    observedAt: '2026-11-24T07:21:08.123Z',
    ...overrides,
  };
}

/** The alert as `GET /alerts` serves it (and the stream sends it), for unit specs; `overrides` replaces fields. */
export function sampleAlertDto(overrides: Partial<AlertDto> = {}): AlertDto {
  return { ...sampleAlertEvent(), createdAt: '2026-11-24T07:21:08.200Z', ...overrides };
}
