import { Component, type ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { AlertFeed, type FeedMode } from './alert-feed';
import { AlertHistory } from './alerts';
import { apiKey, call, connection, type Connection } from './api';
import { errorText } from './format';
import { MonitorForm, MonitorList } from './monitors';
import { PriceChart } from './price-chart';
import type { Monitor } from './types';
import { ChannelsSection } from './channels';
import { AlertStats } from './stats';

const MONITORS_POLL_MS = 2000;

export function App() {
  const [conn, setConn] = useState<Connection>(connection.get());
  // A new key remounts the dashboard: every request and the stream start again with it.
  const [generation, setGeneration] = useState(0);
  useEffect(() => connection.subscribe(setConn), []);
  return (
    <>
      <Banner conn={conn} />
      {conn.kind === 'unauthorized' && (
        <KeyPrompt
          hadKey={conn.hadKey}
          message={conn.message}
          onSave={(key) => {
            apiKey.set(key);
            connection.report({ kind: 'ok' });
            setGeneration((n) => n + 1);
          }}
        />
      )}
      <Guard>
        <Dashboard key={generation} />
      </Guard>
    </>
  );
}

function Banner({ conn }: { conn: Connection }) {
  if (conn.kind === 'ok' || conn.kind === 'unauthorized') return null;
  const text =
    conn.kind === 'down'
      ? `The API is not answering: ${conn.message}. Retrying…`
      : `Too many requests (429): ${conn.message}${conn.retryAfterSeconds !== undefined ? ` — try again in ${conn.retryAfterSeconds} s` : ''}.`;
  return (
    <div class="banner error" role="alert" data-testid="banner">
      {text}
    </div>
  );
}

function KeyPrompt(props: { hadKey: boolean; message: string; onSave: (key: string) => void }) {
  const [key, setKey] = useState('');
  return (
    <div class="overlay">
      <form
        class="card key-prompt"
        aria-label="API key"
        onSubmit={(event) => {
          event.preventDefault();
          if (key) props.onSave(key);
        }}
      >
        <h2>API key</h2>
        <p>This pairwatch needs its API key. It is kept for this browser tab's session only.</p>
        {props.hadKey && (
          <p class="error" role="alert" data-testid="key-error">
            The key was refused (401): {props.message}
          </p>
        )}
        <label>
          Key
          <input
            type="password"
            name="apiKey"
            autocomplete="off"
            value={key}
            onInput={(event) => setKey(event.currentTarget.value)}
            autofocus
          />
        </label>
        <button type="submit">Use this key</button>
      </form>
    </div>
  );
}

/** Never a blank page: a render error shows itself instead of unmounting everything. */
class Guard extends Component<{ children: ComponentChildren }, { error?: unknown }> {
  state: { error?: unknown } = {};
  componentDidCatch(error: unknown) {
    this.setState({ error });
  }
  render() {
    if (this.state.error === undefined) return this.props.children;
    return (
      <main class="card">
        <h2>Something went wrong in the page</h2>
        <p class="error">{errorText(this.state.error)}</p>
        <button onClick={() => location.reload()}>Reload</button>
      </main>
    );
  }
}

function Dashboard() {
  const [feed] = useState(() => new AlertFeed());
  const [mode, setMode] = useState<FeedMode>(feed.mode);
  const [monitors, setMonitors] = useState<Monitor[] | undefined>();
  const [monitorsError, setMonitorsError] = useState<string>();
  const [selected, setSelected] = useState<string>();

  useEffect(() => {
    const off = feed.onMode(setMode);
    feed.start();
    return () => {
      off();
      feed.stop();
    };
  }, [feed]);

  const refresh = async () => {
    try {
      const list = await call<Monitor[]>('GET', '/monitors');
      setMonitors(list);
      setMonitorsError(undefined);
    } catch (error) {
      setMonitorsError(errorText(error));
    }
  };
  useEffect(() => {
    void refresh();
    const timer = setInterval(() => void refresh(), MONITORS_POLL_MS);
    return () => clearInterval(timer);
  }, []);

  // The chart follows the chosen monitor, else the first active one.
  const shown =
    monitors?.find((m) => m.id === selected) ??
    monitors?.find((m) => m.status === 'running' || m.status === 'starting') ??
    monitors?.[0];

  return (
    <div class="page">
      <header class="top">
        <h1>pairwatch</h1>
        <span class={`feed feed-${mode}`} data-testid="feed-mode" title="How new alerts reach this page">
          {mode === 'live' ? '● live' : mode === 'polling' ? '◌ polling' : mode}
        </span>
        <a href="/docs" target="_blank" rel="noreferrer">
          API docs
        </a>
      </header>
      <div class="grid">
        <section class="card monitors" aria-labelledby="monitors-title">
          <h2 id="monitors-title">Monitors</h2>
          {monitorsError && <p class="error">{monitorsError}</p>}
          <MonitorList
            monitors={monitors}
            selectedId={shown?.id}
            onSelect={setSelected}
            onChanged={() => void refresh()}
          />
          <MonitorForm
            onCreated={(monitor) => {
              setSelected(monitor.id);
              void refresh();
            }}
          />
        </section>
        <section class="card chart-card" aria-labelledby="chart-title">
          <h2 id="chart-title">
            Prices{shown ? ` — ${shown.pair}` : ''}
            {shown?.priceField && <span class="muted"> ({shown.priceField})</span>}
          </h2>
          {shown ? (
            <PriceChart key={shown.id} monitor={shown} feed={feed} />
          ) : (
            <p class="muted">Start a monitor to see its prices here.</p>
          )}
        </section>
      </div>
      <section class="card" aria-labelledby="alerts-title">
        <h2 id="alerts-title">Alerts</h2>
        <AlertHistory feed={feed} monitors={monitors ?? []} />
      </section>
      <AlertStats pairs={[...new Set((monitors ?? []).map((m) => m.pair))]} feed={feed} />
      <section class="card" aria-labelledby="channels-title">
        <ChannelsSection />
      </section>
    </div>
  );
}
