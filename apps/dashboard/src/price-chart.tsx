import {
  type AutoscaleInfo,
  createChart,
  CandlestickSeries,
  createSeriesMarkers,
  LineSeries,
  LineStyle,
  type IChartApi,
  type IPriceLine,
  type ISeriesApi,
  type ISeriesMarkersPluginApi,
  type MouseEventParams,
  type Time,
  type UTCTimestamp,
} from 'lightweight-charts';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { AlertFeed } from './alert-feed';
import { ApiError, call, query } from './api';
import {
  alertDescription,
  alertMarkers,
  type AlertMarker,
  type Band,
  type Candle,
  candlePoints,
  type LinePoint,
  RANGES,
  type RangeKey,
  currentReference,
  DOWN_COLOR,
  type LabelBox,
  labelOffsets,
  linePoints,
  newTicks,
  pickLabels,
  priceLineSpecs,
  thresholdBand,
  UP_COLOR,
} from './chart-model';
import { errorText } from './format';
import { crossLevels } from './rules-model';
import type { Alert, AlertPage, Monitor, PriceTick } from './types';

/** An hour at one tick a second. */
const MAX_POINTS = 3600;
/** Up to this many points the line is fitted to the chart's width (its points at most MAX_LINE_SPACING apart). */
const FIT_POINTS = 120;
/**
 * The most pixels between two of the line's points. lightweight-charts moves the first time label clear of the
 * left edge (fixLeftEdge) only while bars are at most half its label width estimate apart (80 px at the 12 px
 * font); further apart, the first point sits half a spacing from the edge, and its "11:31:02" (55 to 60 px) was
 * cut to ":31:02" on a phone.
 */
const MAX_LINE_SPACING = 40;
/** The most pixels between two candles: a minute of data in the 24 h range is one readable candle, not half the chart. */
const MAX_CANDLE_SPACING = 16;
/** Room right of the newest bar, for its time label (up to 60 px, centred on the bar) and the price's next moves. */
const RIGHT_ROOM_PX = 36;
const LINE_STYLES = {
  solid: LineStyle.Solid,
  dashed: LineStyle.Dashed,
  largeDashed: LineStyle.LargeDashed,
} as const;
/** A cross level this close to the prices (a fraction of the last price) is kept in view. */
const LEVEL_IN_VIEW = 0.03;

interface Chart {
  chart: IChartApi;
  series: ISeriesApi<'Line'> | ISeriesApi<'Candlestick'>;
  markers: ISeriesMarkersPluginApi<Time>;
  lines: IPriceLine[];
}

/**
 * The monitor's recent ticks (GET /monitors/:id/prices, then `?since=` the newest every interval), the
 * threshold band around the current reference, and a marker on each of its alerts, new ones from the feed.
 * The figure's data-* attributes say what the chart was given (markers, points), for people and tests alike.
 */
export function PriceChart({ monitor, feed }: { monitor: Monitor; feed: AlertFeed }) {
  const [range, setRange] = useState<RangeKey>('1h');
  // Whether the API keeps a tick archive (GET /pairs/:pair/candles): the longer ranges only then.
  const [archive, setArchive] = useState<boolean>();
  useEffect(() => {
    let live = true;
    const since = new Date(Date.now() - 3600_000).toISOString();
    call<Candle[]>('GET', `/pairs/${monitor.pair}/candles${query({ interval: '1h', since })}`).then(
      () => live && setArchive(true),
      () => live && setArchive(false),
    );
    return () => {
      live = false;
    };
  }, [monitor.pair]);
  return (
    <>
      {archive && (
        <div class="ranges" role="group" aria-label="Range">
          {(Object.keys(RANGES) as RangeKey[]).map((key) => (
            <button
              key={key}
              type="button"
              aria-pressed={range === key}
              data-testid={`range-${key}`}
              onClick={() => setRange(key)}
            >
              {RANGES[key].label}
            </button>
          ))}
        </div>
      )}
      <RangeChart key={range} range={range} monitor={monitor} feed={feed} />
    </>
  );
}

/** The chart of one range: the last hour's ticks as a line, or the archive's candles. */
function RangeChart({ monitor, feed, range }: { monitor: Monitor; feed: AlertFeed; range: RangeKey }) {
  const candleRange = range !== '1h';
  const spanMs = RANGES[range].spanMs;
  const candles = useRef<Candle[]>([]);
  const box = useRef<HTMLDivElement>(null);
  const figure = useRef<HTMLElement>(null);
  const overlay = useRef<HTMLDivElement>(null);
  const tip = useRef<HTMLDivElement>(null);
  const markers = useRef<AlertMarker[]>([]);
  const levels = useRef<number[]>([]);
  const chart = useRef<Chart>();
  const band = useRef<Band>();
  const ticks = useRef<PriceTick[]>([]);
  const alerts = useRef<Alert[]>([]);
  const [note, setNote] = useState<string | undefined>('Loading prices…');
  const [version, setVersion] = useState(0);
  const redraw = () => setVersion((n) => n + 1);

  // The chart itself, once per monitor.
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const made = createChart(el, {
      autoSize: true,
      layout: { background: { color: 'transparent' }, textColor: '#334155', attributionLogo: false },
      grid: { vertLines: { color: '#eef2f7' }, horzLines: { color: '#eef2f7' } },
      // The first bar at the left edge, never scrolled past, and room after the newest: both bars' time labels
      // inside the chart. A short history is drawn at a readable spacing from the left, not stretched over the width.
      timeScale: {
        timeVisible: true,
        secondsVisible: !candleRange,
        fixLeftEdge: true,
        rightOffsetPixels: RIGHT_ROOM_PX,
        maxBarSpacing: candleRange ? MAX_CANDLE_SPACING : MAX_LINE_SPACING,
      },
      rightPriceScale: { scaleMargins: { top: 0.15, bottom: 0.15 } },
    });
    const options = {
      priceLineVisible: false,
      // The band's levels stay in view, so the distance to the next alert can be seen.
      autoscaleInfoProvider: (original: () => AutoscaleInfo | null) => {
        const info = original();
        const last = ticks.current[ticks.current.length - 1];
        const near = (v: number) =>
          !last || Math.abs(v - Number(last.price)) <= Number(last.price) * LEVEL_IN_VIEW;
        const inView = [band.current?.upper, band.current?.lower, ...levels.current.filter(near)].filter(
          (v): v is number => v !== undefined,
        );
        if (!info?.priceRange || inView.length === 0) return info;
        return {
          ...info,
          priceRange: {
            minValue: Math.min(info.priceRange.minValue, ...inView),
            maxValue: Math.max(info.priceRange.maxValue, ...inView),
          },
        };
      },
    };
    const series = candleRange
      ? made.addSeries(CandlestickSeries, {
          ...options,
          upColor: UP_COLOR,
          downColor: DOWN_COLOR,
          borderVisible: false,
          wickUpColor: UP_COLOR,
          wickDownColor: DOWN_COLOR,
        })
      : made.addSeries(LineSeries, { ...options, color: '#2563eb', lineWidth: 2 });
    chart.current = { chart: made, series, markers: createSeriesMarkers(series, []), lines: [] };
    // A new width (a phone turned, a window resized) refits a short history too.
    const resized = new ResizeObserver(() =>
      // After the chart's own observer has taken the new size.
      requestAnimationFrame(() => {
        const count = ticks.current.length;
        if (chart.current && (candleRange || (count > 1 && count <= FIT_POINTS)))
          made.timeScale().fitContent();
        requestAnimationFrame(placeLabels);
      }),
    );
    resized.observe(el);
    const onRange = () => requestAnimationFrame(placeLabels);
    made.timeScale().subscribeVisibleLogicalRangeChange(onRange);
    // The full story of an alert on its marker's hover (a mouse) or tap (a phone).
    const onPointer = (param: MouseEventParams<Time>) => showTip(param);
    made.subscribeCrosshairMove(onPointer);
    made.subscribeClick(onPointer);
    return () => {
      made.timeScale().unsubscribeVisibleLogicalRangeChange(onRange);
      made.unsubscribeCrosshairMove(onPointer);
      made.unsubscribeClick(onPointer);
      resized.disconnect();
      made.remove();
      chart.current = undefined;
    };
  }, []);

  // Prices: the window once, then what is newer at the monitor's pace. An API without the prices endpoint
  // (404 for a monitor it knows) leaves the chart to the worker's last price, as GET /monitors reports it.
  const [noPricesEndpoint, setNoPricesEndpoint] = useState(false);
  useEffect(() => {
    if (candleRange) return;
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const every = Math.max(1000, Math.min(monitor.intervalMs, 10_000));
    const load = async () => {
      const last = ticks.current[ticks.current.length - 1];
      try {
        const page = await call<PriceTick[]>(
          'GET',
          `/monitors/${monitor.id}/prices${query({ since: last?.at })}`,
        );
        setNoPricesEndpoint(false);
        addTicks(Array.isArray(page) ? page : []);
        setNote(ticks.current.length ? undefined : 'No prices yet');
      } catch (error) {
        const missing = error instanceof ApiError && error.status === 404;
        setNoPricesEndpoint(missing);
        if (ticks.current.length === 0) setNote(missing ? 'No prices yet' : `No prices: ${errorText(error)}`);
      }
      if (!stopped) timer = setTimeout(() => void load(), every);
    };
    void load();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [monitor.id, monitor.intervalMs]);

  // Candles: the range from the archive, again every half minute (the newest candle grows).
  useEffect(() => {
    if (!candleRange) return;
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const field = (monitor.rules?.[0]?.priceField ?? monitor.priceField) || 'ask';
    const load = async () => {
      const since = new Date(Date.now() - spanMs).toISOString();
      const interval = RANGES[range].interval;
      try {
        const page = await call<Candle[]>(
          'GET',
          `/pairs/${monitor.pair}/candles${query({ interval, field, since })}`,
        );
        candles.current = Array.isArray(page) ? page : [];
        setNote(candles.current.length ? undefined : 'No archived prices in this range yet');
        redraw();
      } catch (error) {
        setNote(`No candles: ${errorText(error)}`);
      }
      if (!stopped) timer = setTimeout(() => void load(), 30_000);
    };
    void load();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [monitor.pair]);

  const addTicks = (incoming: PriceTick[]) => {
    const fresh = newTicks(ticks.current, incoming);
    if (fresh.length === 0) return;
    ticks.current = [...ticks.current, ...fresh].slice(-MAX_POINTS);
    setNote(undefined);
    redraw();
  };

  const { lastTickAt, lastPrice } = monitor.worker ?? {};
  useEffect(() => {
    if (noPricesEndpoint && lastTickAt && lastPrice) {
      addTicks([{ at: lastTickAt, price: lastPrice, ask: '', bid: '' }]);
    }
  }, [noPricesEndpoint, lastTickAt, lastPrice]);

  // Alerts: the monitor's history over the range (its newest 500), then each new one from the feed.
  useEffect(() => {
    const since = new Date(Date.now() - spanMs).toISOString();
    const add = (incoming: Alert[]) => {
      const ids = new Set(alerts.current.map((a) => a.id));
      const fresh = incoming.filter((a) => a.monitorId === monitor.id && !ids.has(a.id));
      if (fresh.length) {
        alerts.current = [...alerts.current, ...fresh];
        redraw();
      }
    };
    const off = feed.onAlert((alert) => add([alert]));
    void feed.ready
      .then(() => call<AlertPage>('GET', `/alerts${query({ monitorId: monitor.id, since, limit: 500 })}`))
      .then((page) => add(page.items))
      .catch(() => undefined);
    return off;
  }, [monitor.id, feed]);

  // With rules: the band of the first live `move` rule, the levels of the `cross` rules. Without (an older
  // API): the monitor's own threshold.
  const moveRule = monitor.rules?.find((rule) => rule.kind === 'move' && !rule.done) as
    { thresholdPercent: string; direction: 'both' | 'up' | 'down' } | undefined;
  const bandRule = monitor.rules ? moveRule : monitor;
  const bandKey = bandRule ? `${bandRule.thresholdPercent} ${bandRule.direction}` : '';
  const crosses = crossLevels(monitor.rules);
  const crossKey = JSON.stringify(crosses);
  const reference = bandRule ? currentReference(monitor, alerts.current, ticks.current) : undefined;
  const lineSpecs = priceLineSpecs(
    reference && bandRule ? thresholdBand(reference, bandRule) : undefined,
    bandRule?.thresholdPercent ?? undefined,
    crosses,
  );
  const formatPrice = (price: number) =>
    chart.current?.series.priceFormatter().format(price) ?? String(price);

  // Draw what is known.
  useEffect(() => {
    const c = chart.current;
    if (!c) return;
    let points: LinePoint[];
    if (candleRange) {
      const bars = candlePoints(candles.current);
      (c.series as ISeriesApi<'Candlestick'>).setData(
        bars.map(({ time, open, high, low, close }) => ({
          time: time as UTCTimestamp,
          open,
          high,
          low,
          close,
        })),
      );
      points = bars;
      if (bars.length > 1) c.chart.timeScale().fitContent();
    } else {
      points = linePoints(ticks.current);
      (c.series as ISeriesApi<'Line'>).setData(
        points.map((p) => ({ time: p.time as UTCTimestamp, value: p.value })),
      );
      // A short history fills the width; a long one keeps the default spacing, scrolled to the newest tick.
      if (points.length > 1 && points.length <= FIT_POINTS) c.chart.timeScale().fitContent();
    }
    markers.current = alertMarkers(alerts.current, points, candleRange);
    // The canvas draws the arrows only; their labels are DOM labels placed so that none overlaps (placeLabels).
    c.markers.setMarkers(
      markers.current.map(({ id, time, position, shape, color }) => ({
        id,
        time: time as UTCTimestamp,
        position,
        shape,
        color,
      })),
    );
    for (const line of c.lines) c.series.removePriceLine(line);
    band.current = reference && bandRule ? thresholdBand(reference, bandRule) : undefined;
    levels.current = crosses.map((cross) => Number(cross.level)).filter(Number.isFinite);
    // Lines only: their tags on the price axis hid the scale's own labels, and a title sat on its line's end.
    // The legend under the chart says what each line is, with its price.
    c.lines = lineSpecs.map((line) =>
      c.series.createPriceLine({
        price: line.price,
        color: line.color,
        lineStyle: LINE_STYLES[line.style],
        lineWidth: line.width,
        title: '',
        axisLabelVisible: false,
      }),
    );
    const el = figure.current;
    if (el) {
      el.dataset.points = String(points.length);
      el.dataset.markerIds = c.markers
        .markers()
        .map((m) => m.id)
        .join(' ');
      el.dataset.reference = reference ?? '';
      el.dataset.lastPrice = ticks.current[ticks.current.length - 1]?.price ?? '';
      // The value the line (or the last candle) ends at: the price the axis tags.
      el.dataset.lastValue = String(points[points.length - 1]?.value ?? '');
      el.dataset.range = range;
      el.dataset.candles = candleRange ? String(points.length) : '';
      el.dataset.levels = crosses.map((cross) => cross.level).join(' ');
    }
    requestAnimationFrame(() => requestAnimationFrame(placeLabels));
  }, [version, reference, bandKey, crossKey]);

  /**
   * The markers' labels, newest first, each kept only where it overlaps no label kept before it (pickLabels):
   * dense alerts show the latest and what fits; every marker tells its whole alert on hover or tap.
   */
  function placeLabels() {
    const c = chart.current;
    const layer = overlay.current;
    if (!c || !layer) return;
    const width = c.chart.timeScale().width();
    const height = c.chart.paneSize().height;
    const barSpacing = c.chart.timeScale().options().barSpacing;
    layer.replaceChildren();
    const made = [...markers.current].reverse().map((marker) => {
      const el = document.createElement('span');
      el.className = `marker-label ${marker.shape === 'arrowUp' ? 'up' : 'down'}`;
      el.textContent = marker.text;
      el.dataset.alertId = marker.id;
      layer.appendChild(el);
      return { marker, el };
    });
    // Each label goes past every arrow stacked on its side of its bar, and past the labels of that stack before it.
    const labelHeight = Math.max(0, ...made.map(({ el }) => el.offsetHeight));
    const offsets = labelOffsets(markers.current, barSpacing, labelHeight);
    const boxes: (LabelBox & { el: HTMLElement })[] = [];
    for (const { marker, el } of made) {
      const x = c.chart.timeScale().timeToCoordinate(marker.time as UTCTimestamp);
      const y = c.series.priceToCoordinate(marker.value);
      if (x === null || y === null || x < 0 || x > width) {
        el.remove();
        continue;
      }
      const offset = offsets.get(marker.id) ?? 0;
      const up = marker.shape === 'arrowUp';
      const w = el.offsetWidth;
      const h = el.offsetHeight;
      const left = Math.max(0, Math.min(width - w, x - w / 2));
      const top = Math.max(0, Math.min(height - h, up ? y + offset : y - offset - h));
      boxes.push({ id: marker.id, left, top, width: w, height: h, el });
    }
    const shown = pickLabels(boxes);
    for (const b of boxes) {
      if (!shown.has(b.id)) {
        b.el.remove();
        continue;
      }
      b.el.style.left = `${b.left}px`;
      b.el.style.top = `${b.top}px`;
    }
    if (figure.current) {
      figure.current.dataset.labelIds = boxes
        .filter((b) => shown.has(b.id))
        .map((b) => b.id)
        .join(' ');
      // How the bars are laid out, for people and tests: their spacing, and how many of them are in view.
      figure.current.dataset.barSpacing = String(Math.round(barSpacing * 100) / 100);
      const logical = c.chart.timeScale().getVisibleLogicalRange();
      const count = Number(figure.current.dataset.points ?? 0);
      figure.current.dataset.barsInView = logical
        ? String(
            Math.max(
              0,
              Math.min(count - 1, Math.floor(logical.to)) - Math.max(0, Math.ceil(logical.from)) + 1,
            ),
          )
        : '0';
    }
  }

  /** The tooltip of the markers at the pointer's time (the newest alert first), hidden elsewhere. */
  function showTip(param: MouseEventParams<Time>) {
    const el = tip.current;
    const c = chart.current;
    if (!el || !c) return;
    const at = param.time as number | undefined;
    const here = at === undefined ? [] : markers.current.filter((m) => m.time === at);
    if (!param.point || here.length === 0) {
      el.hidden = true;
      return;
    }
    const byId = new Map(alerts.current.map((a) => [a.id, a]));
    const lines = here
      .map((m) => byId.get(m.id))
      .filter((a): a is Alert => a !== undefined)
      .reverse()
      .map(alertDescription);
    el.textContent = lines.join('\n');
    el.dataset.alertIds = here.map((m) => m.id).join(' ');
    el.hidden = false;
    const width = c.chart.timeScale().width();
    const left = Math.max(0, Math.min(width - el.offsetWidth, param.point.x - el.offsetWidth / 2));
    el.style.left = `${left}px`;
    el.style.top = `${Math.max(0, param.point.y - el.offsetHeight - 12)}px`;
  }

  const shown = alerts.current.length;
  return (
    <figure class="chart" ref={figure} data-testid="price-chart" data-monitor-id={monitor.id}>
      <div class="chart-box" ref={box} />
      <div class="marker-labels" ref={overlay} aria-hidden="true" />
      <div class="marker-tip" ref={tip} role="tooltip" data-testid="marker-tip" hidden />
      {note && <p class="chart-note muted">{note}</p>}
      {lineSpecs.length > 0 && (
        <ul class="chart-legend small" data-testid="chart-legend">
          {lineSpecs.map((line) => (
            <li key={line.key} data-line={line.key}>
              <i class={`swatch ${line.style}`} style={{ borderColor: line.color }} />
              {line.title} <span class="legend-price">{formatPrice(line.price)}</span>
            </li>
          ))}
        </ul>
      )}
      <figcaption class="small muted">
        {bandRule
          ? reference
            ? `reference ${reference}, alerts at ±${bandRule.thresholdPercent} %`
            : 'no reference yet'
          : ''}
        {crosses.length > 0 && (
          <span data-testid="chart-levels">
            {bandRule ? ' · ' : ''}
            {crosses.length === 1 ? 'level' : 'levels'} {crosses.map((cross) => cross.level).join(', ')}
          </span>
        )}{' '}
        ·{' '}
        <span data-testid="chart-alert-count">
          {shown} alert{shown === 1 ? '' : 's'} in the last {RANGES[range].label.replace('1 h', 'hour')}
        </span>{' '}
        · times in UTC
        {noPricesEndpoint
          ? " · this API has no prices endpoint: the line follows the worker's last price"
          : ''}
      </figcaption>
    </figure>
  );
}
