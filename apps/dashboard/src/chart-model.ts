import type { Alert, Monitor, PriceTick } from './types';

/** lightweight-charts' time: whole seconds since the epoch (UTC). */
export type Seconds = number;

export interface LinePoint {
  time: Seconds;
  value: number;
  /** A candle's high and low (a marker above a candle sits over its high, one below under its low). */
  high?: number;
  low?: number;
}

/** One candle of `GET /pairs/:pair/candles` (decimal strings, `t` the bucket's start). */
export interface Candle {
  t: string;
  open: string;
  high: string;
  low: string;
  close: string;
  ticks?: number;
}

/** The chart's ranges: the last hour of ticks, or candles from the tick archive. */
export const RANGES = {
  '1h': { label: '1 h', spanMs: 3600_000, interval: undefined },
  '24h': { label: '24 h', spanMs: 86_400_000, interval: '5m' },
  '7d': { label: '7 d', spanMs: 7 * 86_400_000, interval: '1h' },
  '30d': { label: '30 d', spanMs: 30 * 86_400_000, interval: '1h' },
} as const;
export type RangeKey = keyof typeof RANGES;

/** Candles as the chart's bars, oldest first, times strictly increasing, prices as numbers (drawing only). */
export function candlePoints(
  candles: Candle[],
): (LinePoint & { open: number; high: number; low: number; close: number })[] {
  const points: (LinePoint & { open: number; high: number; low: number; close: number })[] = [];
  for (const candle of candles) {
    const time = toSeconds(candle.t);
    const [open, high, low, close] = [candle.open, candle.high, candle.low, candle.close].map(Number);
    if (![time, open, high, low, close].every(Number.isFinite)) continue;
    const last = points[points.length - 1];
    if (last && time <= last.time) continue;
    points.push({ time, value: close, open, high, low, close });
  }
  return points;
}

export const toSeconds = (iso: string): Seconds => Math.floor(Date.parse(iso) / 1000);

/**
 * The ticks as the chart's line: oldest first, one point a second (the last tick of a second wins: the chart
 * wants strictly increasing times), prices as numbers (for drawing only; every comparison stays on the API).
 */
export function linePoints(ticks: PriceTick[]): LinePoint[] {
  const points: LinePoint[] = [];
  for (const tick of ticks) {
    const time = toSeconds(tick.at);
    const value = Number(tick.price);
    if (!Number.isFinite(time) || !Number.isFinite(value)) continue;
    const last = points[points.length - 1];
    if (last && time < last.time) continue;
    if (last && time === last.time) last.value = value;
    else points.push({ time, value });
  }
  return points;
}

/** The ticks of `incoming` newer than `known`'s last (a `since` query may repeat the tick at its bound). */
export function newTicks(known: PriceTick[], incoming: PriceTick[]): PriceTick[] {
  const last = known.length ? Date.parse(known[known.length - 1].at) : -Infinity;
  return incoming.filter((tick) => Date.parse(tick.at) > last);
}

/**
 * The price alerts are measured from now: the worker's own reference when its state carries one, else the
 * price of the monitor's newest alert (the detector moves its reference there), else its first tick shown.
 */
export function currentReference(monitor: Monitor, alerts: Alert[], ticks: PriceTick[]): string | undefined {
  if (monitor.worker?.referencePrice) return monitor.worker.referencePrice;
  const newest = alerts
    .filter((alert) => alert.monitorId === monitor.id && (alert.kind ?? 'move') === 'move')
    .reduce<Alert | undefined>(
      (a, b) => (!a || Date.parse(b.observedAt) > Date.parse(a.observedAt) ? b : a),
      undefined,
    );
  return newest?.price ?? ticks[0]?.price;
}

export interface Band {
  reference: number;
  /** Where an upward alert fires; absent for direction `down`. */
  upper?: number;
  /** Where a downward alert fires; absent for direction `up`. */
  lower?: number;
}

/** The threshold band: reference × (1 ± threshold / 100), the sides the monitor's direction watches. */
export function thresholdBand(
  reference: string,
  monitor: Pick<Monitor, 'thresholdPercent' | 'direction'>,
): Band {
  const ref = Number(reference);
  const fraction = Number(monitor.thresholdPercent) / 100;
  return {
    reference: ref,
    ...(monitor.direction !== 'down' ? { upper: ref + ref * fraction } : {}),
    ...(monitor.direction !== 'up' ? { lower: ref - ref * fraction } : {}),
  };
}

/** The point time nearest `time` (the chart draws a marker only on a time its series has). */
export function nearestTime(times: Seconds[], time: Seconds): Seconds {
  if (times.length === 0) return time;
  let lo = 0;
  let hi = times.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (times[mid] < time) lo = mid + 1;
    else hi = mid;
  }
  const after = times[lo];
  const before = times[Math.max(0, lo - 1)];
  return Math.abs(before - time) <= Math.abs(after - time) ? before : after;
}

export interface AlertMarker {
  id: string;
  time: Seconds;
  position: 'aboveBar' | 'belowBar';
  shape: 'arrowUp' | 'arrowDown';
  color: string;
  /** The label's text (drawn as a DOM label, not on the canvas: see pickLabels). */
  text: string;
  /** The line's value at the marker's time: where the chart draws the arrow, beside which its label goes. */
  value: number;
}

export const UP_COLOR = '#15803d';
export const DOWN_COLOR = '#b91c1c';

/** The bar whose bucket holds `time`: the latest bar time at or before it (the first bar when none is). */
export function bucketTime(times: Seconds[], time: Seconds): Seconds {
  let lo = 0;
  let hi = times.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (times[mid] <= time) lo = mid;
    else hi = mid - 1;
  }
  return times[lo] ?? time;
}

/**
 * One marker per alert of the chart's time range, oldest first (as the chart requires; alerts on one bar in the
 * order they were observed, whatever order they came in): at its tick, or with `buckets` at the candle that
 * holds it.
 */
export function alertMarkers(alerts: Alert[], points: LinePoint[], buckets = false): AlertMarker[] {
  if (points.length === 0) return [];
  const times = points.map((point) => point.time);
  const byTime = new Map(points.map((point) => [point.time, point]));
  const first = times[0];
  const seen = new Set<string>();
  return alerts
    .filter((alert) => !seen.has(alert.id) && seen.add(alert.id) && toSeconds(alert.observedAt) >= first - 1)
    .sort((a, b) => Date.parse(a.observedAt) - Date.parse(b.observedAt))
    .map((alert): AlertMarker => {
      const up = alert.direction === 'up';
      const time = (buckets ? bucketTime : nearestTime)(times, toSeconds(alert.observedAt));
      const point = byTime.get(time);
      return {
        id: alert.id,
        time,
        position: up ? 'belowBar' : 'aboveBar',
        shape: up ? 'arrowUp' : 'arrowDown',
        color: up ? UP_COLOR : DOWN_COLOR,
        text: markerText(alert),
        value: (up ? point?.low : point?.high) ?? point?.value ?? Number(alert.price),
      };
    })
    .sort((a, b) => a.time - b.time);
}

/** A marker's label: the move for the percentage kinds, the level for a cross, the spread for a spread. */
export function markerText(alert: Alert): string {
  const up = alert.direction === 'up';
  const level = alert.details?.level;
  if (alert.kind === 'cross') return `${up ? '↑' : '↓'} ${typeof level === 'string' ? level : alert.price}`;
  if (alert.kind === 'spread') return `spread ${formatPercent(alert.changePercent)}`;
  return `${up ? '+' : ''}${formatPercent(alert.changePercent)}`;
}

/** What the tooltip of an alert's marker says, in full. */
export function alertDescription(alert: Alert): string {
  const rule = alert.kind ? `${alert.kind}${alert.ruleId ? ` ${alert.ruleId}` : ''}: ` : '';
  const level = alert.details?.level;
  const what =
    alert.kind === 'cross' && typeof level === 'string'
      ? `crossed ${alert.direction === 'up' ? 'above' : 'below'} ${level}`
      : `${alert.direction === 'up' ? '+' : ''}${formatPercent(alert.changePercent)} from ${alert.referencePrice}`;
  return `${rule}${what} — ${alert.price} (${alert.priceField}) at ${alert.observedAt.slice(11, 19)} UTC`;
}

/**
 * How far from its bar's price the chart draws the end of an arrow marker (lightweight-charts' own sizes: a
 * shape of the bar spacing within 12..30 px, a tenth of it as margin, at least 3), with `stacked` markers of
 * the same bar and side before it.
 */
export function markerExtent(barSpacing: number, stacked: number): number {
  const size = Math.min(Math.max(barSpacing, 12), 30);
  const shape = Math.ceil(size / 2) * 2 + 1;
  const margin = Math.max(Math.ceil(size * 0.1), 3);
  return margin + (stacked + 1) * (shape + margin);
}

/**
 * Where each marker's label goes: its distance from the bar's price to the label's near edge, past every arrow
 * the chart stacks on that side of that bar (an arrow stacked after a label's own would otherwise be drawn over
 * it: a cross and a window alert on one candle), then one label height further for each newer label of the
 * stack (the newest nearest its arrows), so that a stack's labels need not hide one another.
 */
export function labelOffsets(
  markers: Pick<AlertMarker, 'id' | 'time' | 'position'>[],
  barSpacing: number,
  labelHeight: number,
  gap = 2,
): Map<string, number> {
  const stacks = new Map<string, string[]>();
  for (const marker of markers) {
    const side = `${marker.time} ${marker.position}`;
    stacks.set(side, [...(stacks.get(side) ?? []), marker.id]);
  }
  const offsets = new Map<string, number>();
  for (const ids of stacks.values()) {
    const arrows = markerExtent(barSpacing, ids.length - 1);
    ids.forEach((id, i) => offsets.set(id, arrows + gap + (ids.length - 1 - i) * (labelHeight + gap)));
  }
  return offsets;
}

/** A horizontal line the chart draws at a price: a band's level, the reference, a cross rule's level. */
export interface PriceLineSpec {
  key: string;
  /** What the legend calls it ("+0.5 %", "reference", "r1 ↑"). */
  title: string;
  price: number;
  color: string;
  style: 'solid' | 'dashed' | 'largeDashed';
  width: 1 | 2;
}

export const LEVEL_COLOR = '#7c3aed';
export const REFERENCE_COLOR = '#64748b';

/**
 * The chart's price lines, top to bottom for a band (its upper level, the reference, its lower level), then each
 * `cross` level titled with its rule's id (or label) and direction. The chart draws the lines only; what each is,
 * with its price, is the legend under the chart (on the price axis, their tags covered the scale's own labels).
 */
export function priceLineSpecs(
  band: Band | undefined,
  thresholdPercent: string | undefined,
  crosses: { id: string; level: string; direction: string; label?: string }[],
): PriceLineSpec[] {
  const lines: PriceLineSpec[] = [];
  if (band) {
    if (band.upper !== undefined)
      lines.push({
        key: 'upper',
        title: `+${thresholdPercent} %`,
        price: band.upper,
        color: UP_COLOR,
        style: 'dashed',
        width: 1,
      });
    lines.push({
      key: 'reference',
      title: 'reference',
      price: band.reference,
      color: REFERENCE_COLOR,
      style: 'solid',
      width: 1,
    });
    if (band.lower !== undefined)
      lines.push({
        key: 'lower',
        title: `−${thresholdPercent} %`,
        price: band.lower,
        color: DOWN_COLOR,
        style: 'dashed',
        width: 1,
      });
  }
  for (const cross of crosses) {
    const level = Number(cross.level);
    if (!Number.isFinite(level)) continue;
    const arrow = cross.direction === 'up' ? '↑' : cross.direction === 'down' ? '↓' : '↕';
    lines.push({
      key: `level-${cross.id}`,
      title: `${cross.label ?? cross.id} ${arrow}`,
      price: level,
      color: LEVEL_COLOR,
      style: 'largeDashed',
      width: 2,
    });
  }
  return lines;
}

/** A label's box in the chart's pixels (top-left corner, size). */
export interface LabelBox {
  id: string;
  left: number;
  top: number;
  width: number;
  height: number;
}

/**
 * Which labels to show so that none overlaps another: the newest first, each kept only when it keeps `gap`
 * pixels from every label kept before it. Dense alerts show the latest and as many older ones as fit; the
 * rest are on their markers' hover or tap.
 */
export function pickLabels(newestFirst: LabelBox[], gap = 2): Set<string> {
  const kept: LabelBox[] = [];
  for (const box of newestFirst) {
    const clear = kept.every(
      (other) =>
        box.left + box.width + gap <= other.left ||
        other.left + other.width + gap <= box.left ||
        box.top + box.height + gap <= other.top ||
        other.top + other.height + gap <= box.top,
    );
    if (clear) kept.push(box);
  }
  return new Set(kept.map((box) => box.id));
}

/** "0.61 %" from a decimal string, keeping at most 4 decimals. */
export function formatPercent(value: string): string {
  const number = Number(value);
  return `${Number.isFinite(number) ? String(Math.round(number * 10_000) / 10_000) : value} %`;
}
