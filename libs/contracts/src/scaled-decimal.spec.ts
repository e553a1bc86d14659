import fc from 'fast-check';
import { Decimal, formatDecimal, InvalidDecimalError, parsePositiveDecimal } from './decimal';
import { QuotePrices } from './quote-prices';
import { RuleEvaluator } from './rule-detectors';
import type { Rule } from './rules';
import {
  formatRatio,
  formatScaled,
  parseDecimalUnits,
  parsePercent,
  parsePositivePrice,
  PRICE_SCALE,
  scaledPriceOf,
} from './scaled-decimal';

/**
 * The detectors decide over scaled integers (scaled-decimal.ts) what they decided over decimal.js before: every
 * property here holds the new representation to decimal.js's answer, at the edges of the representation (30
 * integer and 30 fraction digits, 18 significant digits of a threshold, the smallest and largest prices).
 */

const digits = (min: number, max: number) =>
  fc.array(fc.integer({ min: 0, max: 9 }), { minLength: min, maxLength: max }).map((d) => d.join(''));

/** Any plain decimal DECIMAL_PATTERN allows, long ones and many-zero ones weighted in. */
const anyDecimal = fc
  .tuple(
    fc.oneof(digits(1, 30), fc.constantFrom('0', '1', '9'.repeat(30), '1' + '0'.repeat(29))),
    fc.option(fc.oneof(digits(1, 30), fc.constantFrom('0'.repeat(29) + '1', '9'.repeat(30), '5')), {
      nil: undefined,
    }),
  )
  .map(([int, frac]) => (frac === undefined ? int : `${int}.${frac}`));
const positiveDecimal = anyDecimal.filter((t) => new Decimal(t).greaterThan(0));

/** A percentage as a rule holds it: at most 18 significant digits, up to 30 decimals. */
const percent = fc
  .tuple(fc.bigInt({ min: 1n, max: 10n ** 18n - 1n }), fc.integer({ min: 0, max: 30 }))
  .map(([units, places]) => new Decimal(units.toString()).dividedBy(new Decimal(10).pow(places)).toFixed());

const dec = (text: string) => new Decimal(text);

describe('scaled decimals against decimal.js', () => {
  it('parse a price exactly where parsePositiveDecimal does, with its messages; format it back as decimal.js', () => {
    const nearDecimal = fc.oneof(
      anyDecimal,
      anyDecimal.map((t) => `-${t}`),
      fc.constantFrom('', '.', '1.', '.5', '1e5', ' 1', '1 ', '0x10', '+1', '1.2.3', '١٢٣', '1'.repeat(31)),
      fc.constantFrom(`1.${'1'.repeat(31)}`, '-0', '0.0', 'NaN'),
      fc.string({ maxLength: 8 }),
    );
    fc.assert(
      fc.property(nearDecimal, (text) => {
        let expected: Decimal | string;
        try {
          expected = parsePositiveDecimal(text, 'ask');
        } catch (error) {
          expected = (error as Error).message;
        }
        if (typeof expected === 'string') {
          expect(() => parsePositivePrice(text, 'ask')).toThrow(new InvalidDecimalError(expected));
        } else {
          const scaled = parsePositivePrice(text, 'ask');
          expect(formatScaled(scaled)).toBe(formatDecimal(expected));
          expect(scaled).toBe(BigInt(expected.times(new Decimal(10).pow(PRICE_SCALE)).toFixed()));
        }
      }),
      { numRuns: 2000 },
    );
  });

  it.each([
    ['0.000000000000000000000000000001', 10n],
    ['999999999999999999999999999999.999999999999999999999999999999', 10n ** 61n - 10n],
    ['123456789012345678', 123456789012345678n * 10n ** 31n],
    ['0.123456789012345678', 123456789012345678n * 10n ** 13n],
    ['60000.50', 6000050n * 10n ** 29n],
  ])('%s is %s at PRICE_SCALE', (text, scaled) => {
    expect(parsePositivePrice(text, 'ask')).toBe(scaled);
    expect(scaledPriceOf(text)).toBe(scaled);
  });

  it('reads back a mid with PRICE_SCALE decimals, which a ticker may not send', () => {
    const mid = `0.${'0'.repeat(29)}15`;
    expect(scaledPriceOf(mid)).toBe(15n);
    expect(() => parsePositivePrice(mid, 'ask')).toThrow(InvalidDecimalError);
    expect(parseDecimalUnits(mid)).toBeUndefined();
  });

  it('a mid is (ask + bid) / 2 written as decimal.js writes it', () => {
    fc.assert(
      fc.property(positiveDecimal, positiveDecimal, (ask, bid) => {
        const mid = new QuotePrices({ ask, bid }).get('mid')!;
        expect(mid.text).toBe(formatDecimal(dec(ask).plus(bid).dividedBy(2)));
        expect(mid.value).toBe(scaledPriceOf(mid.text));
      }),
      { numRuns: 1000 },
    );
  });

  it('decides "(a − b) × 100 ≥ threshold × b" as decimal.js does', () => {
    fc.assert(
      fc.property(positiveDecimal, positiveDecimal, percent, (a, b, t) => {
        const { units, hundredUnit } = parsePercent(t, 'thresholdPercent');
        const [sa, sb] = [parsePositivePrice(a, 'a'), parsePositivePrice(b, 'b')];
        const expected = dec(a).minus(b).times(100).greaterThanOrEqualTo(dec(t).times(b));
        expect((sa - sb) * hundredUnit >= units * sb).toBe(expected);
      }),
      { numRuns: 2000 },
    );
  });

  it('rounds a ratio half-even to 8 places as decimal.js does', () => {
    const integer = fc.bigInt({ min: -(10n ** 62n), max: 10n ** 62n });
    const halves = fc
      .tuple(fc.bigInt({ min: -(10n ** 9n), max: 10n ** 9n }), fc.bigInt({ min: 1n, max: 10n ** 20n }))
      .map(([k, d]) => [(2n * k + 1n) * d, 2n * d * 10n ** 8n] as const);
    const pair = fc.oneof(
      fc.tuple(integer, fc.bigInt({ min: 1n, max: 10n ** 62n })),
      fc.tuple(fc.bigInt({ min: -1000n, max: 1000n }), fc.bigInt({ min: 1n, max: 1000n })),
      halves,
    );
    fc.assert(
      fc.property(pair, ([n, d]) => {
        const expected = formatDecimal(dec(n.toString()).dividedBy(d.toString()), 8);
        expect(formatRatio(n, d, 8)).toBe(expected);
      }),
      { numRuns: 2000 },
    );
    expect(formatRatio(1n, 2n * 10n ** 8n, 8)).toBe('0');
    expect(formatRatio(3n, 2n * 10n ** 8n, 8)).toBe('0.00000002');
    expect(formatRatio(-3n, 2n * 10n ** 8n, 8)).toBe('-0.00000002');
    expect(formatRatio(-1n, 2n * 10n ** 8n, 8)).toBe('0');
  });

  it('parses percentages of 18 significant digits and many decimals, and refuses what is not one', () => {
    expect(parsePercent('0.000000000000000000000000000001', 't')).toMatchObject({
      units: 1n,
      unit: 10n ** 30n,
    });
    expect(parsePercent('99.9999999999999999', 't')).toMatchObject({
      units: 999999999999999999n,
      unit: 10n ** 16n,
    });
    expect(parsePercent('0', 'rearmPercent', 'non-negative')).toMatchObject({ units: 0n });
    expect(() => parsePercent('0', 'thresholdPercent')).toThrow(
      'thresholdPercent must be greater than 0, got "0"',
    );
    expect(() => parsePercent('-1', 'r', 'non-negative')).toThrow('r must be 0 or more');
    expect(() => parsePercent('1e2', 't')).toThrow(InvalidDecimalError);
  });
});

/**
 * Each kind at the edge of its decision: the price decimal.js puts exactly on the threshold fires, the price one
 * unit of the 30th decimal short of it does not, with thresholds of 18 significant digits and prices at both ends
 * of the representation.
 */
describe('detectors at the edge of a decision', () => {
  const common = { priceField: 'ask' as const, cooldownMs: 0 };
  const ULP = new Decimal('1e-30');
  const cases: Array<[string, string]> = [
    // [the price the change is measured from, threshold %]
    ['100', '1.23456789012345678'],
    ['60000.5', '0.000000000000000001'],
    ['0.000000000001', '99.9999999999999999'],
    ['99999999999999999999999.99', '0.00123456789012345678'],
    ['123456789.123456789012', '12.3456789012345678'],
  ];

  /** Whether `rule` fires at the second of two asks. */
  const fires = (rule: Rule, first: string, second: string): boolean => {
    const evaluator = new RuleEvaluator(rule);
    evaluator.observe(new QuotePrices({ ask: first, bid: first }), 0);
    return evaluator.observe(new QuotePrices({ ask: second, bid: second }), 1000) !== null;
  };

  it.each(cases)(
    'from %s at %s %%: move, window and trailing fire on the threshold, not a unit short',
    (from, t) => {
      // decimal.js: the price exactly threshold % above, and below, `from`.
      const step = dec(from).times(t).dividedBy(100);
      const up = dec(from).plus(step);
      const down = dec(from).minus(step);
      const rules: Array<[Rule & { direction: string }, Decimal, Decimal]> = [
        [{ ...common, id: 'm', kind: 'move', thresholdPercent: t, direction: 'both' }, up, ULP],
        [{ ...common, id: 'm', kind: 'move', thresholdPercent: t, direction: 'both' }, down, ULP.negated()],
        [
          { ...common, id: 'w', kind: 'window', thresholdPercent: t, windowMs: 60_000, direction: 'up' },
          up,
          ULP,
        ],
        [
          { ...common, id: 'w', kind: 'window', thresholdPercent: t, windowMs: 60_000, direction: 'down' },
          down,
          ULP.negated(),
        ],
        [{ ...common, id: 't', kind: 'trailing', thresholdPercent: t, direction: 'up' }, up, ULP],
        [
          { ...common, id: 't', kind: 'trailing', thresholdPercent: t, direction: 'down' },
          down,
          ULP.negated(),
        ],
      ];
      for (const [rule, edge, unit] of rules) {
        const short = edge.minus(unit);
        // The oracle agrees that these are the two sides of the decision.
        expect(edge.minus(from).abs().times(100).greaterThanOrEqualTo(dec(t).times(from))).toBe(true);
        expect(short.minus(from).abs().times(100).greaterThanOrEqualTo(dec(t).times(from))).toBe(false);
        expect([rule.kind, rule.direction, fires(rule, from, edge.toFixed())]).toEqual([
          rule.kind,
          rule.direction,
          true,
        ]);
        expect([rule.kind, rule.direction, fires(rule, from, short.toFixed())]).toEqual([
          rule.kind,
          rule.direction,
          false,
        ]);
      }
    },
  );

  it('cross: re-arms only past level × (1 − rearm %), to the unit of the 30th decimal', () => {
    const level = '99999999999999999.9999999999';
    const rearmPercent = '0.000000000000000001';
    const rule: Rule = { ...common, id: 'c', kind: 'cross', level, direction: 'up', rearmPercent };
    const band = dec(level).times(new Decimal(100).minus(rearmPercent)).dividedBy(100);
    const run = (asks: string[]) => {
      const evaluator = new RuleEvaluator(rule);
      return asks.map((ask, i) => evaluator.observe(new QuotePrices({ ask, bid: ask }), i * 1000) !== null);
    };
    const below = '1';
    // On the band: still disarmed, the second crossing does not fire; one unit below it: re-armed, it fires.
    expect(run([below, level, band.toFixed(), level])).toEqual([false, true, false, false]);
    expect(run([below, level, band.minus(ULP).toFixed(), level])).toEqual([false, true, false, true]);
  });

  it('spread: fires at exactly the threshold, not at 18 significant digits above it', () => {
    const rule = (thresholdPercent: string): Rule => ({
      ...common,
      id: 's',
      kind: 'spread',
      thresholdPercent,
    });
    // ask 101, bid 99: (ask − bid) / mid = 2 %.
    const spreadFires = (ask: string, bid: string, t: string) =>
      new RuleEvaluator(rule(t)).observe(new QuotePrices({ ask, bid }), 0) !== null;
    expect(spreadFires('101', '99', '2')).toBe(true);
    expect(spreadFires('101', '99', '2.00000000000000001')).toBe(false);
    const ask = '0.000000000000000000000000000101';
    const bid = '0.000000000000000000000000000099';
    expect(spreadFires(ask, bid, '2')).toBe(true);
    expect(spreadFires(ask, bid, '2.00000000000000001')).toBe(false);
  });
});
