import {
  applyListEdits,
  asCurrency,
  FakeListEdit,
  inversePair,
  invertQuote,
  listEntry,
  ListEntry,
  pairHasCurrency,
  requireCurrency,
  requirePair,
} from './currency-list';

describe('invertQuote', () => {
  it.each([
    // [ask, bid] → [1/bid rounded up, 1/ask rounded down], 12 significant digits
    ['63120.45', '63100.00', '0.0000158478605389', '0.0000158427260895'],
    ['4', '3', '0.333333333334', '0.25'],
    ['2', '0.5', '2', '0.5'],
    ['0.5234', '0.5230', '1.91204588911', '1.91058463889'],
    ['100.00', '99.99', '0.0100010001001', '0.01'],
    ['1', '1', '1', '1'],
    // beyond 30 decimals: rounded (outwards) to 30
    [
      '123456789012345678901234567890',
      '123456789012345678901234567890',
      '0.000000000000000000000000000009',
      '0.000000000000000000000000000008',
    ],
  ])('ask %s, bid %s → ask %s, bid %s', (ask, bid, inverseAsk, inverseBid) => {
    expect(invertQuote({ ask, bid })).toEqual({ ask: inverseAsk, bid: inverseBid });
  });

  it.each([
    ['0', '1'],
    ['1', '0'],
    ['-2', '1'],
    ['abc', '1'],
    ['1', '1e3'],
    ['', '1'],
    ['1', ' 1'],
    // 1/1e-30 has 31 digits: no valid price
    ['1', '0.000000000000000000000000000001'],
  ])('has no inverse for ask %j, bid %j', (ask, bid) => {
    expect(invertQuote({ ask, bid })).toBeUndefined();
  });

  it('never narrows the spread', () => {
    const inverse = invertQuote({ ask: '3', bid: '3' });
    expect(inverse).toEqual({ ask: '0.333333333334', bid: '0.333333333333' });
  });
});

describe('pairs and currencies', () => {
  it.each([
    ['BTC-USD', 'USD-BTC'],
    ['C000-EUR', 'EUR-C000'],
    ['BTCUSD', undefined],
    ['btc-usd', undefined],
  ])('inversePair(%j) = %j', (pair, inverse) => {
    expect(inversePair(pair)).toBe(inverse);
  });

  it.each([
    ['usd', 'USD'],
    ['BTC', 'BTC'],
    ['C0001', 'C0001'],
    ['U', undefined],
    ['BTC-USD', undefined],
    ['ABCDEFGHIJKLM', undefined],
    ['US D', undefined],
  ])('asCurrency(%j) = %j', (value, currency) => {
    expect(asCurrency(value)).toBe(currency);
  });

  it('tells which pairs have a currency, on either side', () => {
    expect(pairHasCurrency('BTC-USD', 'USD')).toBe(true);
    expect(pairHasCurrency('BTC-USD', 'BTC')).toBe(true);
    expect(pairHasCurrency('BTC-USD', 'US')).toBe(false);
    expect(pairHasCurrency('BTCUSD', 'USD')).toBe(false);
  });

  it('writes a list entry like Uphold: pair without the dash, currency the second code', () => {
    expect(listEntry('USD-BTC', { ask: '2', bid: '1' })).toEqual({
      ask: '2',
      bid: '1',
      currency: 'BTC',
      pair: 'USDBTC',
    });
  });

  it('checks pairs and currencies, naming the field', () => {
    expect(requirePair('btc-usd', 'omit')).toBe('BTC-USD');
    expect(() => requirePair('BTCUSD', 'omit')).toThrow(
      /^omit must be a pair such as BTC-USD, got "BTCUSD"$/,
    );
    expect(requireCurrency('eur', 'currency')).toBe('EUR');
    expect(() => requireCurrency('BTC-USD', 'currency')).toThrow(/^currency must be a currency code/);
  });
});

describe('applyListEdits', () => {
  const btcUsd: ListEntry = { ask: '2', bid: '1', currency: 'USD', pair: 'BTCUSD' };
  const usdBtc: ListEntry = { ask: '1', bid: '0.5', currency: 'BTC', pair: 'USDBTC' };
  const ethUsd: ListEntry = { ask: '4', bid: '3', currency: 'USD', pair: 'ETHUSD' };
  const list = [btcUsd, usdBtc, ethUsd];

  it.each<[string, FakeListEdit[], unknown[]]>([
    ['nothing', [], list],
    ['omits a pair, one direction only', [{ omit: 'BTC-USD' }], [usdBtc, ethUsd]],
    ['omits the inverse direction', [{ omit: 'USD-BTC' }], [btcUsd, ethUsd]],
    // BT-CUSD is written BTCUSD too, with currency CUSD: both fields must match
    ['matches on pair and currency', [{ omit: 'BT-CUSD' }], list],
    ['ignores a pair the list does not hold', [{ pair: 'XRP-USD', set: { ask: '0' } }], list],
    [
      'replaces fields',
      [{ pair: 'ETH-USD', set: { ask: '0', bid: 'abc' } }],
      [btcUsd, usdBtc, { ...ethUsd, ask: '0', bid: 'abc' }],
    ],
    [
      'leaves a field out',
      [{ pair: 'BTC-USD', set: { ask: null } }],
      [{ bid: '1', currency: 'USD', pair: 'BTCUSD' }, usdBtc, ethUsd],
    ],
    [
      'duplicates an entry, at the end',
      [{ duplicate: 'BTC-USD', set: { ask: '3' } }],
      [...list, { ...btcUsd, ask: '3' }],
    ],
    ['duplicates as is', [{ duplicate: 'ETH-USD' }], [...list, ethUsd]],
    ['appends any raw value', [{ append: 'garbage' }, { append: null }], [...list, 'garbage', null]],
    [
      'applies edits in order',
      [{ omit: 'BTC-USD' }, { pair: 'BTC-USD', set: { ask: '9' } }, { pair: 'USD-BTC', set: { ask: '9' } }],
      [{ ...usdBtc, ask: '9' }, ethUsd],
    ],
  ])('%s', (_name, edits, expected) => {
    expect(applyListEdits(list, edits)).toEqual(expected);
  });

  it('leaves the list it was given alone', () => {
    const copy = structuredClone(list);
    applyListEdits(list, [{ pair: 'BTC-USD', set: { ask: '0' } }, { omit: 'ETH-USD' }]);
    expect(list).toEqual(copy);
  });
});
