import { useEffect, useRef, useState } from 'preact/hooks';
import type { AlertFeed } from './alert-feed';
import { type AlertFilters, matchesFilters, mergeAlerts } from './alert-list';
import { ApiError, call, onReconnect, query } from './api';
import { formatPercent } from './chart-model';
import { errorText, localInputToIso, shortId, utc } from './format';
import { duration } from './rules-model';
import type { Alert, AlertPage, Monitor } from './types';

const PAGE = 25;

/** The history (GET /alerts, newest first, cursor pages) with its filters; new alerts come in at the top. */
export function AlertHistory({ feed, monitors }: { feed: AlertFeed; monitors: Monitor[] }) {
  const [form, setForm] = useState({ pair: '', monitorId: '', since: '', until: '' });
  const [filters, setFilters] = useState<AlertFilters>({});
  const [items, setItems] = useState<Alert[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loaded, setLoaded] = useState(false);
  const [error, setError] = useState<string>();
  const [fieldErrors, setFieldErrors] = useState<Record<string, string[]>>({});
  const [fresh, setFresh] = useState<Set<string>>(new Set());
  const state = useRef({ filters, cursor, error });
  state.current = { filters, cursor, error };

  const load = async (next: AlertFilters, after?: string) => {
    try {
      const page = await call<AlertPage>('GET', `/alerts${query({ ...next, limit: PAGE, cursor: after })}`);
      setItems((shown) => (after ? mergeAlerts(shown, page.items, false) : page.items));
      setCursor(page.nextCursor);
      setError(undefined);
      setFieldErrors({});
    } catch (caught) {
      setError(errorText(caught));
      if (caught instanceof ApiError) setFieldErrors(caught.fields);
    } finally {
      setLoaded(true);
    }
  };

  useEffect(() => {
    let live = true;
    void feed.ready.then(() => (live ? load(filters) : undefined));
    return () => {
      live = false;
    };
  }, [filters, feed]);

  // A history that could not be read (the API down as the page opened) is read again once the API answers.
  useEffect(
    () =>
      onReconnect(() => {
        if (state.current.error !== undefined) void load(state.current.filters);
      }),
    [],
  );

  useEffect(
    () =>
      feed.onAlert((alert) => {
        const { filters: now, cursor: more } = state.current;
        if (!matchesFilters(alert, now)) return;
        setItems((shown) => mergeAlerts(shown, [alert], more !== null));
        setFresh((ids) => new Set(ids).add(alert.id));
      }),
    [feed],
  );

  const apply = (event: Event) => {
    event.preventDefault();
    setItems([]);
    setCursor(null);
    setLoaded(false);
    setFilters({
      pair: form.pair.trim() || undefined,
      monitorId: form.monitorId || undefined,
      since: localInputToIso(form.since),
      until: localInputToIso(form.until),
    });
  };
  const set = (field: keyof typeof form) => (event: { currentTarget: { value: string } }) =>
    setForm((f) => ({ ...f, [field]: event.currentTarget.value }));

  return (
    <>
      <form class="filters" aria-label="Alert filters" onSubmit={apply}>
        <label class="field">
          <span>Pair</span>
          <input name="pair" value={form.pair} onInput={set('pair')} placeholder="any" />
          {fieldErrors.pair && (
            <span class="field-error" role="alert" data-field-error="pair">
              {fieldErrors.pair.join('; ')}
            </span>
          )}
        </label>
        <label class="field">
          <span>Monitor</span>
          <select name="monitorId" value={form.monitorId} onChange={set('monitorId')}>
            <option value="">any</option>
            {monitors.map((m) => (
              <option key={m.id} value={m.id}>
                {m.pair} · {shortId(m.id)}
              </option>
            ))}
          </select>
        </label>
        <label class="field">
          <span>Since</span>
          <input name="since" type="datetime-local" step="1" value={form.since} onInput={set('since')} />
        </label>
        <label class="field">
          <span>Until</span>
          <input name="until" type="datetime-local" step="1" value={form.until} onInput={set('until')} />
        </label>
        <button type="submit">Filter</button>
      </form>
      {/* A bad pair's message shows beside the pair only; anything else (since after until, a 503) here. */}
      {error && !(fieldErrors.pair && Object.keys(fieldErrors).every((field) => field === 'pair')) && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <div class="table-wrap">
        <table class="alerts" data-testid="alerts-table">
          <thead>
            <tr>
              <th>Observed (UTC)</th>
              <th>Pair</th>
              <th>Rule</th>
              <th>Move</th>
              <th>Reference → price</th>
              <th>Rule's threshold</th>
              <th>Monitor</th>
            </tr>
          </thead>
          <tbody>
            {items.map((alert) => (
              <tr
                key={alert.id}
                class={fresh.has(alert.id) ? 'fresh' : undefined}
                data-testid="alert-row"
                data-alert-id={alert.id}
                data-monitor-id={alert.monitorId}
                data-kind={alert.kind ?? 'move'}
              >
                <td class="a-time">{utc(alert.observedAt)}</td>
                <td class="a-pair">{alert.pair}</td>
                <td class="a-rule">
                  {alert.kind ?? 'move'}
                  {alert.ruleId ? <span class="muted"> {alert.ruleId}</span> : null}
                </td>
                <td class={`a-move ${alert.direction === 'up' ? 'up' : 'down'}`}>
                  {alert.direction === 'up' ? '▲ +' : '▼ '}
                  {formatPercent(alert.changePercent)}
                </td>
                <td class="a-price">
                  {alert.referencePrice} → <strong>{alert.price}</strong>{' '}
                  <span class="muted">({alert.priceField})</span>
                </td>
                <td class="a-detail">{ruleDetail(alert)}</td>
                <td class="a-monitor muted">{shortId(alert.monitorId)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {loaded && items.length === 0 && !error && (
        <p class="muted">
          No alerts
          {filters.pair || filters.monitorId || filters.since || filters.until
            ? ' match these filters'
            : ' yet'}
          .
        </p>
      )}
      {cursor && (
        <button class="more" onClick={() => void load(filters, cursor)}>
          Older alerts
        </button>
      )}
    </>
  );
}

/** What the alert's rule was set to: a cross's level, a window's threshold and length, else the threshold. */
function ruleDetail(alert: Alert): string {
  const details = alert.details ?? {};
  if (alert.kind === 'cross' && typeof details.level === 'string') return `level ${details.level}`;
  if (alert.kind === 'window' && typeof details.windowMs === 'number') {
    return `${alert.thresholdPercent} % in ${duration(details.windowMs)}`;
  }
  if (alert.kind === 'spread') return `spread ≥ ${alert.thresholdPercent} %`;
  return `±${alert.thresholdPercent} %`;
}
