import type { Alert } from './types';

/** The history table's filters, as GET /alerts takes them (since/until ISO-8601). */
export interface AlertFilters {
  pair?: string;
  monitorId?: string;
  since?: string;
  until?: string;
}

/** Whether a live alert belongs in a table showing these filters. */
export function matchesFilters(alert: Alert, filters: AlertFilters): boolean {
  if (filters.pair && alert.pair !== filters.pair.trim().toUpperCase()) return false;
  if (filters.monitorId && alert.monitorId !== filters.monitorId) return false;
  const at = Date.parse(alert.observedAt);
  if (filters.since && at < Date.parse(filters.since)) return false;
  if (filters.until && at >= Date.parse(filters.until)) return false;
  return true;
}

const newestFirst = (a: Alert, b: Alert) =>
  Date.parse(b.observedAt) - Date.parse(a.observedAt) || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);

/**
 * The shown list with `incoming` merged in: each alert once (by id), newest first. With more pages to load
 * (`hasMore`), an incoming alert older than the last one shown is left for its page.
 */
export function mergeAlerts(shown: Alert[], incoming: Alert[], hasMore: boolean): Alert[] {
  const ids = new Set(shown.map((alert) => alert.id));
  const oldest = shown.length ? Date.parse(shown[shown.length - 1].observedAt) : -Infinity;
  const fresh = incoming.filter((alert) => {
    if (ids.has(alert.id)) return false;
    if (hasMore && Date.parse(alert.observedAt) < oldest) return false;
    ids.add(alert.id);
    return true;
  });
  return fresh.length ? [...shown, ...fresh].sort(newestFirst) : shown;
}
