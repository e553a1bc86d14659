import { useEffect, useRef, useState } from 'preact/hooks';
import { call, query } from './api';
import { carriedAlerts, type ChannelDelivery, refreshedDeliveries } from './channels-model';
import { errorText, utc } from './format';
import type { Page } from './types';

/**
 * One delivery log for webhooks and channels: `base` is `/webhooks/:id` or `/channels/:id`. Newest first, 20
 * a page, refreshed every 5 s; each row's attempts in its title; a failed delivery can be retried; a digest
 * lists the alerts it carries and an alert it carried names it.
 */
export function DeliveryLog({ base, reload, testId }: { base: string; reload: number; testId?: string }) {
  const [items, setItems] = useState<ChannelDelivery[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [error, setError] = useState<string>();
  /** Whether "Older deliveries" loaded a page: the refresh then keeps those rows and their cursor. */
  const olderLoaded = useRef(false);
  const load = async (after?: string) => {
    try {
      const page = await call<Page<ChannelDelivery>>(
        'GET',
        `${base}/deliveries${query({ limit: 20, cursor: after })}`,
      );
      if (after) olderLoaded.current = true;
      const older = olderLoaded.current;
      setItems((shown) =>
        after ? [...shown, ...page.items] : refreshedDeliveries(shown, page.items, older),
      );
      if (after || !older) setCursor(page.nextCursor);
      setError(undefined);
    } catch (caught) {
      setError(errorText(caught));
    }
  };
  useEffect(() => {
    olderLoaded.current = false;
    void load();
    const timer = setInterval(() => void load(), 5000);
    return () => clearInterval(timer);
  }, [base, reload]);
  return (
    <div class="table-wrap">
      {error && <p class="error">{error}</p>}
      <table class="deliveries" data-testid={testId}>
        <thead>
          <tr>
            <th>Created (UTC)</th>
            <th>Event</th>
            <th>Status</th>
            <th>Attempts</th>
            <th>Last answer</th>
            <th>Carries</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {items.map((d) => {
            const carried = carriedAlerts(d);
            return (
              <tr key={d.id} data-testid="delivery" data-status={d.status} data-carries={carried.length}>
                <td>{utc(d.createdAt)}</td>
                <td>{d.eventType}</td>
                <td class={`delivery-${d.status}`}>
                  {d.status}
                  {d.nextAttemptAt ? ` (next ${utc(d.nextAttemptAt)})` : ''}
                  {d.digestId ? <span class="muted"> in digest {d.digestId.slice(0, 8)}</span> : null}
                </td>
                <td
                  title={(d.attempts ?? [])
                    .map((a) => `${utc(a.at)} ${a.status ?? '—'} ${a.durationMs} ms ${a.error ?? ''}`)
                    .join('\n')}
                >
                  {d.attempts?.length ?? 0}
                </td>
                <td>
                  {d.lastStatus ?? '—'} {d.lastError ? <span class="error">{d.lastError}</span> : ''}
                </td>
                <td class="carries">
                  {carried.length > 0 ? (
                    <details>
                      <summary>
                        digest of {carried.length} alert{carried.length === 1 ? '' : 's'}
                      </summary>
                      <ul>
                        {carried.map((text, i) => (
                          <li key={i}>{text}</li>
                        ))}
                      </ul>
                    </details>
                  ) : null}
                </td>
                <td>
                  {d.status === 'failed' && (
                    <button
                      onClick={() => void call('POST', `${base}/deliveries/${d.id}/retry`).then(() => load())}
                    >
                      Retry
                    </button>
                  )}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {items.length === 0 && !error && <p class="muted small">No deliveries yet.</p>}
      {cursor && <button onClick={() => void load(cursor)}>Older deliveries</button>}
    </div>
  );
}
