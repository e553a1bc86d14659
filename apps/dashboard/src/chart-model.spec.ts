import {
  alertDescription,
  alertMarkers,
  bucketTime,
  candlePoints,
  currentReference,
  labelOffsets,
  markerExtent,
  markerText,
  pickLabels,
  formatPercent,
  linePoints,
  nearestTime,
  newTicks,
  priceLineSpecs,
  thresholdBand,
} from './chart-model';
import type { Alert, Monitor, PriceTick } from './types';

const tick = (at: string, price: string): PriceTick => ({ at, ask: price, bid: price, price });
const alert = (id: string, observedAt: string, direction: 'up' | 'down', price = '1'): Alert => ({
  id,
  monitorId: 'm1',
  pair: 'BTC-USD',
  direction,
  priceField: 'ask',
  referencePrice: '100',
  price,
  changePercent: direction === 'up' ? '0.6' : '-1',
  thresholdPercent: '0.5',
  intervalMs: 1000,
  observedAt,
  createdAt: observedAt,
});
const monitor = (patch: Partial<Monitor> = {}): Monitor => ({
  id: 'm1',
  pair: 'BTC-USD',
  intervalMs: 1000,
  thresholdPercent: '0.5',
  priceField: 'ask',
  direction: 'both',
  cooldownMs: 0,
  status: 'running',
  reason: null,
  workerId: 'w',
  createdAt: '2026-01-01T00:00:00Z',
  stoppedAt: null,
  worker: null,
  ...patch,
});

describe('chart model', () => {
  it('makes one point a second, oldest first, the last tick of a second winning', () => {
    const points = linePoints([
      tick('2026-01-01T00:00:01.100Z', '10'),
      tick('2026-01-01T00:00:01.900Z', '11'),
      tick('2026-01-01T00:00:03.000Z', '12'),
      tick('2026-01-01T00:00:02.000Z', '9'),
    ]);
    const t0 = Date.parse('2026-01-01T00:00:00Z') / 1000;
    expect(points).toEqual([
      { time: t0 + 1, value: 11 },
      { time: t0 + 3, value: 12 },
    ]);
  });

  it('keeps only the ticks newer than the last known one (since= may repeat its bound)', () => {
    const known = [tick('2026-01-01T00:00:01Z', '1')];
    const incoming = [tick('2026-01-01T00:00:01Z', '1'), tick('2026-01-01T00:00:02Z', '2')];
    expect(newTicks(known, incoming)).toEqual([incoming[1]]);
    expect(newTicks([], incoming)).toEqual(incoming);
  });

  it('takes the worker reference first, then the newest alert price, then the first tick', () => {
    const ticks = [tick('2026-01-01T00:00:01Z', '100')];
    const alerts = [
      alert('a', '2026-01-01T00:00:05Z', 'up', '101'),
      alert('b', '2026-01-01T00:00:09Z', 'down', '99'),
    ];
    const worker = { referencePrice: '98' } as Monitor['worker'];
    expect(currentReference(monitor({ worker }), alerts, ticks)).toBe('98');
    expect(currentReference(monitor(), alerts, ticks)).toBe('99');
    expect(currentReference(monitor(), [], ticks)).toBe('100');
    expect(currentReference(monitor(), [], [])).toBeUndefined();
  });

  it('draws the band on the sides the direction watches', () => {
    expect(thresholdBand('200', { thresholdPercent: '0.5', direction: 'both' })).toEqual({
      reference: 200,
      upper: 201,
      lower: 199,
    });
    expect(thresholdBand('200', { thresholdPercent: '1', direction: 'up' })).toEqual({
      reference: 200,
      upper: 202,
    });
    expect(thresholdBand('200', { thresholdPercent: '1', direction: 'down' })).toEqual({
      reference: 200,
      lower: 198,
    });
  });

  it('snaps a time to the nearest point', () => {
    expect(nearestTime([10, 20, 30], 24)).toBe(20);
    expect(nearestTime([10, 20, 30], 26)).toBe(30);
    expect(nearestTime([10, 20, 30], 5)).toBe(10);
    expect(nearestTime([10, 20, 30], 99)).toBe(30);
    expect(nearestTime([], 7)).toBe(7);
  });

  it('puts one marker per alert of the range on its tick, oldest first, each alert once', () => {
    const points = linePoints([
      tick('2026-01-01T00:00:01Z', '100'),
      tick('2026-01-01T00:00:02Z', '101'),
      tick('2026-01-01T00:00:03Z', '99'),
    ]);
    const down = alert('down', '2026-01-01T00:00:03.004Z', 'down');
    const up = alert('up', '2026-01-01T00:00:02.010Z', 'up');
    const before = alert('old', '2025-12-31T00:00:00Z', 'up');
    const markers = alertMarkers([down, up, up, before], points);
    expect(markers.map((m) => [m.id, m.time, m.shape])).toEqual([
      ['up', points[1].time, 'arrowUp'],
      ['down', points[2].time, 'arrowDown'],
    ]);
    expect(markers[0].text).toBe('+0.6 %');
    expect(alertMarkers([up], [])).toEqual([]);
  });

  it('formats a percent with at most four decimals', () => {
    expect(formatPercent('0.60000000')).toBe('0.6 %');
    expect(formatPercent('-1.234567')).toBe('-1.2346 %');
  });

  it('labels a marker by its kind: the move, the level crossed, the spread', () => {
    const up = alert('a', '2026-01-01T00:00:02Z', 'up', '101');
    expect(markerText(up)).toBe('+0.6 %');
    const cross = { ...up, kind: 'cross' as const, ruleId: 'r2', details: { level: '100.5' } };
    expect(markerText(cross)).toBe('↑ 100.5');
    expect(markerText({ ...cross, direction: 'down' })).toBe('↓ 100.5');
    expect(markerText({ ...up, kind: 'spread', changePercent: '0.25' })).toBe('spread 0.25 %');
    expect(alertDescription(cross)).toBe('cross r2: crossed above 100.5 — 101 (ask) at 00:00:02 UTC');
    expect(alertDescription(up)).toBe('+0.6 % from 100 — 101 (ask) at 00:00:02 UTC');
    expect(
      alertMarkers([cross], [{ time: Date.parse('2026-01-01T00:00:02Z') / 1000, value: 101 }])[0],
    ).toMatchObject({
      text: '↑ 100.5',
      value: 101,
    });
  });

  it('measures the reference from move alerts only', () => {
    const move = alert('m', '2026-01-01T00:00:01Z', 'up', '101');
    const cross = { ...alert('c', '2026-01-01T00:00:05Z', 'up', '150'), kind: 'cross' as const };
    expect(currentReference(monitor(), [move, cross], [])).toBe('101');
  });

  describe('pickLabels', () => {
    const box = (id: string, left: number, top = 0, width = 40, height = 15) => ({
      id,
      left,
      top,
      width,
      height,
    });

    it('keeps the newest label and every older one that overlaps none kept', () => {
      const shown = pickLabels([
        box('new', 100),
        box('a', 120),
        box('b', 60),
        box('c', 30),
        box('far', 100, 40),
      ]);
      expect([...shown]).toEqual(['new', 'c', 'far']); // b ends 2 px short of the newest's start
    });

    it('keeps a gap between labels that only touch', () => {
      expect([...pickLabels([box('x', 0), box('y', 41)])]).toEqual(['x']);
      expect([...pickLabels([box('x', 0), box('y', 42)])]).toEqual(['x', 'y']);
    });

    it('never keeps two that overlap, whatever the input', () => {
      let seed = 7;
      const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
      for (let round = 0; round < 50; round++) {
        const boxes = Array.from({ length: 30 }, (_, i) =>
          box(`b${i}`, random() * 300, random() * 200, 20 + random() * 40),
        );
        const kept = boxes.filter((b) => pickLabels(boxes).has(b.id));
        expect(kept[0]).toBe(boxes[0]);
        for (const a of kept)
          for (const b of kept) {
            if (a === b) continue;
            const apart =
              a.left + a.width + 2 <= b.left ||
              b.left + b.width + 2 <= a.left ||
              a.top + a.height + 2 <= b.top ||
              b.top + b.height + 2 <= a.top;
            expect(apart).toBe(true);
          }
      }
    });
  });

  it('draws candles oldest first and puts an alert on the candle that holds it, over its high or under its low', () => {
    const h = (n: number) => `2026-01-01T0${n}:00:00Z`;
    const candle = (t: string, o: string, hi: string, lo: string, c: string) => ({
      t,
      open: o,
      high: hi,
      low: lo,
      close: c,
    });
    const bars = candlePoints([
      candle(h(1), '1', '3', '0.5', '2'),
      candle(h(2), '2', '4', '1', '3'),
      candle(h(2), '9', '9', '9', '9'),
    ]);
    expect(bars.map((b) => [b.time, b.open, b.high, b.low, b.close])).toEqual([
      [Date.parse(h(1)) / 1000, 1, 3, 0.5, 2],
      [Date.parse(h(2)) / 1000, 2, 4, 1, 3],
    ]);
    const times = bars.map((b) => b.time);
    expect(bucketTime(times, times[0] + 3599)).toBe(times[0]);
    expect(bucketTime(times, times[1] + 10)).toBe(times[1]);
    const markers = alertMarkers(
      [alert('u', '2026-01-01T01:59:00Z', 'up'), alert('d', '2026-01-01T02:30:00Z', 'down')],
      bars,
      true,
    );
    expect(markers.map((m) => [m.id, m.time, m.value])).toEqual([
      ['u', times[0], 0.5],
      ['d', times[1], 4],
    ]);
  });

  it('orders the alerts of one candle as they were observed, whatever order they came in', () => {
    const bars = candlePoints([
      { t: '2026-01-01T01:00:00Z', open: '1', high: '2', low: '1', close: '2' },
      { t: '2026-01-01T01:05:00Z', open: '2', high: '2', low: '2', close: '2' },
    ]);
    // GET /alerts answers newest first.
    const markers = alertMarkers(
      [
        alert('late', '2026-01-01T01:04:00Z', 'up'),
        alert('next', '2026-01-01T01:05:10Z', 'up'),
        alert('early', '2026-01-01T01:01:00Z', 'up'),
      ],
      bars,
      true,
    );
    expect(markers.map((m) => m.id)).toEqual(['early', 'late', 'next']);
  });

  describe('labelOffsets', () => {
    const marker = (id: string, time: number, position: 'aboveBar' | 'belowBar' = 'belowBar') => ({
      id,
      time,
      position,
    });

    it('puts every label of a bar past every arrow stacked on its side, the newest nearest', () => {
      // The README walk-through's 24 h candle: a window and a cross alert, both up, both under one candle.
      for (const barSpacing of [6, 16, 40, 300]) {
        const offsets = labelOffsets([marker('window', 100), marker('cross', 100)], barSpacing, 15);
        const pastArrows = markerExtent(barSpacing, 1); // the far end of the second arrow
        expect(offsets.get('cross')).toBeGreaterThanOrEqual(pastArrows);
        expect(offsets.get('window')).toBeGreaterThanOrEqual((offsets.get('cross') ?? 0) + 15);
      }
    });

    it('counts each bar and side on its own', () => {
      const offsets = labelOffsets(
        [marker('a', 100), marker('b', 100, 'aboveBar'), marker('c', 160), marker('d', 100)],
        16,
        15,
      );
      expect(offsets.get('b')).toBe(offsets.get('c')); // alone on its side of its bar
      expect(offsets.get('b')).toBeGreaterThanOrEqual(markerExtent(16, 0));
      expect(offsets.get('d')).toBeGreaterThanOrEqual(markerExtent(16, 1));
      expect(offsets.get('a')).toBe((offsets.get('d') ?? 0) + 17);
    });
  });

  it('draws the band and the cross levels as lines titled for the legend, upper level first', () => {
    const band = thresholdBand('100', { thresholdPercent: '0.5', direction: 'both' });
    const lines = priceLineSpecs(band, '0.5', [
      { id: 'r2', level: '105', direction: 'up' },
      { id: 'r3', level: 'x', direction: 'down' },
      { id: 'r4', level: '95', direction: 'down', label: 'floor' },
    ]);
    expect(lines.map((l) => [l.key, l.title, l.price])).toEqual([
      ['upper', '+0.5 %', 100.5],
      ['reference', 'reference', 100],
      ['lower', '−0.5 %', 99.5],
      ['level-r2', 'r2 ↑', 105],
      ['level-r4', 'floor ↓', 95],
    ]);
    expect(priceLineSpecs(undefined, undefined, []).length).toBe(0);
    const up = priceLineSpecs(thresholdBand('100', { thresholdPercent: '1', direction: 'up' }), '1', []);
    expect(up.map((l) => l.key)).toEqual(['upper', 'reference']);
  });
});
