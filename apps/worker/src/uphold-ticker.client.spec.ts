import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  DEFAULT_RETRY_AFTER_MS,
  MAX_RETRY_AFTER_MS,
  parseRetryAfter,
  UpholdTickerClient,
} from './uphold-ticker.client';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** A throwaway server on 127.0.0.1:0 whose handler each test sets. */
class ThrowawayServer {
  handler: Handler = (_req, res) => res.end();
  readonly requests: Array<{ method?: string; url?: string; headers: IncomingMessage['headers'] }> = [];
  /** Connections accepted so far. */
  connections = 0;
  private readonly server: Server = createServer((req, res) => {
    this.requests.push({ method: req.method, url: req.url, headers: req.headers });
    this.handler(req, res);
  }).on('connection', () => (this.connections += 1));

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

const json =
  (status: number, body: unknown, headers: Record<string, string> = {}): Handler =>
  (_req, res) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(typeof body === 'string' ? body : JSON.stringify(body));
  };

describe('UpholdTickerClient', () => {
  const server = new ThrowawayServer();
  /** Its deadline is generous, so an answer is never lost to a busy machine (only the timeout cases use `hasty`). */
  let client: UpholdTickerClient;
  /** For the cases about the deadline itself: 300 ms. */
  let hasty: UpholdTickerClient;
  let baseUrl: string;

  beforeAll(async () => {
    baseUrl = await server.start();
    client = new UpholdTickerClient({ baseUrl, requestTimeoutMs: 10_000 });
    hasty = new UpholdTickerClient({ baseUrl, requestTimeoutMs: 300 });
  });

  afterAll(() => server.stop());

  it('GETs /v0/ticker/{pair} asking for JSON', async () => {
    server.handler = json(200, { ask: '1', bid: '1', currency: 'USD' });
    await client.fetchTicker('BTC-USD');
    expect(server.requests.at(-1)).toMatchObject({
      method: 'GET',
      url: '/v0/ticker/BTC-USD',
      headers: { accept: 'application/json', 'user-agent': 'pairwatch-worker' },
    });
  });

  it('keeps one connection for requests one after another', async () => {
    server.handler = json(200, { ask: '1', bid: '1' });
    const own = new UpholdTickerClient({ baseUrl, requestTimeoutMs: 10_000 });
    const before = server.connections;
    for (let i = 0; i < 3; i += 1) {
      await expect(own.fetchTicker('BTC-USD')).resolves.toMatchObject({ kind: 'quote' });
    }
    expect(server.connections - before).toBe(1);
  });

  it('asks once more on a new connection when a kept-alive one is dropped as it is reused', async () => {
    const served = new WeakSet<object>();
    server.handler = (req, res) => {
      // Each connection answers its first request only, as a server does that closed it meanwhile.
      if (served.has(req.socket)) return void req.socket.destroy();
      served.add(req.socket);
      json(200, { ask: '2', bid: '1' })(req, res);
    };
    const own = new UpholdTickerClient({ baseUrl, requestTimeoutMs: 1000 });
    await expect(own.fetchTicker('BTC-USD')).resolves.toEqual({ kind: 'quote', ask: '2', bid: '1' });
    await expect(own.fetchTicker('BTC-USD')).resolves.toEqual({ kind: 'quote', ask: '2', bid: '1' });
  });

  describe('200', () => {
    it.each([
      [{ ask: '63120.45', bid: '63100.00', currency: 'USD' }, '63120.45', '63100.00'],
      // Taken as they come: deciding whether they are valid prices is the detector's job.
      [{ ask: '0', bid: '-1' }, '0', '-1'],
      [{ ask: 'abc', bid: '', extra: [1, 2] }, 'abc', ''],
    ])('%j is a quote', async (body, ask, bid) => {
      server.handler = json(200, body);
      await expect(client.fetchTicker('BTC-USD')).resolves.toEqual({ kind: 'quote', ask, bid });
    });

    it.each<[string, string, RegExp]>([
      ['malformed JSON', '{"ask": "1",', /not JSON/],
      ['HTML', '<html>busy</html>', /not JSON/],
      ['an empty body', '', /not JSON/],
      ['an array', '[]', /not a JSON object/],
      ['null', 'null', /not a JSON object/],
      ['no bid', '{"ask":"1"}', /no bid string/],
      ['no ask nor bid', '{"currency":"USD"}', /no ask\/bid string/],
      ['numbers instead of strings', '{"ask":63120.45,"bid":63100}', /no ask\/bid string/],
      ['a null ask', '{"ask":null,"bid":"1"}', /no ask string/],
    ])('%s is a bad response', async (_label, body, message) => {
      server.handler = json(200, body);
      const result = await client.fetchTicker('BTC-USD');
      expect(result).toEqual({ kind: 'bad-response', message: expect.stringMatching(message) });
    });

    it('refuses an oversized body', async () => {
      server.handler = json(200, JSON.stringify({ ask: '1', bid: '1', pad: 'x'.repeat(100_000) }));
      await expect(client.fetchTicker('BTC-USD')).resolves.toEqual({
        kind: 'bad-response',
        message: expect.stringMatching(/too large/),
      });
    });

    it('refuses an oversized body sent without a length', async () => {
      server.handler = (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        for (let i = 0; i < 100; i += 1) res.write('x'.repeat(1000));
        res.end();
      };
      await expect(client.fetchTicker('BTC-USD')).resolves.toMatchObject({ kind: 'bad-response' });
    });
  });

  it('404 is an unknown pair', async () => {
    server.handler = json(404, { code: 'not_found' });
    await expect(client.fetchTicker('BTC-XYZ')).resolves.toEqual({ kind: 'unknown-pair' });
  });

  describe('429', () => {
    it.each<[string, Record<string, string>, number]>([
      ['Retry-After in seconds', { 'retry-after': '7' }, 7000],
      ['no Retry-After', {}, DEFAULT_RETRY_AFTER_MS],
      ['an unreadable Retry-After', { 'retry-after': 'soon' }, DEFAULT_RETRY_AFTER_MS],
      ['a huge Retry-After', { 'retry-after': '86400' }, MAX_RETRY_AFTER_MS],
    ])('with %s waits %i ms', async (_label, headers, retryAfterMs) => {
      server.handler = json(429, { code: 'too_many_requests' }, headers);
      await expect(client.fetchTicker('BTC-USD')).resolves.toEqual({ kind: 'rate-limited', retryAfterMs });
    });

    it('with Retry-After as an HTTP-date waits until then', async () => {
      const at = new Date(Date.now() + 30_000);
      at.setMilliseconds(0);
      server.handler = json(429, {}, { 'retry-after': at.toUTCString() });
      const result = await client.fetchTicker('BTC-USD');
      expect(result.kind).toBe('rate-limited');
      const { retryAfterMs } = result as { retryAfterMs: number };
      expect(retryAfterMs).toBeGreaterThan(28_000);
      expect(retryAfterMs).toBeLessThanOrEqual(30_000);
    });

    it('uses the configured default and cap', async () => {
      const custom = new UpholdTickerClient({
        baseUrl,
        requestTimeoutMs: 10_000,
        defaultRetryAfterMs: 5000,
        maxRetryAfterMs: 10_000,
      });
      server.handler = json(429, {});
      await expect(custom.fetchTicker('BTC-USD')).resolves.toEqual({
        kind: 'rate-limited',
        retryAfterMs: 5000,
      });
      server.handler = json(429, {}, { 'retry-after': '60' });
      await expect(custom.fetchTicker('BTC-USD')).resolves.toEqual({
        kind: 'rate-limited',
        retryAfterMs: 10_000,
      });
    });
  });

  it.each([500, 502, 503, 504, 400, 401, 403, 418])(
    '%i is a server error carrying the status',
    async (status) => {
      server.handler = json(status, { code: 'oops' });
      await expect(client.fetchTicker('BTC-USD')).resolves.toEqual({ kind: 'server-error', status });
    },
  );

  it("keeps the message of a small JSON error body as the failure's detail (one line, cut short)", async () => {
    server.handler = json(502, {
      code: 'bad_upstream_answer',
      message: 'the USD list entry for\nBTC-USD: ask',
    });
    await expect(client.fetchTicker('BTC-USD')).resolves.toEqual({
      kind: 'server-error',
      status: 502,
      detail: 'the USD list entry for BTC-USD: ask',
    });
    server.handler = json(500, { message: 'x'.repeat(500) });
    const long = await client.fetchTicker('BTC-USD');
    expect(long).toMatchObject({ kind: 'server-error', status: 500 });
    expect((long as { detail: string }).detail).toHaveLength(201);
    for (const body of ['not json', '{"message": 42}', JSON.stringify({ message: 'y'.repeat(5000) })]) {
      server.handler = json(503, body);
      await expect(client.fetchTicker('BTC-USD')).resolves.toEqual({ kind: 'server-error', status: 503 });
    }
  });

  describe('network errors', () => {
    it('a request that hangs times out', async () => {
      server.handler = () => undefined; // never answers
      const started = Date.now();
      await expect(hasty.fetchTicker('BTC-USD')).resolves.toEqual({
        kind: 'network-error',
        message: 'request timed out after 300 ms',
      });
      expect(Date.now() - started).toBeLessThan(2000);
    });

    it('a body that stalls times out', async () => {
      server.handler = (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('{"ask":'); // and nothing more
      };
      await expect(hasty.fetchTicker('BTC-USD')).resolves.toEqual({
        kind: 'network-error',
        message: 'request timed out after 300 ms',
      });
    });

    it('a connection dropped mid-answer is a network error', async () => {
      server.handler = (req) => req.socket.destroy();
      await expect(client.fetchTicker('BTC-USD')).resolves.toMatchObject({ kind: 'network-error' });
    });

    it('a refused connection is a network error naming the cause', async () => {
      const closed = new ThrowawayServer();
      const url = await closed.start();
      await closed.stop();
      const refused = new UpholdTickerClient({ baseUrl: url, requestTimeoutMs: 1000 });
      await expect(refused.fetchTicker('BTC-USD')).resolves.toEqual({
        kind: 'network-error',
        message: expect.stringMatching(/ECONNREFUSED/),
      });
    });

    it('aborting through the signal ends the request early', async () => {
      server.handler = () => undefined;
      const slow = new UpholdTickerClient({ baseUrl, requestTimeoutMs: 10_000 });
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 50);
      const started = Date.now();
      await expect(slow.fetchTicker('BTC-USD', controller.signal)).resolves.toEqual({
        kind: 'network-error',
        message: 'request aborted',
      });
      expect(Date.now() - started).toBeLessThan(2000);
    });
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2026-11-24T07:00:00Z');
  const options = { defaultMs: 60_000, maxMs: 300_000 };

  it.each<[string | null | undefined, number]>([
    ['0', 0],
    ['1', 1000],
    ['120', 120_000],
    [' 5 ', 5000],
    ['1.5', 1500],
    ['300', 300_000],
    ['301', 300_000],
    ['99999999999', 300_000],
    ['Tue, 24 Nov 2026 07:00:30 GMT', 30_000],
    ['Tue, 24 Nov 2026 07:10:00 GMT', 300_000],
    ['Tue, 24 Nov 2026 06:59:00 GMT', 0],
    [null, 60_000],
    [undefined, 60_000],
    ['', 60_000],
    ['-5', 60_000],
    ['soon', 60_000],
    ['Not a date at all', 60_000],
    ['1e3', 60_000],
  ])('%p → %i ms', (header, expected) => {
    expect(parseRetryAfter(header, now, options)).toBe(expected);
  });

  it('caps the default too', () => {
    expect(parseRetryAfter(null, now, { defaultMs: 60_000, maxMs: 10_000 })).toBe(10_000);
  });
});
