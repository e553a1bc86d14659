import type { FakeQuote } from './currency-list';
import { bidBelow } from './fake-uphold.server';
import {
  ControlInputError,
  parseControlPair,
  parsePriceBody,
  parseSeriesBody,
  PriceControls,
  QuoteBook,
} from './price-controls';
import { walkStep } from './random-walk';

class Book implements QuoteBook {
  readonly quotes = new Map<string, FakeQuote>();
  readonly history: string[] = [];
  setQuote(pair: string, quote: FakeQuote): void {
    this.quotes.set(pair, quote);
    this.history.push(`${pair} ${quote.ask}/${quote.bid}`);
  }
  quote(pair: string): FakeQuote | undefined {
    return this.quotes.get(pair);
  }
  pairs(): string[] {
    return [...this.quotes.keys()];
  }
}

/** The field a refused input names, and its message. */
function refusal(run: () => unknown): { field: string; message: string } {
  try {
    run();
  } catch (error) {
    if (error instanceof ControlInputError) return { field: error.field, message: error.message };
    throw error;
  }
  throw new Error('expected a ControlInputError');
}

describe('PriceControls', () => {
  let book: Book;
  let controls: PriceControls;

  beforeEach(() => {
    jest.useFakeTimers({ now: 1_000_000 });
    book = new Book();
    controls = new PriceControls(book);
    book.setQuote('BTC-USD', { ask: '100.00', bid: '99.95' });
  });

  afterEach(() => {
    controls.reset();
    jest.useRealTimers();
  });

  it('set() holds the price until release(), and the walk leaves a held pair alone', () => {
    const state = controls.set('btc-usd', { ask: '120.00', bid: '119.90' });
    expect(state).toEqual({ pair: 'BTC-USD', ask: '120.00', bid: '119.90', held: true, series: null });
    const walked = { ...book, pairs: () => book.pairs(), quote: (p: string) => book.quote(p), controls };
    const setQuote = jest.fn((pair: string, quote: FakeQuote) => book.setQuote(pair, quote));
    walkStep({ ...walked, setQuote }, '1', () => 0.99);
    expect(setQuote).not.toHaveBeenCalled();
    expect(controls.release('BTC-USD')).toBe(true);
    expect(controls.isHeld('BTC-USD')).toBe(false);
    walkStep({ ...walked, setQuote }, '1', () => 0.99);
    // +0.98 % from where it was set, not from the seed
    expect(book.quote('BTC-USD')).toEqual({ ask: '121.18', bid: '121.11' });
    expect(controls.release('BTC-USD')).toBe(false);
  });

  it('set() with hold false leaves the pair to the walk from the price set', () => {
    controls.set('BTC-USD', { ask: '50.0000', bid: '49.0000' }, false);
    expect(controls.isHeld('BTC-USD')).toBe(false);
    walkStep(Object.assign(book, { controls }), '1', () => 0);
    // -1 % at the four places it was set with
    expect(book.quote('BTC-USD')).toEqual({ ask: '49.5000', bid: '49.4752' });
  });

  it('play() sets the first point now and each next one stepMs later, then holds the last', async () => {
    const points = ['101', '102', '103'].map((ask) => ({ ask, bid: ask }));
    const run = controls.play('BTC-USD', points, { stepMs: 1000 });
    expect(run).toMatchObject({
      pair: 'BTC-USD',
      points: 3,
      stepMs: 1000,
      startedAt: 1_000_000,
      endsAt: 1_002_000,
    });
    expect(book.quote('BTC-USD')?.ask).toBe('101');
    expect(controls.state('BTC-USD')).toMatchObject({
      held: true,
      series: { points: 3, index: 0, stepMs: 1000, startedAt: 1_000_000, endsAt: 1_002_000, hold: true },
    });
    jest.advanceTimersByTime(999);
    expect(book.quote('BTC-USD')?.ask).toBe('101');
    jest.advanceTimersByTime(1);
    expect(book.quote('BTC-USD')?.ask).toBe('102');
    expect(controls.state('BTC-USD')?.series?.index).toBe(1);
    jest.advanceTimersByTime(1000);
    await expect(run.done).resolves.toBe(true);
    expect(controls.state('BTC-USD')).toEqual({
      pair: 'BTC-USD',
      ask: '103',
      bid: '103',
      held: true,
      series: null,
    });
    jest.advanceTimersByTime(10_000);
    expect(book.history.filter((h) => h.startsWith('BTC-USD')).slice(1)).toEqual([
      'BTC-USD 101/101',
      'BTC-USD 102/102',
      'BTC-USD 103/103',
    ]);
  });

  it('play() with hold false hands the pair back to the walk after the last point', async () => {
    const run = controls.play(
      'BTC-USD',
      [
        { ask: '1', bid: '1' },
        { ask: '2', bid: '2' },
      ],
      { stepMs: 50, hold: false },
    );
    expect(controls.isHeld('BTC-USD')).toBe(true);
    jest.advanceTimersByTime(50);
    await expect(run.done).resolves.toBe(true);
    expect(controls.isHeld('BTC-USD')).toBe(false);
  });

  it('a single point ends at once', async () => {
    const run = controls.play('BTC-USD', [{ ask: '7', bid: '6' }]);
    await expect(run.done).resolves.toBe(true);
    expect(controls.state('BTC-USD')).toMatchObject({ ask: '7', held: true, series: null });
  });

  it('keeps to the schedule from the start when a step fires late', () => {
    controls.play(
      'BTC-USD',
      ['1', '2', '3', '4'].map((ask) => ({ ask, bid: ask })),
      { stepMs: 100 },
    );
    jest.setSystemTime(1_000_250); // the clock jumps (a busy loop): the next timer fires late
    jest.advanceTimersByTime(100);
    expect(book.quote('BTC-USD')?.ask).toBe('2');
    // 3 was due at 1_000_200 and 4 at 1_000_300, both past: each follows at once, not a step later
    jest.advanceTimersByTime(5);
    expect(book.quote('BTC-USD')?.ask).toBe('4');
  });

  it('release(), set() and a new series cut a series short; reset() stops everything', async () => {
    const points = ['1', '2', '3'].map((ask) => ({ ask, bid: ask }));
    const first = controls.play('BTC-USD', points, { stepMs: 100 });
    const second = controls.play('BTC-USD', points, { stepMs: 100 });
    await expect(first.done).resolves.toBe(false);
    controls.set('BTC-USD', { ask: '9', bid: '9' });
    await expect(second.done).resolves.toBe(false);
    jest.advanceTimersByTime(1000);
    expect(book.quote('BTC-USD')?.ask).toBe('9');
    const third = controls.play('BTC-USD', points, { stepMs: 100 });
    expect(controls.release('BTC-USD')).toBe(true);
    await expect(third.done).resolves.toBe(false);
    expect(controls.isHeld('BTC-USD')).toBe(false);
    const fourth = controls.play('ETH-USD', points, { stepMs: 100 });
    controls.set('BTC-USD', { ask: '9', bid: '9' });
    controls.reset();
    await expect(fourth.done).resolves.toBe(false);
    expect(controls.isHeld('BTC-USD')).toBe(false);
    jest.advanceTimersByTime(1000);
    expect(book.quote('ETH-USD')?.ask).toBe('1');
  });

  it('refuses an empty series and a step out of range', () => {
    expect(() => controls.play('BTC-USD', [])).toThrow('1 to 10000 points');
    expect(() => controls.play('BTC-USD', [{ ask: '1', bid: '1' }], { stepMs: 5 })).toThrow('stepMs');
  });

  it('has no state for a pair without a quote', () => {
    expect(controls.state('NOPE-USD')).toBeUndefined();
  });
});

describe('control input', () => {
  it('takes {ask, bid, hold}, prices as strings or numbers, bid just under ask by default, hold by default', () => {
    expect(parsePriceBody({ ask: '63120.45', bid: '63100' }, bidBelow)).toEqual({
      quote: { ask: '63120.45', bid: '63100' },
      hold: true,
    });
    expect(parsePriceBody({ ask: 100, hold: false }, bidBelow)).toEqual({
      quote: { ask: '100', bid: '99.99' },
      hold: false,
    });
    expect(parseSeriesBody({ points: [{ ask: '2', bid: '1' }, { ask: 3 }] }, bidBelow)).toEqual({
      points: [
        { ask: '2', bid: '1' },
        { ask: '3', bid: '2.9997' },
      ],
      stepMs: 1000,
      hold: true,
    });
  });

  it.each<[string, unknown, string, string]>([
    ['not an object', [1], 'body', 'must be a JSON object, got an array'],
    ['no ask', { bid: '1' }, 'ask', 'must be a positive decimal (a string such as "63120.45"), got nothing'],
    ['ask zero', { ask: '0.00' }, 'ask', 'got "0.00"'],
    ['ask negative', { ask: -1 }, 'ask', 'got -1'],
    ['ask garbage', { ask: '1e5' }, 'ask', 'got "1e5"'],
    ['ask a huge number', { ask: 1e300 }, 'ask', 'must be a positive decimal'],
    ['bid garbage', { ask: '1', bid: 'abc' }, 'bid', 'got "abc"'],
    ['bid above ask', { ask: '1', bid: '1.01' }, 'bid', 'must not be above ask (1), got "1.01"'],
    ['hold not boolean', { ask: '1', hold: 'yes' }, 'hold', 'must be true or false, got "yes"'],
    ['an unknown field', { ask: '1', price: '2' }, 'price', 'is not a field here (allowed: ask, bid, hold)'],
  ])('PUT body: %s → names %s', (_, body, field, message) => {
    const refused = refusal(() => parsePriceBody(body, bidBelow));
    expect(refused.field).toBe(field);
    expect(refused.message.startsWith(`${field} `)).toBe(true);
    expect(refused.message).toContain(message);
  });

  it.each<[string, unknown, string, string]>([
    ['no points', {}, 'points', 'must be an array of {ask, bid}, got nothing'],
    ['points empty', { points: [] }, 'points', 'must hold 1 to 10000 points, got 0'],
    ['too many points', { points: new Array(10_001).fill({ ask: '1' }) }, 'points', 'got 10001'],
    ['a point not an object', { points: [{ ask: '1' }, 'x'] }, 'points[1]', 'must be a JSON object, got "x"'],
    ['a bad ask', { points: [{ ask: '1' }, { ask: '1' }, { ask: 'x' }] }, 'points[2].ask', 'got "x"'],
    ['a bid above ask', { points: [{ ask: '1', bid: '2' }] }, 'points[0].bid', 'must not be above ask'],
    ['an unknown point field', { points: [{ ask: '1', at: 5 }] }, 'points[0].at', 'is not a field here'],
    ['stepMs too small', { points: [{ ask: '1' }], stepMs: 9 }, 'stepMs', 'from 10 to 3600000, got 9'],
    ['stepMs not whole', { points: [{ ask: '1' }], stepMs: 10.5 }, 'stepMs', 'got 10.5'],
    ['stepMs a string', { points: [{ ask: '1' }], stepMs: '100' }, 'stepMs', 'got "100"'],
    ['hold not boolean', { points: [{ ask: '1' }], hold: 1 }, 'hold', 'must be true or false'],
  ])('series body: %s → names %s', (_, body, field, message) => {
    const refused = refusal(() => parseSeriesBody(body, bidBelow));
    expect(refused.field).toBe(field);
    expect(refused.message.startsWith(`${field} `)).toBe(true);
    expect(refused.message).toContain(message);
  });

  it('takes a pair in any case, URL-encoded or not; refuses anything else naming pair', () => {
    expect(parseControlPair('btc-usd')).toBe('BTC-USD');
    expect(parseControlPair('BTC%2DUSD')).toBe('BTC-USD');
    expect(refusal(() => parseControlPair('BTCUSD'))).toEqual({
      field: 'pair',
      message: 'pair must be two codes of 2 to 12 letters or digits joined by a dash, got "BTCUSD"',
    });
    expect(refusal(() => parseControlPair('%E0%A4%A')).field).toBe('pair');
  });
});
