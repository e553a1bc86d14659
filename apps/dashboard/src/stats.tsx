import { useEffect, useState } from 'preact/hooks';
import type { AlertFeed } from './alert-feed';
import { ApiError, call, onReconnect, query } from './api';
import { errorText } from './format';
import { type DayBar, KIND_COLORS, LiveRefresh, statsBars } from './stats-model';

const DAYS = 30;
const DAY_MS = 86_400_000;
/** The periodic reload (a day's bar changes when the day does, and alerts the feed missed). */
const RELOAD_MS = 60_000;
/** After a live alert: one reload this long after it (a burst's alerts coalesce), at most one every LIVE_EVERY_MS. */
const LIVE_SETTLE_MS = 1000;
const LIVE_EVERY_MS = 5000;

/**
 * Alerts per UTC day over the last 30 days (today's included), stacked by rule kind (GET /alerts/stats, one entry
 * per day, empty days too); nothing on an API without it. Read at once, every minute, and shortly after an alert
 * of the chosen pair arrives on the live feed (coalesced: LiveRefresh).
 */
export function AlertStats({ pairs, feed }: { pairs: string[]; feed: AlertFeed }) {
  const [pair, setPair] = useState('');
  const [bars, setBars] = useState<DayBar[]>();
  const [missing, setMissing] = useState(false);
  const [error, setError] = useState<string>();
  useEffect(() => {
    let live = true;
    // Answers may come back out of order (a live reload beside the periodic one): only the latest is shown.
    let latest = 0;
    // A read that failed (the API down) is made again once the API answers, not only at the next minute.
    let failed = false;
    const load = async () => {
      refresh.loaded();
      const request = ++latest;
      // The UTC day 29 days before today's: with today's, 30 bars.
      const since = new Date((Math.floor(Date.now() / DAY_MS) - (DAYS - 1)) * DAY_MS).toISOString();
      try {
        const answer = await call<unknown>('GET', `/alerts/stats${query({ pair, since, bucket: 'day' })}`);
        if (live && request === latest) {
          setBars(statsBars(answer));
          setError(undefined);
          failed = false;
        }
      } catch (caught) {
        if (!live || request !== latest) return;
        failed = true;
        if (caught instanceof ApiError && caught.status === 404) setMissing(true);
        else setError(errorText(caught));
      }
    };
    const refresh = new LiveRefresh(() => void load(), LIVE_SETTLE_MS, LIVE_EVERY_MS);
    const off = feed.onAlert((alert) => {
      if (!pair || alert.pair === pair) refresh.poke();
    });
    const offReconnect = onReconnect(() => failed && void load());
    void load();
    const timer = setInterval(() => void load(), RELOAD_MS);
    return () => {
      live = false;
      off();
      offReconnect();
      refresh.stop();
      clearInterval(timer);
    };
  }, [pair, feed]);
  if (missing) return null;
  const most = Math.max(0, ...(bars ?? []).map((b) => b.total));
  // The bars' scale: the busiest day fills the height (an empty month draws no bar at all).
  const max = Math.max(1, most);
  const kinds = [...new Set((bars ?? []).flatMap((b) => Object.keys(b.byKind)))];
  return (
    <section class="card" aria-labelledby="stats-title">
      <h2 id="stats-title">Alerts per day</h2>
      <label class="field stats-pair">
        <span>Pair</span>
        <select name="statsPair" value={pair} onChange={(e) => setPair(e.currentTarget.value)}>
          <option value="">every pair</option>
          {pairs.map((p) => (
            <option key={p} value={p}>
              {p}
            </option>
          ))}
        </select>
      </label>
      {error && <p class="error">{error}</p>}
      {bars && bars.length === 0 && <p class="muted">No alerts in the last {DAYS} days.</p>}
      {bars && bars.length > 0 && (
        <>
          <div class="stats-bars" data-testid="alert-stats" role="img" aria-label="Alerts per day by kind">
            {bars.map((bar) => (
              <div
                key={bar.t}
                class="stats-day"
                data-testid="stats-day"
                data-day={bar.t.slice(0, 10)}
                data-total={bar.total}
                title={`${bar.t.slice(0, 10)}: ${bar.total} (${Object.entries(bar.byKind)
                  .map(([k, n]) => `${k} ${n}`)
                  .join(', ')})`}
              >
                <div class="stats-stack" style={{ height: `${(bar.total / max) * 100}%` }}>
                  {Object.entries(bar.byKind).map(([kind, count]) => (
                    <span
                      key={kind}
                      data-kind={kind}
                      data-count={count}
                      style={{ flexGrow: count, background: KIND_COLORS[kind] ?? '#64748b' }}
                    />
                  ))}
                </div>
                <small>{bar.t.slice(8, 10)}</small>
              </div>
            ))}
          </div>
          <p class="small muted legend">
            {kinds.map((kind) => (
              <span key={kind}>
                <i style={{ background: KIND_COLORS[kind] ?? '#64748b' }} /> {kind}
              </span>
            ))}{' '}
            · most in a day: {most} · days in UTC
          </p>
        </>
      )}
    </section>
  );
}
