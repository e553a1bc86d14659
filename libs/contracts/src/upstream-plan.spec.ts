import { cacheFreshness, planFits, planUpstream, requestsPerMinute, UpstreamDemand } from './upstream-plan';

/** `n` distinct pairs with `currency` on the quote side: AA0-USD, AA1-USD… */
function pairsOf(currency: string, n: number, intervalMs = 5000, prefix = 'C'): UpstreamDemand[] {
  return Array.from({ length: n }, (_, i) => ({
    pair: `${prefix}${String(i).padStart(3, '0')}-${currency}`,
    intervalMs,
  }));
}

const summary = (demand: UpstreamDemand[], options = { relay: true }, pairOnly: string[] = []) => {
  const plan = planUpstream(demand, { ...options, pairEndpointOnly: pairOnly });
  return {
    requestsPerMin: Math.round(plan.requestsPerMin * 1000) / 1000,
    requests: plan.requests.map((r) => `${r.kind}:${r.target}@${r.intervalMs}x${r.pairs.length}`),
  };
};

describe('planUpstream', () => {
  it.each<[string, UpstreamDemand[], { requestsPerMin: number; requests: string[] }]>([
    ['nothing watched: no requests', [], { requestsPerMin: 0, requests: [] }],
    [
      '300 USD pairs at 5 s: one list, 12 requests/min',
      pairsOf('USD', 300),
      { requestsPerMin: 12, requests: ['list:USD@5000x300'] },
    ],
    [
      'one pair alone: the list of its quote currency',
      [{ pair: 'BTC-USD', intervalMs: 5000 }],
      { requestsPerMin: 12, requests: ['list:USD@5000x1'] },
    ],
    [
      'pairs across USD, EUR and BTC: a list per currency, each pair in one',
      [...pairsOf('USD', 100), ...pairsOf('EUR', 100, 5000, 'E'), ...pairsOf('BTC', 100, 5000, 'B')],
      { requestsPerMin: 36, requests: ['list:BTC@5000x100', 'list:EUR@5000x100', 'list:USD@5000x100'] },
    ],
    [
      'a currency on both sides of the watched pairs covers them all in one list',
      [
        { pair: 'BTC-USD', intervalMs: 5000 },
        { pair: 'ETH-BTC', intervalMs: 5000 },
        { pair: 'BTC-EUR', intervalMs: 5000 },
      ],
      { requestsPerMin: 12, requests: ['list:BTC@5000x3'] },
    ],
    [
      'mixed intervals: a list refreshes at the shortest interval among the pairs it serves',
      [
        ...pairsOf('USD', 10, 5000),
        { pair: 'XRP-USD', intervalMs: 1000 },
        { pair: 'ADA-EUR', intervalMs: 60_000 },
      ],
      { requestsPerMin: 61, requests: ['list:USD@1000x11', 'list:EUR@60000x1'] },
    ],
    [
      'the same pair twice counts once, at its shorter interval',
      [
        { pair: 'BTC-USD', intervalMs: 5000 },
        { pair: 'BTC-USD', intervalMs: 2000 },
      ],
      { requestsPerMin: 30, requests: ['list:USD@2000x1'] },
    ],
  ])('%s', (_what, demand, expected) => {
    expect(summary(demand)).toEqual(expected);
  });

  it('serves a pair that no list holds from its own endpoint, at its own interval', () => {
    const demand = [...pairsOf('USD', 3), { pair: 'GOLD-SILVER', intervalMs: 10_000 }];
    expect(summary(demand, { relay: true }, ['GOLD-SILVER'])).toEqual({
      requestsPerMin: 18,
      requests: ['list:USD@5000x3', 'pair:GOLD-SILVER@10000x1'],
    });
  });

  it('with the relay off: one request per pair per interval (20 pairs at 5 s use 240 of 250)', () => {
    const plan = planUpstream(pairsOf('USD', 20), { relay: false });
    expect(plan.requestsPerMin).toBe(240);
    expect(plan.requests.every((r) => r.kind === 'pair' && r.pairs.length === 1)).toBe(true);
    expect(planFits(plan, 250)).toBe(true);
    expect(planFits(planUpstream(pairsOf('USD', 21), { relay: false }), 250)).toBe(false);
  });

  it('names which request serves each pair, every pair exactly once', () => {
    const demand = [
      ...pairsOf('USD', 50),
      ...pairsOf('EUR', 20, 3000, 'E'),
      { pair: 'USD-EUR', intervalMs: 5000 },
    ];
    const plan = planUpstream(demand, { relay: true });
    const served = plan.requests.flatMap((r) => r.pairs);
    expect(served.sort()).toEqual([...new Set(demand.map((d) => d.pair))].sort());
  });

  it('is the same plan whatever the order of the demand', () => {
    const demand = [
      ...pairsOf('USD', 5),
      ...pairsOf('BTC', 5, 2000, 'B'),
      { pair: 'BTC-USD', intervalMs: 7000 },
    ];
    expect(planUpstream([...demand].reverse(), { relay: true })).toEqual(
      planUpstream(demand, { relay: true }),
    );
  });

  it.each([
    ['a pair that breaks the pair rule', { pair: 'btc-usd', intervalMs: 5000 }, /not a pair/],
    ['an interval of 0', { pair: 'BTC-USD', intervalMs: 0 }, /intervalMs of BTC-USD/],
    ['a fractional interval', { pair: 'BTC-USD', intervalMs: 1.5 }, /intervalMs of BTC-USD/],
  ])('refuses %s', (_what, demand, message) => {
    expect(() => planUpstream([demand], { relay: true })).toThrow(message);
  });
});

describe('cacheFreshness', () => {
  it.each([
    [1000, { servedForMs: 900, refreshAtMs: 1000, headroomMs: 100 }],
    [5000, { servedForMs: 4500, refreshAtMs: 5000, headroomMs: 500 }],
    [7777, { servedForMs: 6999, refreshAtMs: 7777, headroomMs: 778 }],
    [10_000, { servedForMs: 9000, refreshAtMs: 10_000, headroomMs: 1000 }],
    [60_000, { servedForMs: 59_000, refreshAtMs: 60_000, headroomMs: 1000 }],
  ])(
    'at %i ms: served while younger than the interval less a tenth (at most 1 s)',
    (intervalMs, expected) => {
      expect(cacheFreshness(intervalMs)).toEqual(expected);
    },
  );

  it('asks upstream again no sooner than the interval: the rate the plan charges', () => {
    for (const intervalMs of [1000, 2000, 5000, 30_000, 3_600_000]) {
      expect(requestsPerMinute(cacheFreshness(intervalMs).refreshAtMs)).toBe(requestsPerMinute(intervalMs));
    }
  });

  it.each([0, -5, NaN])('refuses an interval of %p', (intervalMs) => {
    expect(() => cacheFreshness(intervalMs)).toThrow(/intervalMs must be a positive number/);
  });
});
