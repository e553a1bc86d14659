import { readFakeTickerConfig, syntheticPairs } from './fake-ticker.config';

describe('readFakeTickerConfig', () => {
  it('defaults to the demo pairs, no rate limit', () => {
    expect(readFakeTickerConfig({})).toEqual({
      config: {
        port: 8099,
        host: '127.0.0.1',
        pairs: ['BTC-USD', 'ETH-USD', 'BTC-EUR', 'XRP-USD'],
        stepMs: 1000,
        stepPercent: '0.05',
        rateLimitPerMin: null,
      },
    });
  });

  it('reads every variable', () => {
    const read = readFakeTickerConfig({
      PORT: '0',
      HOST: '0.0.0.0',
      PAIRS: ' btc-usd , ETH-EUR,BTC-USD',
      STEP_MS: '10',
      STEP_PERCENT: '1.5',
      RATE_LIMIT_PER_MIN: '250',
    });
    expect(read.config).toEqual({
      port: 0,
      host: '0.0.0.0',
      pairs: ['BTC-USD', 'ETH-EUR'],
      stepMs: 10,
      stepPercent: '1.5',
      rateLimitPerMin: 250,
    });
  });

  it.each([
    [{ RATE_LIMIT_PER_MIN: '' }, null],
    [{ RATE_LIMIT_PER_MIN: '1' }, 1],
    [{ RATE_LIMIT_PER_MIN: '1000000' }, 1_000_000],
  ])('RATE_LIMIT_PER_MIN %j → %j', (env, limit) => {
    expect(readFakeTickerConfig(env).config?.rateLimitPerMin).toBe(limit);
  });

  it('makes PAIR_COUNT synthetic pairs over CURRENCIES, without the demo pairs', () => {
    const pairs = readFakeTickerConfig({ PAIR_COUNT: '300', CURRENCIES: 'usd,EUR,BTC' }).config?.pairs ?? [];
    expect(pairs).toHaveLength(300);
    expect(new Set(pairs).size).toBe(300);
    expect(pairs.slice(0, 4)).toEqual(['C000-USD', 'C000-EUR', 'C000-BTC', 'C001-USD']);
    expect(pairs.at(-1)).toBe('C099-BTC');
    for (const currency of ['USD', 'EUR', 'BTC']) {
      expect(pairs.filter((p) => p.endsWith(`-${currency}`))).toHaveLength(100);
    }
  });

  it('defaults CURRENCIES to USD,EUR,BTC and adds PAIRS when set', () => {
    expect(readFakeTickerConfig({ PAIR_COUNT: '4', PAIRS: 'ETH-USD' }).config?.pairs).toEqual([
      'ETH-USD',
      'C000-USD',
      'C000-EUR',
      'C000-BTC',
      'C001-USD',
    ]);
  });

  it.each([
    [{ PORT: '65536' }, 'PORT must be a whole number from 0 to 65535, got "65536"'],
    [{ STEP_MS: '5' }, 'STEP_MS must be a whole number from 10 to 3600000, got "5"'],
    [{ STEP_PERCENT: '-1' }, 'STEP_PERCENT must be a decimal from 0 to 50, got "-1"'],
    [{ PAIRS: 'BTC-USD,nope' }, 'PAIRS has invalid pairs: NOPE (expected e.g. BTC-USD)'],
    [{ PAIRS: ' , ' }, 'PAIRS must name at least one pair'],
    [{ RATE_LIMIT_PER_MIN: '0' }, 'RATE_LIMIT_PER_MIN must be a whole number from 1 to 1000000, got "0"'],
    [{ RATE_LIMIT_PER_MIN: '2.5' }, 'RATE_LIMIT_PER_MIN must be a whole number from 1 to 1000000, got "2.5"'],
    [{ RATE_LIMIT_PER_MIN: 'off' }, 'RATE_LIMIT_PER_MIN must be a whole number from 1 to 1000000, got "off"'],
    [{ PAIR_COUNT: '0' }, 'PAIR_COUNT must be a whole number from 1 to 10000, got "0"'],
    [{ PAIR_COUNT: '10001' }, 'PAIR_COUNT must be a whole number from 1 to 10000, got "10001"'],
    [{ PAIR_COUNT: '3', CURRENCIES: 'USD,E' }, 'CURRENCIES has invalid codes: E'],
    [{ PAIR_COUNT: '3', CURRENCIES: 'USD-EUR' }, 'CURRENCIES has invalid codes: USD-EUR'],
    [{ PAIR_COUNT: '3', CURRENCIES: 'C001' }, 'CURRENCIES has invalid codes: C001'],
    [{ PAIR_COUNT: '3', CURRENCIES: ',' }, 'CURRENCIES must name at least one currency'],
    [{ CURRENCIES: 'USD' }, 'CURRENCIES is used only with PAIR_COUNT'],
  ])('refuses %j, naming the variable', (env, problem) => {
    const read = readFakeTickerConfig(env);
    expect(read.config).toBeUndefined();
    expect(read.problems).toEqual([expect.stringContaining(problem)]);
  });

  it('reports every problem at once', () => {
    expect(
      readFakeTickerConfig({ PORT: 'x', PAIR_COUNT: 'y', RATE_LIMIT_PER_MIN: 'z' }).problems,
    ).toHaveLength(3);
  });
});

describe('syntheticPairs', () => {
  it.each([
    [0, ['USD'], []],
    [2, ['USD'], ['C000-USD', 'C001-USD']],
    [3, ['USD', 'EUR'], ['C000-USD', 'C000-EUR', 'C001-USD']],
  ])('%i over %j → %j', (count, currencies, pairs) => {
    expect(syntheticPairs(count, currencies)).toEqual(pairs);
  });

  it('widens the bases when 3 digits are not enough', () => {
    const pairs = syntheticPairs(1001, ['USD']);
    expect(pairs[0]).toBe('C0000-USD');
    expect(pairs[1000]).toBe('C1000-USD');
  });

  it('refuses a bad count or no currency', () => {
    expect(() => syntheticPairs(1.5, ['USD'])).toThrow(RangeError);
    expect(() => syntheticPairs(1, [])).toThrow(RangeError);
  });
});
