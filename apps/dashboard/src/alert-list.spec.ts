import { matchesFilters, mergeAlerts } from './alert-list';
import type { Alert } from './types';

const alert = (id: string, observedAt: string, patch: Partial<Alert> = {}): Alert => ({
  id,
  monitorId: 'm1',
  pair: 'BTC-USD',
  direction: 'up',
  priceField: 'ask',
  referencePrice: '100',
  price: '101',
  changePercent: '1',
  thresholdPercent: '0.5',
  intervalMs: 1000,
  observedAt,
  createdAt: observedAt,
  ...patch,
});

describe('alert list', () => {
  it('matches the filters of GET /alerts: pair in any case, monitor, since inclusive, until exclusive', () => {
    const a = alert('a', '2026-01-01T00:00:10Z');
    expect(matchesFilters(a, {})).toBe(true);
    expect(matchesFilters(a, { pair: 'btc-usd' })).toBe(true);
    expect(matchesFilters(a, { pair: 'ETH-USD' })).toBe(false);
    expect(matchesFilters(a, { monitorId: 'm2' })).toBe(false);
    expect(matchesFilters(a, { since: '2026-01-01T00:00:10Z' })).toBe(true);
    expect(matchesFilters(a, { since: '2026-01-01T00:00:11Z' })).toBe(false);
    expect(matchesFilters(a, { until: '2026-01-01T00:00:10Z' })).toBe(false);
    expect(matchesFilters(a, { until: '2026-01-01T00:00:11Z' })).toBe(true);
  });

  it('puts a new alert at the top and never shows one twice', () => {
    const shown = [alert('b', '2026-01-01T00:00:02Z'), alert('a', '2026-01-01T00:00:01Z')];
    const merged = mergeAlerts(
      shown,
      [alert('c', '2026-01-01T00:00:03Z'), alert('b', '2026-01-01T00:00:02Z')],
      false,
    );
    expect(merged.map((x) => x.id)).toEqual(['c', 'b', 'a']);
    expect(mergeAlerts(merged, [alert('a', '2026-01-01T00:00:01Z')], false)).toBe(merged);
  });

  it('leaves an alert older than the last shown for its page when more pages exist', () => {
    const shown = [alert('b', '2026-01-01T00:00:02Z')];
    expect(mergeAlerts(shown, [alert('a', '2026-01-01T00:00:01Z')], true).map((x) => x.id)).toEqual(['b']);
    expect(mergeAlerts(shown, [alert('a', '2026-01-01T00:00:01Z')], false).map((x) => x.id)).toEqual([
      'b',
      'a',
    ]);
  });
});
