import { IncomingHttpHeaders, request } from 'node:http';
import { bidBelow, FakeUpholdServer, ListEntry } from './fake-uphold.server';
import { bidFor, randomWalkStep, seedFor, seedQuote } from './random-walk';

/** Polls `condition` until it holds; fails after `timeoutMs`. */
async function waitFor(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A GET from a chosen local address (any of 127.0.0.0/8 reaches a server on 127.0.0.1), new connection each time. */
function getFrom(base: string, path: string, localAddress = '127.0.0.1'): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}${path}`, { localAddress, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.setTimeout(5000, () => req.destroy(new Error(`GET ${path} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

/** `pair/currency` of each entry: what a list holds, in order. */
const entryNames = (entries: ListEntry[]): string[] => entries.map((e) => `${e.pair}/${e.currency}`);

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
    server.clearListEdits();
    server.clearRequestLog();
    server.setRateLimit(null);
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

  describe('currency lists', () => {
    const list = async (currency: string): Promise<ListEntry[]> => {
      const res = await get(`/v0/ticker/${currency}`);
      expect(res.status).toBe(200);
      return (await res.json()) as ListEntry[];
    };

    beforeEach(() => {
      server.setQuote('ETH-USD', { ask: '4', bid: '3' });
      server.setQuote('BTC-EUR', { ask: '2', bid: '0.5' });
    });

    it("answers every pair with the currency on either side, both directions, in Uphold's shape", async () => {
      const res = await get('/v0/ticker/USD');
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      const text = await res.text();
      expect(text.startsWith('[{"ask":"63120.45","bid":"63100.00","currency":"USD","pair":"BTCUSD"},')).toBe(
        true,
      );
      expect(JSON.parse(text)).toEqual([
        { ask: '63120.45', bid: '63100.00', currency: 'USD', pair: 'BTCUSD' },
        // 1/63100.00 rounded up, 1/63120.45 rounded down, 12 significant digits
        { ask: '0.0000158478605389', bid: '0.0000158427260895', currency: 'BTC', pair: 'USDBTC' },
        { ask: '4', bid: '3', currency: 'USD', pair: 'ETHUSD' },
        { ask: '0.333333333334', bid: '0.25', currency: 'ETH', pair: 'USDETH' },
      ]);
    });

    it.each([
      ['BTC', ['BTCUSD/USD', 'USDBTC/BTC', 'BTCEUR/EUR', 'EURBTC/BTC']],
      ['EUR', ['BTCEUR/EUR', 'EURBTC/BTC']],
      ['ETH', ['ETHUSD/USD', 'USDETH/ETH']],
      ['usd', ['BTCUSD/USD', 'USDBTC/BTC', 'ETHUSD/USD', 'USDETH/ETH']],
    ])('the %s list holds %j', async (currency, names) => {
      expect(entryNames(await list(currency))).toEqual(names);
    });

    it('answers what list() says', async () => {
      expect(await list('BTC')).toEqual(server.list('BTC'));
      expect(server.list('DOGE')).toBeUndefined();
      expect(() => server.list('BTC-USD')).toThrow(RangeError);
    });

    it.each([
      ['USD-BTC', { ask: '0.0000158478605389', bid: '0.0000158427260895', currency: 'BTC' }],
      ['EUR-BTC', { ask: '2', bid: '0.5', currency: 'BTC' }],
      ['usd-eth', { ask: '0.333333333334', bid: '0.25', currency: 'ETH' }],
    ])('answers the inverse pair %s at the pair endpoint, as the lists have it', async (pair, answer) => {
      const res = await get(`/v0/ticker/${pair}`);
      expect(res.status).toBe(200);
      await expect(res.json()).resolves.toEqual(answer);
    });

    it('serves a pair set in both directions as set, once each', async () => {
      server.setQuote('USD-BTC', { ask: '0.5', bid: '0.25' });
      const entries = await list('USD');
      expect(entryNames(entries)).toEqual(['BTCUSD/USD', 'ETHUSD/USD', 'USDETH/ETH', 'USDBTC/BTC']);
      expect(entries[3]).toMatchObject({ ask: '0.5', bid: '0.25' });
      await expect((await get('/v0/ticker/USD-BTC')).json()).resolves.toMatchObject({ ask: '0.5' });
    });

    it.each([
      ['0', '3'],
      ['4', 'abc'],
      ['-4', '-3'],
      ['4e0', '3'],
    ])('serves ask %j, bid %j as set, and leaves the inverse out', async (ask, bid) => {
      server.setQuote('ETH-USD', { ask, bid });
      const entries = await list('USD');
      expect(entryNames(entries)).toEqual(['BTCUSD/USD', 'USDBTC/BTC', 'ETHUSD/USD']);
      expect(entries[2]).toEqual({ ask, bid, currency: 'USD', pair: 'ETHUSD' });
      expect((await get('/v0/ticker/USD-ETH')).status).toBe(404);
      await expect((await get('/v0/ticker/ETH-USD')).json()).resolves.toMatchObject({ ask, bid });
    });

    it.each(['DOGE', 'BTCUSD', 'US'])(
      'answers 404 not_found for %s, a currency no pair has',
      async (currency) => {
        const res = await get(`/v0/ticker/${currency}`);
        expect(res.status).toBe(404);
        await expect(res.json()).resolves.toEqual({
          code: 'not_found',
          message: `Currency ${currency} not found`,
        });
      },
    );

    it('forgets a currency, and an inverse, with the last pair that had it', async () => {
      server.removePair('BTC-EUR');
      expect((await get('/v0/ticker/EUR')).status).toBe(404);
      expect((await get('/v0/ticker/EUR-BTC')).status).toBe(404);
      expect(entryNames(await list('BTC'))).toEqual(['BTCUSD/USD', 'USDBTC/BTC']);
    });
  });

  describe('list faults', () => {
    it.each([
      [
        { status: 429, retryAfterSeconds: 5 },
        429,
        '{"code":"too_many_requests","message":"Too many requests"}',
      ],
      [{ status: 503 }, 503, '{"code":"internal_server_error","message":"Internal server error"}'],
      [{ body: '{"not":"an array"}' }, 200, '{"not":"an array"}'],
      [{ body: '[{"ask":' }, 200, '[{"ask":'],
      [{ body: '' }, 200, ''],
    ])('%j: the next list answer only', async (fault, status, body) => {
      server.failNextList('USD', fault);
      const faulty = await get('/v0/ticker/USD');
      expect(faulty.status).toBe(status);
      await expect(faulty.text()).resolves.toBe(body);
      if (status === 429) expect(faulty.headers.get('retry-after')).toBe('5');
      await expect((await get('/v0/ticker/USD')).json()).resolves.toEqual(server.list('USD'));
    });

    it('only for that list: the pair endpoint and other lists answer as before', async () => {
      server.failNextList('usd', { status: 500 }, Infinity);
      expect((await get('/v0/ticker/BTC-USD')).status).toBe(200);
      expect((await get('/v0/ticker/BTC')).status).toBe(200);
      expect((await get('/v0/ticker/USD')).status).toBe(500);
      expect((await get('/v0/ticker/USD')).status).toBe(500);
      server.clearFaults('USD');
      expect((await get('/v0/ticker/USD')).status).toBe(200);
    });

    it('a hang, then the list', async () => {
      server.failNextList('USD', { hangMs: 300 });
      const started = Date.now();
      const res = await get('/v0/ticker/USD');
      expect(Date.now() - started).toBeGreaterThanOrEqual(290);
      expect(entryNames((await res.json()) as ListEntry[])).toEqual(['BTCUSD/USD', 'USDBTC/BTC']);
    });

    it('in order with other faults, like the pair faults', async () => {
      server.failNextList('USD', { status: 500 }, 2);
      server.failNextList('USD', { status: 502 });
      const statuses = [];
      for (let i = 0; i < 4; i += 1) statuses.push((await get('/v0/ticker/USD')).status);
      expect(statuses).toEqual([500, 500, 502, 200]);
    });

    it('refuses a target that is not a currency, and a non-positive count', () => {
      expect(() => server.failNextList('BTC-USD', { status: 500 })).toThrow(
        /^currency must be a currency code/,
      );
      expect(() => server.failNextList('USD', { status: 500 }, 0)).toThrow(RangeError);
    });
  });

  describe('list edits', () => {
    const usd = async (): Promise<unknown[]> => (await get('/v0/ticker/USD')).json() as Promise<unknown[]>;
    const btcUsd = { ask: '63120.45', bid: '63100.00', currency: 'USD', pair: 'BTCUSD' };
    const usdBtc = { ask: '0.0000158478605389', bid: '0.0000158427260895', currency: 'BTC', pair: 'USDBTC' };

    it.each<[string, Parameters<FakeUpholdServer['editList']>[1], unknown[]]>([
      ['a pair missing', { omit: 'BTC-USD' }, [usdBtc]],
      ['the inverse missing', { omit: 'usd-btc' }, [btcUsd]],
      ['an ask of "0"', { pair: 'BTC-USD', set: { ask: '0' } }, [{ ...btcUsd, ask: '0' }, usdBtc]],
      [
        'a bid that is no decimal',
        { pair: 'BTC-USD', set: { bid: '1e3' } },
        [{ ...btcUsd, bid: '1e3' }, usdBtc],
      ],
      [
        'a duplicate pair entry',
        { duplicate: 'BTC-USD', set: { ask: '1' } },
        [btcUsd, usdBtc, { ...btcUsd, ask: '1' }],
      ],
      ['a raw entry', { append: 'garbage' }, [btcUsd, usdBtc, 'garbage']],
    ])('%s', async (_name, edit, expected) => {
      server.editList('USD', edit);
      expect(await usd()).toEqual(expected);
    });

    it('an entry with no ask', async () => {
      server.editList('USD', { pair: 'BTC-USD', set: { ask: null } });
      const [first, second] = await usd();
      expect(first).toEqual({ bid: '63100.00', currency: 'USD', pair: 'BTCUSD' });
      expect(first).not.toHaveProperty('ask');
      expect(second).toEqual(usdBtc);
    });

    it('omitFromList(): for the next `times` answers, then the true list', async () => {
      server.omitFromList('USD', 'BTC-USD', 2);
      expect(await usd()).toEqual([usdBtc]);
      expect(await usd()).toEqual([usdBtc]);
      expect(await usd()).toEqual([btcUsd, usdBtc]);
    });

    it('until cleared by default, edits together in the order made', async () => {
      server.omitFromList('USD', 'USD-BTC');
      server.editList('USD', { pair: 'BTC-USD', set: { ask: '1' } });
      for (let i = 0; i < 3; i += 1) expect(await usd()).toEqual([{ ...btcUsd, ask: '1' }]);
      server.clearListEdits('usd');
      expect(await usd()).toEqual([btcUsd, usdBtc]);
    });

    it('only that list: other lists and the pair endpoint answer the truth', async () => {
      server.omitFromList('USD', 'BTC-USD');
      const btc = (await (await get('/v0/ticker/BTC')).json()) as ListEntry[];
      expect(entryNames(btc)).toEqual(['BTCUSD/USD', 'USDBTC/BTC']);
      expect((await get('/v0/ticker/BTC-USD')).status).toBe(200);
    });

    it('is not used up by a fault', async () => {
      server.failNextList('USD', { status: 500 });
      server.omitFromList('USD', 'BTC-USD', 1);
      expect((await get('/v0/ticker/USD')).status).toBe(500);
      expect(await usd()).toEqual([usdBtc]);
      expect(await usd()).toEqual([btcUsd, usdBtc]);
    });

    it('refuses an edit naming no pair or no currency, changing nothing', async () => {
      expect(() => server.omitFromList('USD', 'BTCUSD')).toThrow(/^omit must be a pair such as BTC-USD/);
      expect(() => server.editList('USD', { duplicate: 'x' })).toThrow(/^duplicate must be a pair/);
      expect(() => server.editList('USD', { pair: '', set: {} })).toThrow(/^pair must be a pair/);
      expect(() => server.editList('BTC-USD', { append: 1 })).toThrow(/^currency must be a currency code/);
      expect(() => server.editList('USD', { append: 1 }, 0)).toThrow(RangeError);
      expect(await usd()).toEqual([btcUsd, usdBtc]);
    });
  });

  describe('request log by endpoint', () => {
    it('records the endpoint, the target and the client', async () => {
      await get('/v0/ticker/usd');
      await get('/v0/ticker/btc-usd');
      await get('/v0/ticker/DOGE');
      expect(server.requestLog()).toEqual([
        expect.objectContaining({
          kind: 'list',
          target: 'USD',
          pair: 'USD',
          client: '127.0.0.1',
          status: 200,
        }),
        expect.objectContaining({ kind: 'pair', target: 'BTC-USD', pair: 'BTC-USD', status: 200 }),
        expect.objectContaining({ kind: 'list', target: 'DOGE', status: 404 }),
      ]);
      expect(server.requestLog()[0]).not.toHaveProperty('rateLimited');
    });

    describe('counts', () => {
      beforeEach(async () => {
        server.setQuote('BTC-EUR', { ask: '2', bid: '1' });
        server.failNext('BTC-USD', { status: 500 });
        for (const path of ['USD', 'USD', 'EUR', 'BTC-USD', 'BTC-USD', 'USD-BTC'])
          await get(`/v0/ticker/${path}`);
      });

      it.each([
        [undefined, 6],
        ['BTC-USD', 2],
        ['usd', 2],
        ['USD-BTC', 1],
        [{ kind: 'list' as const }, 3],
        [{ kind: 'pair' as const }, 3],
        [{ kind: 'list' as const, target: 'eur' }, 1],
        [{ target: 'BTC-USD', status: 200 }, 1],
        [{ status: 500 }, 1],
        [{ kind: 'pair' as const, status: 200 }, 2],
        [{ sinceMs: Date.now() + 60_000 }, 0],
      ])('requestCount(%j) = %i', (filter, count) => {
        expect(server.requestCount(filter)).toBe(count);
        expect(server.requestLog(filter)).toHaveLength(count);
      });
    });
  });

  describe('GET /__fake/stats', () => {
    const stats = async (query = ''): Promise<Record<string, unknown>> => {
      const res = await get(`/__fake/stats${query}`);
      expect(res.status).toBe(200);
      return (await res.json()) as Record<string, unknown>;
    };

    it('counts ticker requests by endpoint, target and status', async () => {
      server.failNextList('USD', { status: 429, retryAfterSeconds: 1 });
      for (const path of ['USD', 'USD', 'BTC-USD', 'NOPE-USD']) await get(`/v0/ticker/${path}`);
      await get('/elsewhere');
      const before = Date.now();
      const answer = await stats();
      expect(answer).toEqual({
        now: expect.any(Number),
        sinceMs: null,
        requests: 4,
        byEndpoint: {
          pair: { requests: 2, byStatus: { '200': 1, '404': 1 } },
          list: { requests: 2, byStatus: { '200': 1, '429': 1 } },
        },
        byTarget: {
          USD: { kind: 'list', requests: 2, byStatus: { '200': 1, '429': 1 } },
          'BTC-USD': { kind: 'pair', requests: 1, byStatus: { '200': 1 } },
          'NOPE-USD': { kind: 'pair', requests: 1, byStatus: { '404': 1 } },
        },
        rateLimit: { perMinute: null, refused: 0 },
      });
      expect(answer.now).toBeGreaterThanOrEqual(before);
      expect(server.stats()).toEqual({ ...answer, now: expect.any(Number) });
    });

    it('is neither logged nor counted', async () => {
      await stats();
      await stats();
      expect(server.requestCount()).toBe(0);
      expect((await stats()).requests).toBe(0);
    });

    it('counts an answer still pending as pending', async () => {
      server.failNext('BTC-USD', { hangMs: 60_000 });
      const controller = new AbortController();
      const hanging = get('/v0/ticker/BTC-USD', { signal: controller.signal }).catch(() => 'aborted');
      await waitFor(() => server.requestCount('BTC-USD') === 1, 'the hanging request to arrive');
      expect((await stats()).byEndpoint).toMatchObject({ pair: { requests: 1, byStatus: { pending: 1 } } });
      controller.abort();
      await expect(hanging).resolves.toBe('aborted');
    });

    it.each([
      ['/__fake/stats?sinceMs=soon', 400, 'bad_request'],
      ['/__fake/stats?sinceMs=-1', 400, 'bad_request'],
      ['/__fake/other', 404, 'not_found'],
      ['/__fake/', 404, 'not_found'],
    ])('answers %s with %i', async (path, status, code) => {
      const res = await get(path);
      expect(res.status).toBe(status);
      await expect(res.json()).resolves.toMatchObject({ code });
      expect(server.requestCount()).toBe(0);
    });

    it('names the field it refuses', async () => {
      await expect((await get('/__fake/stats?sinceMs=x')).json()).resolves.toEqual({
        code: 'bad_request',
        message: 'sinceMs must be epoch milliseconds (a whole number), got "x"',
      });
    });

    it('refuses other methods with 405', async () => {
      const res = await get('/__fake/stats', { method: 'POST' });
      expect(res.status).toBe(405);
      expect(res.headers.get('allow')).toBe('GET');
    });
  });

  describe('price controls over HTTP', () => {
    const send = (method: string, path: string, body?: unknown) =>
      get(path, {
        method,
        headers: { 'content-type': 'application/json' },
        body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      });

    afterEach(() => server.controls.reset());

    it('PUT sets a price that the ticker serves and that holds until DELETE', async () => {
      const res = await send('PUT', '/__fake/prices/btc-usd', { ask: '70000.00', bid: '69990.00' });
      expect(res.status).toBe(200);
      await expect(res.json()).resolves.toEqual({
        pair: 'BTC-USD',
        ask: '70000.00',
        bid: '69990.00',
        held: true,
        series: null,
      });
      await expect((await get('/v0/ticker/BTC-USD')).json()).resolves.toEqual({
        ask: '70000.00',
        bid: '69990.00',
        currency: 'USD',
      });
      expect(server.controls.isHeld('BTC-USD')).toBe(true);
      expect(server.requestCount()).toBe(1); // the control requests are not ticker requests
      const released = await send('DELETE', '/__fake/prices/BTC-USD');
      expect(released.status).toBe(204);
      await expect((await get('/__fake/prices/BTC-USD')).json()).resolves.toMatchObject({
        ask: '70000.00',
        held: false,
      });
    });

    it('PUT with hold false, a bid by default, and a pair it did not serve yet', async () => {
      const res = await send('PUT', '/__fake/prices/DOGE-USD', { ask: 0.25, hold: false });
      expect(res.status).toBe(200);
      await expect(res.json()).resolves.toMatchObject({
        pair: 'DOGE-USD',
        ask: '0.25',
        bid: '0.249975',
        held: false,
      });
      expect(server.pairs()).toContain('DOGE-USD');
      await expect((await get('/__fake/prices')).json()).resolves.toEqual({
        pairs: [
          { pair: 'BTC-USD', ask: '63120.45', bid: '63100.00', held: false, series: null },
          { pair: 'DOGE-USD', ask: '0.25', bid: '0.249975', held: false, series: null },
        ],
      });
    });

    it('POST a series: served point by point, then held at the last one', async () => {
      const points = [{ ask: '100', bid: '99' }, { ask: '110', bid: '109' }, { ask: '120' }];
      const res = await send('POST', '/__fake/series/BTC-USD', { points, stepMs: 50 });
      expect(res.status).toBe(202);
      const started = (await res.json()) as { startedAt: number; endsAt: number };
      expect(started).toMatchObject({ pair: 'BTC-USD', points: 3, stepMs: 50, hold: true });
      expect(started.endsAt - started.startedAt).toBe(100);
      const seen = new Set<string>();
      await waitFor(() => {
        const quote = server.quote('BTC-USD');
        if (quote) seen.add(quote.ask);
        return server.controls.state('BTC-USD')?.series === null;
      }, 'the series to end');
      expect(seen.has('120')).toBe(true);
      await expect((await get('/v0/ticker/BTC-USD')).json()).resolves.toMatchObject({
        ask: '120',
        bid: '119.988',
      });
      expect(server.controls.isHeld('BTC-USD')).toBe(true);
    });

    it('GET tells a series in progress; DELETE stops it where it stands', async () => {
      const points = [{ ask: '1' }, { ask: '2' }, { ask: '3' }];
      await send('POST', '/__fake/series/BTC-USD', { points, stepMs: 60_000 });
      const state = (await (await get('/__fake/prices/BTC-USD')).json()) as Record<string, unknown>;
      expect(state).toMatchObject({
        ask: '1',
        held: true,
        series: { points: 3, index: 0, stepMs: 60_000, hold: true },
      });
      expect((await send('DELETE', '/__fake/prices/BTC-USD')).status).toBe(204);
      expect(server.controls.state('BTC-USD')).toMatchObject({ ask: '1', held: false, series: null });
    });

    it.each<[string, string, string, unknown, number, Record<string, unknown>]>([
      ['a bad ask', 'PUT', '/__fake/prices/BTC-USD', { ask: 'abc' }, 400, { field: 'ask' }],
      ['a bid above ask', 'PUT', '/__fake/prices/BTC-USD', { ask: '1', bid: '2' }, 400, { field: 'bid' }],
      ['no JSON', 'PUT', '/__fake/prices/BTC-USD', 'ask=1', 400, { field: 'body' }],
      ['a bad pair', 'PUT', '/__fake/prices/BTCUSD', { ask: '1' }, 400, { field: 'pair' }],
      [
        'a bad point',
        'POST',
        '/__fake/series/BTC-USD',
        { points: [{ ask: '1' }, { ask: '-2' }] },
        400,
        {
          field: 'points[1].ask',
          message: 'points[1].ask must be a positive decimal (a string such as "63120.45"), got "-2"',
        },
      ],
      [
        'a bad step',
        'POST',
        '/__fake/series/BTC-USD',
        { points: [{ ask: '1' }], stepMs: 0 },
        400,
        { field: 'stepMs' },
      ],
      [
        'DELETE of a pair it does not serve',
        'DELETE',
        '/__fake/prices/NOPE-USD',
        undefined,
        404,
        { code: 'not_found' },
      ],
      [
        'GET of a pair it does not serve',
        'GET',
        '/__fake/prices/NOPE-USD',
        undefined,
        404,
        { code: 'not_found' },
      ],
    ])('refuses %s, changing nothing', async (_, method, path, body, status, answer) => {
      const res = await send(method, path, body);
      expect(res.status).toBe(status);
      await expect(res.json()).resolves.toMatchObject(answer);
      expect(server.quote('BTC-USD')).toEqual({ ask: '63120.45', bid: '63100.00' });
      expect(server.controls.isHeld('BTC-USD')).toBe(false);
      expect(server.pairs()).toEqual(['BTC-USD']);
    });

    it('refuses other methods with 405 and the allowed ones', async () => {
      const prices = await send('POST', '/__fake/prices/BTC-USD', { ask: '1' });
      expect(prices.status).toBe(405);
      expect(prices.headers.get('allow')).toBe('GET, PUT, DELETE');
      const series = await send('GET', '/__fake/series/BTC-USD');
      expect(series.status).toBe(405);
      expect(series.headers.get('allow')).toBe('POST');
    });

    it('stop() ends a series playing', async () => {
      const other = new FakeUpholdServer();
      await other.start();
      const run = other.controls.play(
        'BTC-USD',
        [
          { ask: '1', bid: '1' },
          { ask: '2', bid: '2' },
        ],
        { stepMs: 60_000 },
      );
      await other.stop();
      await expect(run.done).resolves.toBe(false);
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
      await waitFor(() => other.requestCount('BTC-USD') === 1, 'the hanging request to arrive');
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

describe('FakeUpholdServer rate limit (a clock the test moves)', () => {
  const T0 = 1_800_000_000_000;
  let now = T0;
  const server = new FakeUpholdServer({ now: () => now });
  let url: string;
  const get = (path: string, from?: string) => getFrom(url, path, from);

  beforeAll(async () => {
    ({ url } = await server.start());
    server.setQuote('BTC-USD', { ask: '2', bid: '1' });
  });

  afterAll(() => server.stop());

  beforeEach(() => {
    now = T0;
    server.setRateLimit(null);
    server.setRateLimit(3);
    server.clearFaults();
    server.clearRequestLog();
  });

  it('refuses past N requests a minute from one client, whatever the endpoint', async () => {
    expect((await get('/v0/ticker/BTC-USD')).status).toBe(200);
    now = T0 + 10_000;
    expect((await get('/v0/ticker/USD')).status).toBe(200);
    now = T0 + 20_000;
    expect((await get('/elsewhere')).status).toBe(404);
    now = T0 + 30_500;
    const refused = await get('/v0/ticker/BTC-USD');
    expect(refused.status).toBe(429);
    // the request at T0 leaves the window at T0 + 60 s: 29.5 s from now, in whole seconds
    expect(refused.headers['retry-after']).toBe('30');
    expect(JSON.parse(refused.body)).toEqual({
      code: 'too_many_requests',
      message: 'Rate limit of 3 requests a minute exceeded',
    });
    now = T0 + 59_999;
    expect((await get('/v0/ticker/USD')).headers['retry-after']).toBe('1');
    now = T0 + 60_000;
    expect((await get('/v0/ticker/BTC-USD')).status).toBe(200);
  });

  it('logs the refused requests with status 429, at the time of the clock', async () => {
    for (let i = 0; i < 3; i += 1) await get('/v0/ticker/USD');
    now = T0 + 1000;
    await get('/v0/ticker/BTC-USD');
    await get('/v0/ticker/USD');
    expect(server.requestLog({ status: 429 })).toEqual([
      {
        pair: 'BTC-USD',
        kind: 'pair',
        target: 'BTC-USD',
        client: '127.0.0.1',
        at: T0 + 1000,
        status: 429,
        rateLimited: true,
      },
      {
        pair: 'USD',
        kind: 'list',
        target: 'USD',
        client: '127.0.0.1',
        at: T0 + 1000,
        status: 429,
        rateLimited: true,
      },
    ]);
    expect(server.requestCount({ sinceMs: T0 + 1000 })).toBe(2);
    expect(server.requestCount({ sinceMs: T0 + 1001 })).toBe(0);
  });

  it('counts per client address', async () => {
    for (let i = 0; i < 3; i += 1) expect((await get('/v0/ticker/USD')).status).toBe(200);
    expect((await get('/v0/ticker/USD')).status).toBe(429);
    expect((await get('/v0/ticker/USD', '127.0.0.2')).status).toBe(200);
    expect(server.requestLog().map((r) => `${r.client} ${r.status}`)).toEqual([
      '127.0.0.1 200',
      '127.0.0.1 200',
      '127.0.0.1 200',
      '127.0.0.1 429',
      '127.0.0.2 200',
    ]);
  });

  it('does not count refused requests, and they use up no armed fault', async () => {
    server.failNext('BTC-USD', { status: 500 });
    for (let i = 0; i < 3; i += 1) await get('/v0/ticker/USD');
    for (let i = 1; i <= 5; i += 1) {
      now = T0 + i * 10_000;
      expect((await get('/v0/ticker/BTC-USD')).status).toBe(429);
    }
    now = T0 + 60_000;
    expect((await get('/v0/ticker/BTC-USD')).status).toBe(500);
  });

  it('tells an armed 429 apart from its own', async () => {
    server.failNext('BTC-USD', { status: 429, retryAfterSeconds: 9 });
    const armed = await get('/v0/ticker/BTC-USD');
    expect(armed.status).toBe(429);
    expect(armed.headers['retry-after']).toBe('9');
    expect(server.requestLog()[0]).not.toHaveProperty('rateLimited');
  });

  it('never limits nor counts /__fake/stats, which reports the limit and the refusals', async () => {
    for (let i = 0; i < 4; i += 1) await get('/v0/ticker/USD');
    const res = await get(`/__fake/stats?sinceMs=${T0}`);
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toMatchObject({
      now: T0,
      sinceMs: T0,
      requests: 4,
      byEndpoint: { list: { requests: 4, byStatus: { '200': 3, '429': 1 } } },
      rateLimit: { perMinute: 3, refused: 1 },
    });
    now = T0 + 1;
    await get('/v0/ticker/USD');
    expect(JSON.parse((await get(`/__fake/stats?sinceMs=${T0 + 1}`)).body)).toMatchObject({
      requests: 1,
      rateLimit: { refused: 1 },
    });
  });

  it('setRateLimit(null) lifts the limit; a new limit starts from an empty window', async () => {
    for (let i = 0; i < 4; i += 1) await get('/v0/ticker/USD');
    server.setRateLimit(null);
    expect(server.rateLimit).toBeNull();
    for (let i = 0; i < 5; i += 1) expect((await get('/v0/ticker/USD')).status).toBe(200);
    server.setRateLimit(1);
    expect(server.rateLimit).toBe(1);
    expect((await get('/v0/ticker/USD')).status).toBe(200);
    expect((await get('/v0/ticker/USD')).status).toBe(429);
  });

  it('keeps what it counted when the limit changes', async () => {
    for (let i = 0; i < 3; i += 1) await get('/v0/ticker/USD');
    server.setRateLimit(4);
    expect((await get('/v0/ticker/USD')).status).toBe(200);
    expect((await get('/v0/ticker/USD')).status).toBe(429);
  });

  it.each([0, -1, 1.5, NaN, Infinity])('refuses a limit of %p, keeping the one it had', (limit) => {
    expect(() => server.setRateLimit(limit)).toThrow(/^perMinute must be a positive whole number or null/);
    expect(server.rateLimit).toBe(3);
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

  it('opens a pair at its seed price, the bid 0.05 % under it', () => {
    expect(seedQuote('BTC-USD')).toEqual({ ask: '63120.45', bid: '63088.88' });
    expect(seedQuote('XRP-USD')).toEqual({ ask: '0.5234', bid: '0.5231' });
  });
});
