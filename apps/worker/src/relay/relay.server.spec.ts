import { RELAY_INTERVAL_HEADER, RELAY_SOURCE_HEADER } from '@pairwatch/contracts';
import { captureLogger, entry, FakeUpstream, list } from '../testing/worker.fakes';
import { UpholdTickerClient } from '../uphold-ticker.client';
import { DEFAULT_MAX_AGE_MS, maxAgeOf, RelayServer } from './relay.server';
import { TickerRelay } from './ticker-relay';

describe('RelayServer (real HTTP on 127.0.0.1)', () => {
  let upstream: FakeUpstream;
  let server: RelayServer;
  let base: string;

  beforeEach(async () => {
    upstream = new FakeUpstream();
    upstream.lists.set(
      'USD',
      list(entry('BTCUSD', 'USD', '63120.45', '63110.00'), entry('ETHUSD', 'USD', 'x', '1')),
    );
    server = new RelayServer(new TickerRelay({ upstream, rateLimitPerMin: 250 }), captureLogger().logger);
    base = `http://127.0.0.1:${await server.listen(0, '127.0.0.1')}`;
  });

  afterEach(() => server.close());

  it("answers a worker's pair request in Uphold's format, naming the upstream request that served it", async () => {
    const response = await fetch(`${base}/v0/ticker/btc-usd`, {
      headers: { [RELAY_INTERVAL_HEADER]: '5000' },
    });
    expect(response.status).toBe(200);
    expect(response.headers.get(RELAY_SOURCE_HEADER)).toBe('list:USD');
    expect(await response.json()).toEqual({ ask: '63120.45', bid: '63110.00', currency: 'USD' });
  });

  it('is what the worker ticker client reads: quote, bad price as 502, unknown pair as 404, 429 with Retry-After', async () => {
    const client = new UpholdTickerClient({ baseUrl: base, requestTimeoutMs: 2000, intervalMs: 5000 });
    expect(await client.fetchTicker('BTC-USD')).toEqual({ kind: 'quote', ask: '63120.45', bid: '63110.00' });
    expect(await client.fetchTicker('ETH-USD')).toEqual({
      kind: 'server-error',
      status: 502,
      detail: expect.stringMatching(/^the USD list entry for ETH-USD: /) as string,
    });
    expect(await client.fetchTicker('NOPE-USD')).toEqual({ kind: 'unknown-pair' });
    upstream.lists.set('EUR', { kind: 'rate-limited', retryAfterMs: 10_000 });
    expect(await client.fetchTicker('BTC-EUR')).toEqual({ kind: 'rate-limited', retryAfterMs: 10_000 });
  });

  it('passes a currency list on without the entries whose prices it could not read', async () => {
    const response = await fetch(`${base}/v0/ticker/USD`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual([
      { pair: 'BTCUSD', currency: 'USD', ask: '63120.45', bid: '63110.00' },
    ]);
  });

  it('serves /healthz and /stats, and 404 or 405 for anything else', async () => {
    await fetch(`${base}/v0/ticker/BTC-USD`);
    expect(await (await fetch(`${base}/healthz`)).json()).toEqual({ status: 'ok' });
    const stats = (await (await fetch(`${base}/stats`)).json()) as Record<string, unknown>;
    expect(stats).toMatchObject({
      upstreamRequests: { 'list:200': 1 },
      answers: { '200': 1 },
      pausedForMs: 0,
    });
    for (const path of [
      '/',
      '/v0/ticker/',
      '/v0/ticker/B',
      '/v0/ticker/BTC-USD/x',
      '/v0/ticker/%E0%A4%A',
      '/v0/ticker/BTC_USD',
    ]) {
      expect([path, (await fetch(`${base}${path}`)).status]).toEqual([path, 404]);
    }
    expect((await fetch(`${base}/v0/ticker/BTC-USD`, { method: 'POST' })).status).toBe(405);
    expect(upstream.calls).toEqual(['list:USD']);
  });
});

describe('maxAgeOf (the interval header)', () => {
  it.each<[string | string[] | undefined, number]>([
    ['5000', 5000],
    ['1000', 1000],
    ['3600000', 3_600_000],
    [['2000', '9000'], 2000],
    [undefined, DEFAULT_MAX_AGE_MS],
    ['999', DEFAULT_MAX_AGE_MS],
    ['3600001', DEFAULT_MAX_AGE_MS],
    ['5e3', DEFAULT_MAX_AGE_MS],
    ['-5000', DEFAULT_MAX_AGE_MS],
    ['', DEFAULT_MAX_AGE_MS],
  ])('%j → %i ms', (header, expected) => {
    expect(maxAgeOf(header)).toBe(expected);
  });
});
