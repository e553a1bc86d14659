import { InvalidDecimalError } from './decimal';
import type { Direction, PriceField } from './monitor-config';
import { OscillationDetector } from './oscillation-detector';
import type { Quote } from './quote-prices';

const ask = (price: string): Quote => ({ ask: price, bid: price });

/** Feeds prices (as asks) one second apart; returns what each observation produced. */
function feed(detector: OscillationDetector, prices: string[], startMs = 0, stepMs = 1000) {
  return prices.map((price, index) => detector.observe(ask(price), startMs + index * stepMs));
}

describe('OscillationDetector', () => {
  describe('reference price', () => {
    it('takes the first price as the reference without alerting', () => {
      const detector = new OscillationDetector({ thresholdPercent: '0.01' });
      expect(detector.referencePrice).toBeUndefined();
      expect(detector.observe(ask('63120.45'), 0)).toBeNull();
      expect(detector.referencePrice).toBe('63120.45');
    });

    it('keeps the reference while the price stays inside the threshold', () => {
      const detector = new OscillationDetector({ thresholdPercent: '1' });
      expect(feed(detector, ['100', '100.5', '99.5', '100.99', '99.01'])).toEqual([
        null,
        null,
        null,
        null,
        null,
      ]);
      expect(detector.referencePrice).toBe('100');
    });

    it('moves the reference to the price that fired', () => {
      const detector = new OscillationDetector({ thresholdPercent: '1' });
      const [, first, second, third] = feed(detector, ['100', '101', '101.5', '102.01']);
      expect(first).toMatchObject({ referencePrice: '100', price: '101', direction: 'up' });
      expect(detector.referencePrice).toBe('102.01');
      // 101.5 is only ~0.495 % above 101: no alert, reference stays 101 until 102.01 (+1 %).
      expect(second).toBeNull();
      expect(third).toMatchObject({ referencePrice: '101', price: '102.01', changePercent: '1' });
    });

    it('does not fire on every tick while a price hovers near the line', () => {
      const detector = new OscillationDetector({ thresholdPercent: '1' });
      const results = feed(detector, ['100', '101', '101.2', '100.8', '101.3', '100.5']);
      expect(results.filter((r) => r !== null)).toHaveLength(1);
    });
  });

  describe('threshold', () => {
    it.each<[string, string, string, string, 'up' | 'down' | null]>([
      // reference, price, threshold %, expected changePercent, expected direction (null: no alert)
      ['100', '101', '1', '1', 'up'],
      ['100', '99', '1', '-1', 'down'],
      ['100', '100.999999', '1', '', null],
      ['100', '99.000001', '1', '', null],
      ['100', '100.01', '0.01', '0.01', 'up'],
      ['100', '100.0099', '0.01', '', null],
      ['100', '150', '0.01', '50', 'up'],
      ['100', '50', '0.01', '-50', 'down'],
      ['100', '100', '0.01', '', null],
      // 63120.4500 * 1.0001 = 63126.762045 exactly
      ['63120.4500', '63126.762045', '0.01', '0.01', 'up'],
      ['63120.4500', '63126.762044', '0.01', '', null],
      ['63120.4500', '63114.137955', '0.01', '-0.01', 'down'],
      ['63120.4500', '63114.137956', '0.01', '', null],
      // (0.000012346 - 0.000012345) / 0.000012345 * 100 = 0.00810044552450384770...%
      ['0.000012345', '0.000012346', '0.0081', '0.00810045', 'up'],
      ['0.000012345', '0.000012346', '0.0082', '', null],
      ['0.000000000000000000000000000001', '0.000000000000000000000000000002', '100', '100', 'up'],
      [
        '999999999999999999999999999998',
        '999999999999999999999999999999',
        '0.000000000000000000000000000001',
        '0',
        'up',
      ],
    ])(
      'reference %s, price %s, threshold %s %% → change %s (%s)',
      (reference, price, threshold, change, direction) => {
        const detector = new OscillationDetector({ thresholdPercent: threshold });
        detector.observe(ask(reference), 0);
        const result = detector.observe(ask(price), 1000);
        if (direction === null) {
          expect(result).toBeNull();
          expect(detector.referencePrice).toBe(reference);
        } else {
          expect(result).toEqual({ direction, referencePrice: reference, price, changePercent: change });
          expect(detector.referencePrice).toBe(price);
        }
      },
    );

    it.each([
      // Exactly at the threshold in exact arithmetic, but just under it in IEEE-754 doubles:
      // (1.1011 - 1.1) / 1.1 * 100 === 0.09999999999998899 in JavaScript numbers.
      ['1.1', '1.1011', '0.1'],
      // (3.03 - 3) / 3 * 100 === 0.9999999999999934 in doubles.
      ['3', '3.03', '1'],
      // (0.0707 - 0.07) / 0.07 * 100 === 0.9999999999999889 in doubles.
      ['0.07', '0.0707', '1'],
    ])('is exact where floats are not: %s → %s at %s %% fires', (reference, price, threshold) => {
      const floatChange = ((Number(price) - Number(reference)) / Number(reference)) * 100;
      expect(floatChange).toBeLessThan(Number(threshold)); // the trap a float implementation falls into

      const detector = new OscillationDetector({ thresholdPercent: threshold });
      detector.observe(ask(reference), 0);
      expect(detector.observe(ask(price), 1000)).toEqual({
        direction: 'up',
        referencePrice: reference,
        price,
        changePercent: threshold,
      });
    });

    it('keeps the prices as they were sent (trailing zeros included)', () => {
      const detector = new OscillationDetector({ thresholdPercent: '0.01' });
      detector.observe(ask('63120.4500'), 0);
      expect(detector.observe(ask('63200.0000'), 1)).toMatchObject({
        referencePrice: '63120.4500',
        price: '63200.0000',
        changePercent: '0.12602889',
      });
    });
  });

  describe('direction filter', () => {
    it.each<[Direction, string, boolean]>([
      ['both', '101', true],
      ['both', '99', true],
      ['up', '101', true],
      ['up', '99', false],
      ['down', '101', false],
      ['down', '99', true],
    ])('direction %s, 100 → %s fires: %s', (direction, price, fires) => {
      const detector = new OscillationDetector({ thresholdPercent: '1', direction });
      detector.observe(ask('100'), 0);
      const result = detector.observe(ask(price), 1000);
      expect(result !== null).toBe(fires);
      // An ignored move does not move the reference either.
      expect(detector.referencePrice).toBe(fires ? price : '100');
    });

    it('up-only keeps measuring rises from the original reference after a drop', () => {
      const detector = new OscillationDetector({ thresholdPercent: '1', direction: 'up' });
      expect(feed(detector, ['100', '90', '100.5', '101'])).toEqual([
        null,
        null,
        null,
        { direction: 'up', referencePrice: '100', price: '101', changePercent: '1' },
      ]);
    });
  });

  describe('cooldown', () => {
    it.each<[number, number, boolean]>([
      // cooldownMs, time of the second crossing after the first alert, fires
      [0, 1, true],
      [5000, 1000, false],
      [5000, 4999, false],
      [5000, 5000, true],
      [5000, 60_000, true],
    ])('cooldown %i ms, next crossing %i ms after an alert fires: %s', (cooldownMs, afterMs, fires) => {
      const detector = new OscillationDetector({ thresholdPercent: '1', cooldownMs });
      detector.observe(ask('100'), 0);
      expect(detector.observe(ask('102'), 10_000)).not.toBeNull();
      const result = detector.observe(ask('104'), 10_000 + afterMs);
      expect(result !== null).toBe(fires);
      expect(detector.referencePrice).toBe(fires ? '104' : '102');
    });

    it('does not apply before the first alert', () => {
      const detector = new OscillationDetector({ thresholdPercent: '1', cooldownMs: 60_000 });
      detector.observe(ask('100'), 0);
      expect(detector.observe(ask('101'), 1)).not.toBeNull();
    });

    it('rejects a negative or fractional cooldown', () => {
      expect(() => new OscillationDetector({ thresholdPercent: '1', cooldownMs: -1 })).toThrow(RangeError);
      expect(() => new OscillationDetector({ thresholdPercent: '1', cooldownMs: 1.5 })).toThrow(RangeError);
    });
  });

  describe('price field', () => {
    it.each<[PriceField | undefined, Quote, string]>([
      [undefined, { ask: '1.01', bid: '1.00' }, '1.01'],
      ['ask', { ask: '1.01', bid: '1.00' }, '1.01'],
      ['bid', { ask: '1.01', bid: '1.00' }, '1.00'],
      ['mid', { ask: '1.01', bid: '1.00' }, '1.005'],
      ['mid', { ask: '63120.45', bid: '63120.44' }, '63120.445'],
      [
        'mid',
        { ask: '0.000000000000000000000000000003', bid: '0.000000000000000000000000000002' },
        '0.0000000000000000000000000000025',
      ],
      ['mid', { ask: '2', bid: '2' }, '2'],
    ])('%s of %j is %s', (priceField, quote, expected) => {
      const detector = new OscillationDetector({ thresholdPercent: '1', priceField });
      expect(detector.selectPrice(quote).text).toBe(expected);
      detector.observe(quote, 0);
      expect(detector.referencePrice).toBe(expected);
    });

    it('compares the mid price exactly', () => {
      const detector = new OscillationDetector({ thresholdPercent: '0.5', priceField: 'mid' });
      detector.observe({ ask: '1.01', bid: '1.00' }, 0); // mid 1.005
      // mid 1.010025 = 1.005 * 1.005: exactly +0.5 %
      expect(detector.observe({ ask: '1.01005', bid: '1.01' }, 1)).toEqual({
        direction: 'up',
        referencePrice: '1.005',
        price: '1.010025',
        changePercent: '0.5',
      });
    });

    it('ignores a bad price in the field it does not watch', () => {
      const detector = new OscillationDetector({ thresholdPercent: '1', priceField: 'bid' });
      expect(() => detector.observe({ ask: 'garbage', bid: '100' }, 0)).not.toThrow();
      expect(detector.referencePrice).toBe('100');
    });
  });

  describe('bad prices', () => {
    const bad: Array<[string, unknown]> = [
      ['zero', '0'],
      ['zero with decimals', '0.000'],
      ['negative', '-1'],
      ['garbage', 'abc'],
      ['exponent notation', '1e5'],
      ['empty', ''],
      ['spaces', ' 100'],
      ['hex', '0x10'],
      ['a number, not a string', 100],
      ['null', null],
      ['missing', undefined],
      ['too many digits', '1'.repeat(31)],
    ];

    it.each(bad)(
      '%s (%p) throws InvalidDecimalError as the first price and sets no reference',
      (_label, value) => {
        const detector = new OscillationDetector({ thresholdPercent: '1' });
        expect(() => detector.observe({ ask: value, bid: '1' } as Quote, 0)).toThrow(InvalidDecimalError);
        expect(detector.referencePrice).toBeUndefined();
      },
    );

    it.each(bad)('%s (%p) throws after a reference without changing state', (_label, value) => {
      const detector = new OscillationDetector({ thresholdPercent: '1', cooldownMs: 10_000 });
      detector.observe(ask('100'), 0);
      expect(() => detector.observe({ ask: value, bid: '1' } as Quote, 1000)).toThrow(InvalidDecimalError);
      expect(detector.referencePrice).toBe('100');
      // Neither the reference nor the cooldown clock moved: the next good crossing fires normally.
      expect(detector.observe(ask('101'), 2000)).toMatchObject({ referencePrice: '100', price: '101' });
    });

    it.each<[string, Quote]>([
      ['ask', { ask: '0', bid: '1' }],
      ['bid', { ask: '1', bid: '-1' }],
    ])('mid names the bad field (%s)', (field, quote) => {
      const detector = new OscillationDetector({ thresholdPercent: '1', priceField: 'mid' });
      expect(() => detector.observe(quote, 0)).toThrow(new RegExp(`^${field} must be`));
    });

    it('names the field and the value in the message', () => {
      const detector = new OscillationDetector({ thresholdPercent: '1' });
      expect(() => detector.observe(ask('abc'), 0)).toThrow('ask must be a decimal string, got "abc"');
      expect(() => detector.observe(ask('0'), 0)).toThrow('ask must be greater than 0, got "0"');
    });
  });

  describe('options', () => {
    it.each(['0', '-1', 'abc', '1e2', ''])('rejects threshold %p', (thresholdPercent) => {
      expect(() => new OscillationDetector({ thresholdPercent })).toThrow(InvalidDecimalError);
    });
  });
});
