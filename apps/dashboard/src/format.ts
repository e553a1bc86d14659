/** "2026-12-01 23:40:05" in UTC, as the chart's axis shows time. */
export function utc(iso: string | null | undefined): string {
  if (!iso) return '—';
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toISOString().replace('T', ' ').slice(0, 19);
}

/** "4 s ago", "3 min ago". */
export function ago(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return 'never';
  const seconds = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (seconds < 90) return `${seconds} s ago`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min ago`;
  return `${Math.round(seconds / 3600)} h ago`;
}

/** Text that reads as a number (`-3`, `.5`, `1.5`): a form sends it as one, so the API judges its value, not its type. */
export const readsAsNumber = (text: string): boolean => /^[-+]?(\d+\.?\d*|\.\d+)$/.test(text);

export const shortId = (id: string): string => id.slice(0, 8);

/** A UTC instant from a datetime-local input (which the browser gives in local time), or undefined. */
export function localInputToIso(value: string): string | undefined {
  if (!value) return undefined;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString();
}

export const errorText = (error: unknown): string => (error instanceof Error ? error.message : String(error));
