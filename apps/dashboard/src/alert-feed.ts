import { authHeaders, call, connection, errorOf, query } from './api';
import { SseParser } from './sse';
import type { Alert, AlertPage } from './types';

/** How the page hears of new alerts: the stream, polling GET /alerts (no stream on this API), or neither yet. */
export type FeedMode = 'connecting' | 'live' | 'reconnecting' | 'polling' | 'offline';

const STREAM_PATH = '/alerts/stream';
const POLL_MS = 3000;
const MAX_BACKOFF_MS = 15_000;
const READY_WITHIN_MS = 3000;
/** Answers that mean this API has no stream: read the history every few seconds instead. */
const NO_STREAM = new Set([404, 405, 501]);

const delay = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    });
  });

/**
 * Every new alert, once, from `GET /alerts/stream` read with fetch (the key in a header); after a drop it
 * reconnects with `Last-Event-ID`, so the server replays what was missed. Where the API answers the stream
 * with 404 it polls `GET /alerts` instead. Listeners may still see an alert twice across a fallback: they
 * deduplicate by id (see mergeAlerts).
 */
export class AlertFeed {
  private readonly alertListeners = new Set<(alert: Alert) => void>();
  private readonly modeListeners = new Set<(mode: FeedMode) => void>();
  private readonly abort = new AbortController();
  private lastEventId: string | undefined;
  /** The server's `retry:` (ms): the first wait before reconnecting after the stream ended. */
  private retryMs: number | undefined;
  private opened!: () => void;
  /** Resolves once alerts flow (the stream answered, or polling began): load history after it, and no alert falls between. */
  readonly ready = new Promise<void>((resolve) => (this.opened = resolve));
  mode: FeedMode = 'connecting';

  onAlert(listener: (alert: Alert) => void): () => void {
    this.alertListeners.add(listener);
    return () => this.alertListeners.delete(listener);
  }

  onMode(listener: (mode: FeedMode) => void): () => void {
    this.modeListeners.add(listener);
    return () => this.modeListeners.delete(listener);
  }

  start(): void {
    // An API that does not answer the stream still gets its history asked for (and its error shown).
    const timer = setTimeout(() => this.opened(), READY_WITHIN_MS);
    this.abort.signal.addEventListener('abort', () => clearTimeout(timer));
    void this.run();
  }

  stop(): void {
    this.abort.abort();
  }

  private setMode(mode: FeedMode): void {
    this.mode = mode;
    for (const listener of this.modeListeners) listener(mode);
  }

  private emit(alert: Alert): void {
    for (const listener of this.alertListeners) listener(alert);
  }

  private async run(): Promise<void> {
    let backoff = 1000;
    const { signal } = this.abort;
    while (!signal.aborted) {
      const outcome = await this.streamOnce(signal).catch(() => 'error' as const);
      if (signal.aborted) return;
      if (outcome === 'no-stream') return this.poll(signal);
      if (outcome === 'unauthorized') return this.setMode('offline');
      if (outcome === 'ended') backoff = this.retryMs ?? 1000;
      this.setMode('reconnecting');
      await delay(backoff, signal);
      backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
    }
  }

  private async streamOnce(signal: AbortSignal): Promise<'no-stream' | 'unauthorized' | 'error' | 'ended'> {
    let res: Response;
    try {
      res = await fetch(STREAM_PATH, {
        headers: {
          Accept: 'text/event-stream',
          ...authHeaders(),
          ...(this.lastEventId ? { 'Last-Event-ID': this.lastEventId } : {}),
        },
        cache: 'no-store',
        signal,
      });
    } catch (error) {
      if (!signal.aborted) {
        connection.report({
          kind: 'down',
          message: `cannot reach the pairwatch API (${(error as Error).message})`,
        });
      }
      return 'error';
    }
    if (NO_STREAM.has(res.status)) return 'no-stream';
    if (!res.ok || !res.body) {
      await errorOf(res);
      return res.status === 401 ? 'unauthorized' : 'error';
    }
    if (!(res.headers.get('content-type') ?? '').includes('text/event-stream')) return 'no-stream';
    connection.report({ kind: 'ok' });
    this.setMode('live');
    this.opened();
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    const parser = new SseParser();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return 'ended';
      const events = parser.feed(value);
      this.retryMs = parser.retryMs ?? this.retryMs;
      for (const event of events) {
        if (event.id) this.lastEventId = event.id;
        if (event.event !== 'alert') continue;
        try {
          this.emit(JSON.parse(event.data) as Alert);
        } catch {
          // a malformed event is skipped; the next one still counts
        }
      }
    }
  }

  private async poll(signal: AbortSignal): Promise<void> {
    this.setMode('polling');
    this.opened();
    while (!signal.aborted) {
      try {
        const page = await call<AlertPage>('GET', `/alerts${query({ limit: 100 })}`, undefined, signal);
        for (const alert of [...page.items].reverse()) this.emit(alert);
      } catch {
        // the banner shows why; the next round tries again
      }
      await delay(POLL_MS, signal);
    }
  }
}
