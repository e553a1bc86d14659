import { entry, FakeUpstream, list } from '../testing/worker.fakes';
import type { ListEntry, ListResult } from '../uphold-ticker.client';
import { TickerRelay } from './ticker-relay';

describe('TickerRelay', () => {
  let upstream: FakeUpstream;
  let now: number;
  let relay: TickerRelay;

  beforeEach(() => {
    upstream = new FakeUpstream();
    now = 1_000_000;
    relay = new TickerRelay({ upstream, rateLimitPerMin: 250, now: () => now, sleep });
  });

  /** The relay's waits pass on the test's clock, once whatever runs at the same instant has run. */
  const sleep = async (ms: number): Promise<void> => {
    await Promise.resolve();
    now += ms;
  };

  describe('serving pairs from currency lists', () => {
    it('answers a pair from the list of its quote currency, in Uphold format, naming the source', async () => {
      upstream.lists.set('USD', list(entry('BTCUSD', 'USD', '63120.45', '63110.00'), entry('USDBTC', 'BTC')));
      expect(await relay.pair('BTC-USD', 5000)).toEqual({
        status: 200,
        body: { ask: '63120.45', bid: '63110.00', currency: 'USD' },
        source: 'list:USD',
        ageMs: 0,
      });
      expect(upstream.calls).toEqual(['list:USD']);
    });

    it('matches an entry on both its pair code and its currency (codes have different lengths)', async () => {
      // "ABCDE" is both AB-CDE and ABC-DE written without the dash; only `currency` tells them apart.
      upstream.lists.set('CDE', list(entry('ABCDE', 'CDE', '2', '1')));
      upstream.lists.set('DE', list(entry('ABCDE', 'DE', '20', '10')));
      expect((await relay.pair('AB-CDE', 5000)).body).toEqual({ ask: '2', bid: '1', currency: 'CDE' });
      expect((await relay.pair('ABC-DE', 5000)).body).toEqual({ ask: '20', bid: '10', currency: 'DE' });
    });

    it('serves 300 pairs of one currency with one upstream request per interval', async () => {
      const pairs = Array.from({ length: 300 }, (_, i) => `C${String(i).padStart(3, '0')}-USD`);
      upstream.lists.set('USD', list(...pairs.map((p) => entry(p.replace('-', ''), 'USD'))));
      for (let round = 0; round < 3; round++) {
        for (const pair of pairs) expect((await relay.pair(pair, 5000)).status).toBe(200);
        now += 5000;
      }
      expect(upstream.calls).toEqual(['list:USD', 'list:USD', 'list:USD']);
      expect(relay.stats()).toMatchObject({ cacheHits: 897, plan: { requestsPerMin: 12 } });
    });

    it('shares one upstream request among concurrent askers', async () => {
      upstream.lists.set('USD', list(entry('BTCUSD', 'USD'), entry('ETHUSD', 'USD')));
      let open!: () => void;
      upstream.gate = new Promise((resolve) => (open = resolve));
      const answers = Promise.all([
        relay.pair('BTC-USD', 5000),
        relay.pair('ETH-USD', 5000),
        relay.pair('BTC-USD', 5000),
      ]);
      open();
      expect((await answers).map((a) => a.status)).toEqual([200, 200, 200]);
      expect(upstream.calls).toEqual(['list:USD']);
      expect(relay.stats().coalesced).toBe(2);
    });

    it('serves a cached list only while it is younger than the asker allows', async () => {
      upstream.lists.set('USD', list(entry('BTCUSD', 'USD')));
      await relay.pair('BTC-USD', 5000);
      // A 1 s asker allows 900 ms (its interval less a tenth); at 1 s the list is asked for again at once.
      now += 899;
      expect(await relay.pair('BTC-USD', 1000)).toMatchObject({ status: 200, ageMs: 899 });
      now += 101;
      expect(await relay.pair('BTC-USD', 1000)).toMatchObject({ status: 200, ageMs: 0 });
      expect(upstream.calls).toEqual(['list:USD', 'list:USD']);
    });

    describe('freshness: a price within its interval, and a list asked for no sooner than the plan says', () => {
      /** The upstream's calls with the (test) instant each was made at. */
      const timed = (): Array<[string, number]> => {
        const made: Array<[string, number]> = [];
        const fetchList = upstream.fetchList.bind(upstream);
        upstream.fetchList = (currency) => {
          made.push([`list:${currency}`, now - 1_000_000]);
          return fetchList(currency);
        };
        return made;
      };

      beforeEach(() => {
        upstream.lists.set(
          'USD',
          list(entry('BTCUSD', 'USD'), entry('ETHUSD', 'USD'), entry('XRPUSD', 'USD')),
        );
      });

      it('serves a 5 s asker from the cached list while it is younger than 4.5 s', async () => {
        const made = timed();
        await relay.pair('BTC-USD', 5000);
        now += 4499;
        expect(await relay.pair('ETH-USD', 5000)).toMatchObject({ status: 200, ageMs: 4499 });
        expect(made).toEqual([['list:USD', 0]]);
        expect(relay.stats()).toMatchObject({ cacheHits: 1, heldForRefresh: 0 });
      });

      it('holds an asker that finds it 4.5 s old until it is 5 s old, then serves the refresh made then', async () => {
        const made = timed();
        await relay.pair('BTC-USD', 5000);
        now += 4500;
        expect(await relay.pair('ETH-USD', 5000)).toMatchObject({ status: 200, ageMs: 0 });
        expect(now - 1_000_000).toBe(5000);
        expect(made).toEqual([
          ['list:USD', 0],
          ['list:USD', 5000],
        ]);
        expect(relay.stats()).toMatchObject({ cacheHits: 0, heldForRefresh: 1 });
      });

      it('askers held at once share one wait and one refresh', async () => {
        const made = timed();
        await relay.pair('BTC-USD', 5000);
        now += 4800;
        const answers = await Promise.all(
          ['BTC-USD', 'ETH-USD', 'XRP-USD'].map((pair) => relay.pair(pair, 5000)),
        );
        expect(answers.map((a) => [a.status, a.ageMs])).toEqual([
          [200, 0],
          [200, 0],
          [200, 0],
        ]);
        expect(now - 1_000_000).toBe(5000);
        expect(made).toEqual([
          ['list:USD', 0],
          ['list:USD', 5000],
        ]);
        expect(relay.stats()).toMatchObject({ heldForRefresh: 3, coalesced: 2 });
      });

      it('asks again at once for a list an interval old or older, holding nobody', async () => {
        const made = timed();
        await relay.pair('BTC-USD', 5000);
        now += 7000;
        expect(await relay.pair('BTC-USD', 5000)).toMatchObject({ status: 200, ageMs: 0 });
        expect(made).toEqual([
          ['list:USD', 0],
          ['list:USD', 7000],
        ]);
        expect(relay.stats().heldForRefresh).toBe(0);
      });

      it('100 workers at 5 s spread over the interval for a minute: every price within 4.5 s, a list every 5 s', async () => {
        const pairs = Array.from({ length: 100 }, (_, i) => `C${String(i).padStart(3, '0')}-USD`);
        upstream.lists.set('USD', list(...pairs.map((p) => entry(p.replace('-', ''), 'USD'))));
        const made = timed();
        // Worker i asks at i × 50 ms + k × 5 s, k = 0…11: the asks of one minute, in time order.
        const asks = pairs
          .flatMap((pair, i) => Array.from({ length: 12 }, (_, k) => ({ pair, at: i * 50 + k * 5000 })))
          .sort((a, b) => a.at - b.at);
        const ages: number[] = [];
        for (const { pair, at } of asks) {
          now = Math.max(now, 1_000_000 + at); // a held asker has moved the clock on
          const answer = await relay.pair(pair, 5000);
          expect(answer.status).toBe(200);
          ages.push(answer.ageMs!);
        }
        expect(Math.max(...ages)).toBeLessThan(4500);
        // Exactly 5 s apart: 12 in any minute. The 13th, at 60 s, is the one the last minute's held asks took.
        expect(made.map(([, at]) => at)).toEqual(Array.from({ length: 13 }, (_, k) => k * 5000));
        expect(relay.stats().plan.requestsPerMin).toBe(12);
      });
    });

    it('falls back to the pair endpoint for a pair no list holds, and plans it there from then on', async () => {
      upstream.lists.set('USD', list(entry('BTCUSD', 'USD')));
      upstream.pairs.set('GOLD-USD', { kind: 'quote', ask: '2400.1', bid: '2399.9' });
      expect(await relay.pair('GOLD-USD', 5000)).toMatchObject({
        status: 200,
        body: { ask: '2400.1', bid: '2399.9', currency: 'USD' },
        source: 'pair:GOLD-USD',
      });
      now += 5000;
      await relay.pair('GOLD-USD', 5000);
      expect(upstream.calls).toEqual(['list:USD', 'pair:GOLD-USD', 'pair:GOLD-USD']);
      const stats = relay.stats();
      expect(stats.pairEndpointOnly).toEqual(['GOLD-USD']);
      expect(stats.plan.requests.map((r) => `${r.kind}:${r.target}`)).toEqual(['pair:GOLD-USD']);
    });

    it('answers 404 for a pair Uphold does not know, as Uphold does', async () => {
      upstream.lists.set('USD', list(entry('BTCUSD', 'USD')));
      expect(await relay.pair('NOPE-USD', 5000)).toEqual({
        status: 404,
        body: { code: 'not_found', message: 'Pair NOPE-USD not found' },
      });
    });
  });

  describe('bad upstream answers are answers, never served prices', () => {
    it.each<[string, ListEntry, RegExp]>([
      [
        'an entry without an ask',
        { pair: 'BTCUSD', currency: 'USD', bid: '1' },
        /ask must be a decimal string, got nothing/,
      ],
      ['an ask of "0"', entry('BTCUSD', 'USD', '0', '1'), /ask must be greater than 0/],
      ['a bid that is not a decimal', entry('BTCUSD', 'USD', '1', '1e5'), /bid must be a decimal string/],
    ])('%s: 502 naming it, while the other pairs of the list are served', async (_what, bad, message) => {
      upstream.lists.set('USD', list(bad, entry('ETHUSD', 'USD')));
      const answer = await relay.pair('BTC-USD', 5000);
      expect(answer.status).toBe(502);
      expect((answer.body as { message: string }).message).toMatch(message);
      expect((await relay.pair('ETH-USD', 5000)).status).toBe(200);
    });

    it('a pair listed twice: 502, neither entry served', async () => {
      upstream.lists.set('USD', list(entry('BTCUSD', 'USD', '1', '1'), entry('BTCUSD', 'USD', '2', '2')));
      expect(await relay.pair('BTC-USD', 5000)).toMatchObject({
        status: 502,
        body: { message: 'the USD list holds 2 entries for BTC-USD; none is served' },
      });
    });

    it.each<[string, ListResult, number, RegExp]>([
      [
        'a list that is not an array',
        { kind: 'bad-response', message: 'currency list is not a JSON array: "{}"' },
        502,
        /not a JSON array/,
      ],
      ['a 503', { kind: 'server-error', status: 503 }, 503, /Uphold answered HTTP 503/],
      ['a 400', { kind: 'server-error', status: 400 }, 502, /Uphold answered HTTP 400/],
      [
        'a hang past the timeout',
        { kind: 'network-error', message: 'request timed out after 5000 ms' },
        504,
        /timed out/,
      ],
      [
        'a refused connection',
        { kind: 'network-error', message: 'fetch failed: ECONNREFUSED' },
        502,
        /could not be reached/,
      ],
    ])('%s: passed on as %i, not cached', async (_what, failure, status, message) => {
      upstream.lists.set('USD', failure);
      const answer = await relay.pair('BTC-USD', 5000);
      expect(answer.status).toBe(status);
      expect((answer.body as { message: string }).message).toMatch(message);
      upstream.lists.set('USD', list(entry('BTCUSD', 'USD')));
      expect((await relay.pair('BTC-USD', 5000)).status).toBe(200);
      expect(upstream.calls).toEqual(['list:USD', 'list:USD']);
    });
  });

  describe('the one budget and the 429 pause', () => {
    it('after a 429 sends nothing upstream until Retry-After has passed, answering 429 with the time left', async () => {
      upstream.lists.set('USD', { kind: 'rate-limited', retryAfterMs: 10_000 });
      expect(await relay.pair('BTC-USD', 1000)).toMatchObject({ status: 429, retryAfterSeconds: 10 });
      upstream.lists.set('USD', list(entry('BTCUSD', 'USD')));
      upstream.lists.set('EUR', list(entry('BTCEUR', 'EUR')));
      now += 3_500;
      expect(await relay.pair('BTC-USD', 1000)).toMatchObject({ status: 429, retryAfterSeconds: 7 });
      expect(await relay.pair('ETH-EUR', 1000)).toMatchObject({ status: 429, retryAfterSeconds: 7 });
      expect(relay.stats().pausedForMs).toBe(6_500);
      expect(upstream.calls).toEqual(['list:USD']);
      now += 6_500;
      expect(await relay.pair('BTC-USD', 1000)).toMatchObject({ status: 200 });
      expect(relay.stats()).toMatchObject({
        pausedForMs: 0,
        upstreamRequests: { 'list:429': 1, 'list:200': 1 },
      });
    });

    it('never sends more than the limit in a minute; past it answers 429 with the wait', async () => {
      relay = new TickerRelay({ upstream, rateLimitPerMin: 2, now: () => now });
      upstream.lists.set('USD', list(entry('AAAUSD', 'USD')));
      upstream.lists.set('EUR', list(entry('BBBEUR', 'EUR')));
      upstream.lists.set('GBP', list(entry('CCCGBP', 'GBP')));
      expect((await relay.pair('AAA-USD', 1000)).status).toBe(200);
      now += 20_000;
      expect((await relay.pair('BBB-EUR', 1000)).status).toBe(200);
      expect(await relay.pair('CCC-GBP', 1000)).toMatchObject({ status: 429, retryAfterSeconds: 40 });
      expect(relay.stats().budget).toEqual({ usedLastMinute: 2, limitPerMin: 2 });
      now += 40_000;
      expect((await relay.pair('CCC-GBP', 1000)).status).toBe(200);
      expect(upstream.calls).toEqual(['list:USD', 'list:EUR', 'list:GBP']);
    });
  });
});
