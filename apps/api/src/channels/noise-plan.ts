import { QUIET_DAYS, type QuietHours } from '../notify/channel-types';

/** A channel's noise rules (DESIGN.md "Noise control"). */
export interface NoiseSettings {
  quietHours: QuietHours | null;
  digestWindowMs: number | null;
  maxPerHour: number | null;
}

/** What the channel's log says when a decision is made. */
export interface NoiseState {
  /** The latest end of the channel's held deliveries, when any are held. */
  openHoldUntil: Date | null;
  /** Messages (own or digests) the channel let go since the start of this hour. */
  releasedThisHour: number;
}

export type NoiseDecision =
  { action: 'send' } | { action: 'hold'; until: Date; reason: 'quiet hours' | 'digest' | 'hourly limit' };

export const hasNoiseRules = (s: NoiseSettings): boolean =>
  s.quietHours !== null || s.digestWindowMs !== null || s.maxPerHour !== null;

const HOUR_MS = 3_600_000;

/**
 * What becomes of one alert now: held until its quiet window ends, joined to the open digest (or opening one
 * for `digestWindowMs`), held to the end of the hour past `maxPerHour`, or sent. Pure.
 */
export function planNoise(settings: NoiseSettings, state: NoiseState, now: Date): NoiseDecision {
  const open =
    state.openHoldUntil !== null && state.openHoldUntil.getTime() > now.getTime()
      ? state.openHoldUntil
      : null;
  if (settings.quietHours) {
    const end = quietEnd(settings.quietHours, now);
    if (end) return { action: 'hold', until: end, reason: 'quiet hours' };
  }
  if (settings.digestWindowMs !== null) {
    return {
      action: 'hold',
      until: open ?? new Date(now.getTime() + settings.digestWindowMs),
      reason: 'digest',
    };
  }
  if (settings.maxPerHour !== null && state.releasedThisHour >= settings.maxPerHour) {
    return { action: 'hold', until: hourEnd(now), reason: 'hourly limit' };
  }
  return { action: 'send' };
}

/** The start of `now`'s hour (UTC; every zone's hours but a few half-hour ones line up with it). */
export const hourStart = (now: Date): Date => new Date(Math.floor(now.getTime() / HOUR_MS) * HOUR_MS);
export const hourEnd = (now: Date): Date => new Date(hourStart(now).getTime() + HOUR_MS);

interface LocalTime {
  year: number;
  month: number;
  day: number;
  /** 0 = mon … 6 = sun. */
  weekday: number;
  minutes: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(zone: string): Intl.DateTimeFormat {
  let f = formatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      weekday: 'short',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(zone, f);
  }
  return f;
}

const WEEKDAYS = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];

function localTime(zone: string, at: Date): LocalTime & { seconds: number } {
  const parts: Record<string, string> = {};
  for (const p of formatter(zone).formatToParts(at)) parts[p.type] = p.value;
  return {
    year: Number(parts.year),
    month: Number(parts.month),
    day: Number(parts.day),
    weekday: WEEKDAYS.indexOf(parts.weekday),
    minutes: Number(parts.hour) * 60 + Number(parts.minute),
    seconds: Number(parts.second),
  };
}

/** The zone's offset from UTC at `at`, in ms. */
function offsetAt(zone: string, at: Date): number {
  const l = localTime(zone, at);
  const asUtc = Date.UTC(l.year, l.month - 1, l.day, Math.floor(l.minutes / 60), l.minutes % 60, l.seconds);
  return asUtc - Math.floor(at.getTime() / 1000) * 1000;
}

/**
 * The instant a local wall time names in `zone`. A time skipped by a DST change moves forward by the gap
 * (02:30 on the spring night is 03:30, as Temporal's "compatible" reads it); a time that happens twice gives
 * its first occurrence.
 */
export function zonedInstant(zone: string, year: number, month: number, day: number, minutes: number): Date {
  const wall = Date.UTC(year, month - 1, day, Math.floor(minutes / 60), minutes % 60);
  const first = wall - offsetAt(zone, new Date(wall));
  const second = wall - offsetAt(zone, new Date(first));
  // Both guesses agree except around a change; the earlier one that still reads as `wall` or later wins.
  const candidates = [Math.min(first, second), Math.max(first, second)];
  for (const t of candidates) {
    const l = localTime(zone, new Date(t));
    if (Date.UTC(l.year, l.month - 1, l.day, 0, l.minutes) >= wall) return new Date(t);
  }
  return new Date(candidates[1]);
}

const toMinutes = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

/** When the quiet window `now` is in ends (following windows that begin as one ends), or null when not quiet. */
export function quietEnd(quiet: QuietHours, now: Date): Date | null {
  let end: Date | null = null;
  let at = now;
  // Back-to-back windows (22:00–00:00 then 00:00–07:00) are one stretch of quiet.
  for (let i = 0; i < 16; i += 1) {
    const next = windowEnd(quiet, at);
    if (next === null || next.getTime() <= at.getTime()) break;
    end = next;
    at = next;
  }
  return end;
}

function windowEnd(quiet: QuietHours, at: Date): Date | null {
  const l = localTime(quiet.timeZone, at);
  const day = (offset: number) => QUIET_DAYS[(l.weekday + offset + 7) % 7];
  let latest: Date | null = null;
  for (const w of quiet.windows) {
    const from = toMinutes(w.from);
    const to = toMinutes(w.to);
    const crosses = to <= from;
    let endDayOffset: number | null = null;
    if (!crosses && w.days.includes(day(0)) && l.minutes >= from && l.minutes < to) endDayOffset = 0;
    else if (crosses && w.days.includes(day(0)) && l.minutes >= from) endDayOffset = 1;
    else if (crosses && w.days.includes(day(-1)) && l.minutes < to) endDayOffset = 0;
    if (endDayOffset === null) continue;
    const date = new Date(Date.UTC(l.year, l.month - 1, l.day + endDayOffset));
    const end = zonedInstant(
      quiet.timeZone,
      date.getUTCFullYear(),
      date.getUTCMonth() + 1,
      date.getUTCDate(),
      to,
    );
    if (latest === null || end.getTime() > latest.getTime()) latest = end;
  }
  return latest;
}
