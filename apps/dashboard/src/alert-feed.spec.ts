import { AlertFeed, type FeedMode } from './alert-feed';
import type { Alert } from './types';

const alert = (id: string): Alert =>
  ({ id, monitorId: 'm1', pair: 'BTC-USD', observedAt: '2026-01-01T00:00:00Z' }) as Alert;

/** A text/event-stream answer that sends these chunks, then ends (or stays open). */
function streamAnswer(chunks: string[], end = true): Response {
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(new TextEncoder().encode(chunk));
      if (end) controller.close();
    },
  });
  return new Response(body, { status: 200, headers: { 'Content-Type': 'text/event-stream; charset=utf-8' } });
}

interface Call {
  url: string;
  headers: Record<string, string>;
}

function fakeFetch(answers: ((call: Call) => Response)[]): Call[] {
  const calls: Call[] = [];
  globalThis.fetch = jest.fn((input: string, init?: RequestInit) => {
    const call = { url: input, headers: (init?.headers ?? {}) as Record<string, string> };
    calls.push(call);
    const answer = answers[Math.min(calls.length - 1, answers.length - 1)];
    return Promise.resolve(answer(call));
  }) as typeof fetch;
  return calls;
}

async function until<T>(what: string, probe: () => T | undefined, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('AlertFeed', () => {
  const realFetch = globalThis.fetch;
  let feed: AlertFeed | undefined;
  afterEach(() => {
    feed?.stop();
    globalThis.fetch = realFetch;
  });

  it('emits each alert event and reconnects after a drop, after the server retry: delay, with Last-Event-ID', async () => {
    const calls = fakeFetch([
      () => streamAnswer(['retry: 50\n\n: heartbeat\n\nevent: alert\nid: cur-1\ndata: ', '{"id":"a1"}\n\n']),
      () => streamAnswer(['event: alert\nid: cur-2\ndata: {"id":"a2"}\n\n'], false),
    ]);
    feed = new AlertFeed();
    const seen: string[] = [];
    const modes: FeedMode[] = [];
    feed.onAlert((a) => seen.push(a.id));
    feed.onMode((m) => modes.push(m));
    feed.start();
    await until('both alerts', () => (seen.length === 2 ? true : undefined));
    expect(seen).toEqual(['a1', 'a2']);
    expect(calls.map((c) => c.url)).toEqual(['/alerts/stream', '/alerts/stream']);
    expect(calls[0].headers['Last-Event-ID']).toBeUndefined();
    expect(calls[1].headers['Last-Event-ID']).toBe('cur-1');
    expect(calls[1].headers.Accept).toBe('text/event-stream');
    expect(modes).toEqual(['live', 'reconnecting', 'live']);
  });

  it('polls GET /alerts where the API has no stream (404), oldest first', async () => {
    const calls = fakeFetch([
      () => new Response('{"statusCode":404}', { status: 404 }),
      () =>
        new Response(JSON.stringify({ items: [alert('new'), alert('old')], nextCursor: null }), {
          status: 200,
          headers: { 'Content-Type': 'application/json' },
        }),
    ]);
    feed = new AlertFeed();
    const seen: string[] = [];
    feed.onAlert((a) => seen.push(a.id));
    feed.start();
    await until('the polled alerts', () => (seen.length >= 2 ? true : undefined));
    expect(seen.slice(0, 2)).toEqual(['old', 'new']);
    expect(feed.mode).toBe('polling');
    expect(calls[1].url).toBe('/alerts?limit=100');
    await expect(feed.ready).resolves.toBeUndefined();
  });
});
