import { bidBelow, FakeUpholdServer } from './fake-uphold.server';
import { bidFor, randomWalkStep, seedFor } from './random-walk';

describe('FakeUpholdServer', () => {
  const server = new FakeUpholdServer();
  let url: string;

  const get = (path: string, init?: RequestInit) => fetch(`${url}${path}`, init);

  beforeAll(async () => {
    ({ url } = await server.start());
  });

  afterAll(() => server.stop());

  beforeEach(() => {
    server.clearFaults();
    server.clearRequestLog();
    for (const pair of server.pairs()) server.removePair(pair);
    server.setQuote('BTC-USD', { ask: '63120.45', bid: '63100.00' });
  });

  it('listens on loopback and reports its URL', () => {
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(server.url).toBe(url);
  });

  it('answers a known pair like Uphold: ask, bid and currency, prices as strings', async () => {
    const res = await get('/v0/ticker/BTC-USD');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    await expect(res.text()).resolves.toBe('{"ask":"63120.45","bid":"63100.00","currency":"USD"}');
  });

  it('takes the currency from the second code', async () => {
    server.setQuote('XRP-EUR', { ask: '0.5', bid: '0.49' });
    await expect((await get('/v0/ticker/XRP-EUR')).json()).resolves.toEqual({
      ask: '0.5',
      bid: '0.49',
      currency: 'EUR',
    });
  });

  it('matches pairs whatever their case', async () => {
    expect((await get('/v0/ticker/btc-usd')).status).toBe(200);
  });

  it('serves whatever strings it was given, bad prices included', async () => {
    server.setQuote('BTC-USD', { ask: '0', bid: 'abc' });
    await expect((await get('/v0/ticker/BTC-USD')).json()).resolves.toMatchObject({ ask: '0', bid: 'abc' });
  });

  it('setPrice() sets the ask and a bid just under it, exactly', async () => {
    server.setPrice('ETH-USD', '3000.00');
    await expect((await get('/v0/ticker/ETH-USD')).json()).resolves.toEqual({
      ask: '3000.00',
      bid: '2999.7',
      currency: 'USD',
    });
    expect(server.quote('ETH-USD')).toEqual({ ask: '3000.00', bid: '2999.7' });
  });

  it('answers 404 not_found for a pair it does not know, and after removePair()', async () => {
    const unknown = await get('/v0/ticker/DOGE-USD');
    expect(unknown.status).toBe(404);
    await expect(unknown.json()).resolves.toMatchObject({ code: 'not_found' });
    server.removePair('BTC-USD');
    expect((await get('/v0/ticker/BTC-USD')).status).toBe(404);
  });

  it.each([
    ['/', 404],
    ['/v0/ticker', 404],
    ['/v0/ticker/BTC-USD/extra', 404],
    ['/v1/ticker/BTC-USD', 404],
  ])('answers %s with %i', async (path, status) => {
    const res = await get(path);
    expect(res.status).toBe(status);
    await expect(res.json()).resolves.toMatchObject({ code: 'not_found' });
  });

  it.each(['POST', 'PUT', 'DELETE'])('refuses %s with 405', async (method) => {
    const res = await get('/v0/ticker/BTC-USD', { method });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('GET');
  });

  describe('faults', () => {
    it('429 with Retry-After in seconds, for the next request only by default', async () => {
      server.failNext('BTC-USD', { status: 429, retryAfterSeconds: 7 });
      const limited = await get('/v0/ticker/BTC-USD');
      expect(limited.status).toBe(429);
      expect(limited.headers.get('retry-after')).toBe('7');
      await expect(limited.json()).resolves.toMatchObject({ code: 'too_many_requests' });
      expect((await get('/v0/ticker/BTC-USD')).status).toBe(200);
    });

    it('429 with a raw Retry-After value, or none', async () => {
      const date = 'Wed, 21 Oct 2026 07:28:00 GMT';
      server.failNext('BTC-USD', { status: 429, retryAfter: date });
      server.failNext('BTC-USD', { status: 429 });
      expect((await get('/v0/ticker/BTC-USD')).headers.get('retry-after')).toBe(date);
      expect((await get('/v0/ticker/BTC-USD')).headers.get('retry-after')).toBeNull();
    });

    it('500 for N requests, in order with other faults', async () => {
      server.failNext('BTC-USD', { status: 500 }, 2);
      server.failNext('BTC-USD', { status: 503, body: 'upstream down' });
      const statuses = [];
      for (let i = 0; i < 4; i += 1) statuses.push((await get('/v0/ticker/BTC-USD')).status);
      expect(statuses).toEqual([500, 500, 503, 200]);
    });

    it('until cleared with times = Infinity', async () => {
      server.failNext('BTC-USD', { status: 502 }, Infinity);
      for (let i = 0; i < 3; i += 1) expect((await get('/v0/ticker/BTC-USD')).status).toBe(502);
      server.clearFaults('BTC-USD');
      expect((await get('/v0/ticker/BTC-USD')).status).toBe(200);
    });

    it('only for the pair it was set on', async () => {
      server.setQuote('ETH-USD', { ask: '1', bid: '1' });
      server.failNext('ETH-USD', { status: 500 });
      expect((await get('/v0/ticker/BTC-USD')).status).toBe(200);
      expect((await get('/v0/ticker/ETH-USD')).status).toBe(500);
    });

    it('a raw body (malformed JSON, missing fields)', async () => {
      server.failNext('BTC-USD', { body: '{"ask": "1",' });
      server.failNext('BTC-USD', { body: '<html>oops</html>', contentType: 'text/html' });
      const malformed = await get('/v0/ticker/BTC-USD');
      expect(malformed.status).toBe(200);
      await expect(malformed.text()).resolves.toBe('{"ask": "1",');
      const html = await get('/v0/ticker/BTC-USD');
      expect(html.headers.get('content-type')).toBe('text/html');
      await expect(html.text()).resolves.toBe('<html>oops</html>');
    });

    it('a hang: the answer comes only after hangMs', async () => {
      server.failNext('BTC-USD', { hangMs: 300 });
      const started = Date.now();
      const res = await get('/v0/ticker/BTC-USD');
      expect(Date.now() - started).toBeGreaterThanOrEqual(290);
      expect(res.status).toBe(200);
    });

    it('a hang longer than the client waits looks like a timeout', async () => {
      server.failNext('BTC-USD', { hangMs: 60_000 });
      await expect(get('/v0/ticker/BTC-USD', { signal: AbortSignal.timeout(100) })).rejects.toThrow();
      expect((await get('/v0/ticker/BTC-USD')).status).toBe(200);
    });

    it('rejects a non-positive count', () => {
      expect(() => server.failNext('BTC-USD', { status: 500 }, 0)).toThrow(RangeError);
    });
  });

  describe('request log', () => {
    it('counts ticker requests per pair, unknown pairs and faults included', async () => {
      server.failNext('BTC-USD', { status: 500 });
      await get('/v0/ticker/BTC-USD');
      await get('/v0/ticker/BTC-USD');
      await get('/v0/ticker/NOPE-USD');
      await get('/elsewhere');
      expect(server.requestCount('BTC-USD')).toBe(2);
      expect(server.requestCount('btc-usd')).toBe(2);
      expect(server.requestCount('NOPE-USD')).toBe(1);
      expect(server.requestCount()).toBe(3);
    });

    it('records arrival times and answers, for rate measurements', async () => {
      const before = Date.now();
      server.failNext('BTC-USD', { status: 429, retryAfterSeconds: 1 });
      await get('/v0/ticker/BTC-USD');
      await get('/v0/ticker/BTC-USD');
      const log = server.requestLog('BTC-USD');
      expect(log.map((r) => r.status)).toEqual([429, 200]);
      for (const r of log) {
        expect(r.pair).toBe('BTC-USD');
        expect(r.at).toBeGreaterThanOrEqual(before);
        expect(r.at).toBeLessThanOrEqual(Date.now());
      }
      expect(log[1].at).toBeGreaterThanOrEqual(log[0].at);
    });

    it('hands out copies', async () => {
      await get('/v0/ticker/BTC-USD');
      server.requestLog()[0].status = 999;
      expect(server.requestLog()[0].status).toBe(200);
    });
  });

  describe('lifecycle', () => {
    it('stop() drops hanging connections and frees the port; start() again works', async () => {
      const other = new FakeUpholdServer();
      const { url: otherUrl, port } = await other.start();
      other.setPrice('BTC-USD', '1.00');
      other.failNext('BTC-USD', { hangMs: 60_000 });
      const hanging = fetch(`${otherUrl}/v0/ticker/BTC-USD`).then(
        () => 'answered',
        () => 'dropped',
      );
      await new Promise((resolve) => setTimeout(resolve, 50));
      const started = Date.now();
      await other.stop();
      expect(Date.now() - started).toBeLessThan(1000);
      await expect(hanging).resolves.toBe('dropped');
      const again = await other.start(port);
      expect(again.url).toBe(otherUrl);
      await other.stop();
      await other.stop(); // harmless twice
    });

    it('refuses to start twice', async () => {
      await expect(server.start()).rejects.toThrow('already started');
    });

    it('has no URL before start()', () => {
      expect(() => new FakeUpholdServer().url).toThrow('not started');
    });
  });
});

describe('bidBelow', () => {
  it.each([
    ['100', '99.99'],
    ['3000.00', '2999.7'],
    ['63120.45', '63114.137955'],
    ['0.5234', '0.52334766'],
    ['0', '0'],
    ['abc', 'abc'],
  ])('%s → %s', (ask, bid) => {
    expect(bidBelow(ask)).toBe(bid);
  });
});

describe('random walk', () => {
  it.each([
    [() => 0, '99.95'],
    [() => 0.5, '100.00'],
    [() => 0.999_999_9, '100.05'],
  ])('moves by at most ±stepPercent, keeping the decimals', (random, next) => {
    expect(randomWalkStep('100.00', '0.05', 2, random)).toBe(next);
  });

  it('never goes to zero or below', () => {
    expect(randomWalkStep('0.01', '100', 2, () => 0)).toBe('0.01');
  });

  it('stays a plain decimal string over many steps', () => {
    let price = seedFor('XRP-USD').price;
    for (let i = 0; i < 1000; i += 1) {
      price = randomWalkStep(price, '0.5', 4, Math.random);
      expect(price).toMatch(/^\d+\.\d{4}$/);
    }
  });

  it('seeds known pairs and defaults others', () => {
    expect(seedFor('BTC-USD')).toEqual({ price: '63120.45', decimals: 2 });
    expect(seedFor('XRP-USD')).toEqual({ price: '0.5234', decimals: 4 });
    expect(seedFor('ABC-XYZ')).toEqual({ price: '100.00', decimals: 2 });
  });

  it('puts the bid under the ask with the same decimals', () => {
    expect(bidFor('63120.45', '0.05', 2)).toBe('63088.88');
    expect(bidFor('0.0001', '0.05', 4)).toBe('0.0001');
  });
});
