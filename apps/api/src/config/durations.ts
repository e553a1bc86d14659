const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION = /^(\d{1,9})(ms|s|m|h|d)$/;

/** The contract's schedule: the waits before the 2nd, 3rd… attempt. */
export const DEFAULT_RETRY_SCHEDULE = '5s,5m,30m,2h,5h,10h,10h';

/** One duration such as `500ms`, `5s`, `30m`, `2h` or `30d`, in milliseconds; undefined when malformed. */
export function parseDuration(text: string): number | undefined {
  const match = DURATION.exec(text.trim());
  if (!match) return undefined;
  return Number(match[1]) * UNITS[match[2]];
}

/** A comma-separated list of durations (at most 20), or undefined when any is malformed or none given. */
export function parseRetrySchedule(text: string): number[] | undefined {
  const parts = text.split(',');
  if (parts.length > 20) return undefined;
  const delays = parts.map(parseDuration);
  return delays.every((d): d is number => d !== undefined) ? delays : undefined;
}
