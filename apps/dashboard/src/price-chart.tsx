import {
  type AutoscaleInfo,
  createChart,
  createSeriesMarkers,
  LineSeries,
  LineStyle,
  type IChartApi,
  type IPriceLine,
  type ISeriesApi,
  type ISeriesMarkersPluginApi,
  type Time,
  type UTCTimestamp,
} from 'lightweight-charts';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { AlertFeed } from './alert-feed';
import { ApiError, call, query } from './api';
import {
  alertMarkers,
  type Band,
  currentReference,
  DOWN_COLOR,
  linePoints,
  newTicks,
  thresholdBand,
  UP_COLOR,
} from './chart-model';
import { errorText } from './format';
import type { Alert, AlertPage, Monitor, PriceTick } from './types';

/** An hour at one tick a second. */
const MAX_POINTS = 3600;
/** Up to this many points the line is stretched to the chart's width. */
const FIT_POINTS = 120;

interface Chart {
  chart: IChartApi;
  series: ISeriesApi<'Line'>;
  markers: ISeriesMarkersPluginApi<Time>;
  lines: IPriceLine[];
}

/**
 * The monitor's recent ticks (GET /monitors/:id/prices, then `?since=` the newest every interval), the
 * threshold band around the current reference, and a marker on each of its alerts, new ones from the feed.
 * The figure's data-* attributes say what the chart was given (markers, points), for people and tests alike.
 */
export function PriceChart({ monitor, feed }: { monitor: Monitor; feed: AlertFeed }) {
  const box = useRef<HTMLDivElement>(null);
  const figure = useRef<HTMLElement>(null);
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
      timeScale: { timeVisible: true, secondsVisible: true },
      rightPriceScale: { scaleMargins: { top: 0.15, bottom: 0.15 } },
    });
    const series = made.addSeries(LineSeries, {
      color: '#2563eb',
      lineWidth: 2,
      priceLineVisible: false,
      // The band's levels stay in view, so the distance to the next alert can be seen.
      autoscaleInfoProvider: (original: () => AutoscaleInfo | null) => {
        const info = original();
        const levels = [band.current?.upper, band.current?.lower].filter((v): v is number => v !== undefined);
        if (!info?.priceRange || levels.length === 0) return info;
        return {
          ...info,
          priceRange: {
            minValue: Math.min(info.priceRange.minValue, ...levels),
            maxValue: Math.max(info.priceRange.maxValue, ...levels),
          },
        };
      },
    });
    chart.current = { chart: made, series, markers: createSeriesMarkers(series, []), lines: [] };
    // A new width (a phone turned, a window resized) refits a short history too.
    const resized = new ResizeObserver(() =>
      // After the chart's own observer has taken the new size.
      requestAnimationFrame(() => {
        const count = ticks.current.length;
        if (chart.current && count > 1 && count <= FIT_POINTS) made.timeScale().fitContent();
      }),
    );
    resized.observe(el);
    return () => {
      resized.disconnect();
      made.remove();
      chart.current = undefined;
    };
  }, []);

  // Prices: the window once, then what is newer at the monitor's pace. An API without the prices endpoint
  // (404 for a monitor it knows) leaves the chart to the worker's last price, as GET /monitors reports it.
  const [noPricesEndpoint, setNoPricesEndpoint] = useState(false);
  useEffect(() => {
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

  // Alerts: the monitor's history of the last hour, then each new one from the feed.
  useEffect(() => {
    const since = new Date(Date.now() - 3600_000).toISOString();
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

  const reference = currentReference(monitor, alerts.current, ticks.current);

  // Draw what is known.
  useEffect(() => {
    const c = chart.current;
    if (!c) return;
    const points = linePoints(ticks.current);
    c.series.setData(points.map((p) => ({ time: p.time as UTCTimestamp, value: p.value })));
    // A short history fills the width; a long one keeps the default spacing, scrolled to the newest tick.
    if (points.length > 1 && points.length <= FIT_POINTS) c.chart.timeScale().fitContent();
    const markers = alertMarkers(alerts.current, points);
    c.markers.setMarkers(markers.map((m) => ({ ...m, time: m.time as UTCTimestamp })));
    for (const line of c.lines) c.series.removePriceLine(line);
    c.lines = [];
    band.current = reference ? thresholdBand(reference, monitor) : undefined;
    if (band.current) {
      const levels = band.current;
      c.lines.push(
        c.series.createPriceLine({
          price: levels.reference,
          color: '#64748b',
          lineStyle: LineStyle.Solid,
          lineWidth: 1,
          title: 'reference',
          axisLabelVisible: true,
        }),
      );
      if (levels.upper !== undefined) {
        c.lines.push(
          c.series.createPriceLine({
            price: levels.upper,
            color: UP_COLOR,
            lineStyle: LineStyle.Dashed,
            lineWidth: 1,
            title: `+${monitor.thresholdPercent} %`,
            axisLabelVisible: true,
          }),
        );
      }
      if (levels.lower !== undefined) {
        c.lines.push(
          c.series.createPriceLine({
            price: levels.lower,
            color: DOWN_COLOR,
            lineStyle: LineStyle.Dashed,
            lineWidth: 1,
            title: `−${monitor.thresholdPercent} %`,
            axisLabelVisible: true,
          }),
        );
      }
    }
    const el = figure.current;
    if (el) {
      el.dataset.points = String(points.length);
      el.dataset.markerIds = c.markers
        .markers()
        .map((m) => m.id)
        .join(' ');
      el.dataset.reference = reference ?? '';
      el.dataset.lastPrice = ticks.current[ticks.current.length - 1]?.price ?? '';
    }
  }, [version, reference, monitor.thresholdPercent, monitor.direction]);

  const shown = alerts.current.length;
  return (
    <figure class="chart" ref={figure} data-testid="price-chart" data-monitor-id={monitor.id}>
      <div class="chart-box" ref={box} />
      {note && <p class="chart-note muted">{note}</p>}
      <figcaption class="small muted">
        {reference ? `reference ${reference}, alerts at ±${monitor.thresholdPercent} %` : 'no reference yet'}{' '}
        ·{' '}
        <span data-testid="chart-alert-count">
          {shown} alert{shown === 1 ? '' : 's'} in the last hour
        </span>{' '}
        · times in UTC
        {noPricesEndpoint
          ? " · this API has no prices endpoint: the line follows the worker's last price"
          : ''}
      </figcaption>
    </figure>
  );
}
