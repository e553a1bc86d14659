import fc from 'fast-check';
import { compareDecimalText, Decimal } from './decimal';
import { OscillationDetector } from './oscillation-detector';
import { QuotePrices } from './quote-prices';
import { backtestRules, RuleEvaluator, RuleSet, WindowDetector } from './rule-detectors';
import type { Rule } from './rules';

const common = { priceField: 'ask' as const, cooldownMs: 0 };

/** Feeds asks (bid = ask) one second apart from t = 0; returns each tick's firing as "direction@price" or null. */
function run(rule: Rule, asks: string[], stepMs = 1000): Array<string | null> {
  const evaluator = new RuleEvaluator(rule);
  return asks.map((ask, i) => {
    const firing = evaluator.observe(prices(ask), i * stepMs);
    return firing ? `${firing.direction}@${firing.price}` : null;
  });
}

const prices = (ask: string, bid = ask) => new QuotePrices({ ask, bid });

describe('compareDecimalText', () => {
  it.each([
    ['1', '1', 0],
    ['1.50', '1.5', 0],
    ['01', '1', 0],
    ['0.1', '0.10000', 0],
    ['2', '10', -1],
    ['10', '9.99', 1],
    ['0.001', '0.0009', 1],
    ['63120.45', '63120.450001', -1],
    ['100', '100.', 0],
    ['0100.5', '1000.5', -1],
    ['99.99', '99.98', 1],
    ['1.05', '1.50', -1],
    ['7.25', '7.25', 0],
  ])('%s vs %s → %i', (a, b, expected) => {
    expect(compareDecimalText(a, b)).toBe(expected);
  });

  it('agrees with Decimal on any two positive decimals', () => {
    const decimal = fc
      .tuple(fc.bigInt({ min: 0n, max: 10n ** 12n }), fc.nat({ max: 8 }))
      .map(([n, places]) => new Decimal(n.toString()).dividedBy(new Decimal(10).pow(places)).toFixed(places));
    fc.assert(
      fc.property(decimal, decimal, (a, b) => {
        expect(compareDecimalText(a, b)).toBe(new Decimal(a).comparedTo(new Decimal(b)));
      }),
    );
  });
});

describe('move', () => {
  it('is the oscillation detector, alert for alert', () => {
    const series = ['100', '100.5', '101', '100', '99.9', '99.5', '100.898', '100.899'];
    const detector = new OscillationDetector({ thresholdPercent: '1' });
    const expected = series.map((ask, i) => {
      const o = detector.observe({ ask, bid: ask }, i * 1000);
      return o ? `${o.direction}@${o.price}` : null;
    });
    const rule: Rule = { ...common, id: 'r1', kind: 'move', thresholdPercent: '1', direction: 'both' };
    expect(run(rule, series)).toEqual(expected);
    // 99.9 is 1.09 % below 101; 100.899 is exactly 1 % above 99.9.
    expect(expected).toEqual([null, null, 'up@101', null, 'down@99.9', null, null, 'up@100.899']);
  });
});

describe('cross', () => {
  const cross = (over: Partial<Rule> = {}): Rule =>
    ({
      ...common,
      id: 'r1',
      kind: 'cross',
      level: '100',
      direction: 'both',
      rearmPercent: '0',
      ...over,
    }) as Rule;

  it('fires when the price reaches the level from the other side; the first price only sets the side', () => {
    // 100 first: at the level, no side yet to cross from; 99 → 100 reaches it from below.
    expect(run(cross(), ['101', '100', '99', '100', '100.5', '99.99'])).toEqual([
      null,
      'down@100',
      null,
      'up@100',
      null,
      'down@99.99',
    ]);
  });

  it('fires once per crossing while the price hovers above', () => {
    expect(run(cross({ direction: 'up' }), ['99', '101', '102', '101', '100', '99', '100.01'])).toEqual([
      null,
      'up@101',
      null,
      null,
      null,
      null,
      'up@100.01',
    ]);
  });

  it('stays disarmed until the price has gone back past the re-arm band', () => {
    // level 100, band 1 %: after an up crossing, re-armed only below 99.
    expect(
      run(cross({ direction: 'up', rearmPercent: '1' }), [
        '98',
        '100',
        '99.5',
        '100.2',
        '99',
        '100',
        '98.99',
        '100',
      ]),
    ).toEqual([null, 'up@100', null, null, null, null, null, 'up@100']);
  });

  it('reports the level, the previous price and the change from the level', () => {
    const evaluator = new RuleEvaluator(cross({ level: '100000' }));
    evaluator.observe(prices('99990'), 0);
    expect(evaluator.observe(prices('100012.50'), 1000)).toMatchObject({
      ruleId: 'r1',
      kind: 'cross',
      direction: 'up',
      referencePrice: '100000',
      price: '100012.50',
      changePercent: '0.0125',
      thresholdPercent: '0',
      details: { level: '100000', previousPrice: '99990', rearmPercent: '0' },
    });
  });
});

describe('window', () => {
  const window = (over: Partial<Rule> = {}): Rule =>
    ({
      ...common,
      id: 'r1',
      kind: 'window',
      thresholdPercent: '3',
      windowMs: 5000,
      direction: 'both',
      ...over,
    }) as Rule;

  it('fires on a 3 % rise from the window minimum, once per move (the window restarts)', () => {
    // min 100 at t=1; 103 at t=4 is +3 % within 5 s; the window restarts at 103, so 103.5 does not fire again.
    expect(run(window(), ['101', '100', '101', '102', '103', '103.5', '104'])).toEqual([
      null,
      null,
      null,
      null,
      'up@103',
      null,
      null,
    ]);
  });

  it('forgets ticks older than windowMs', () => {
    // 100 at t=0 leaves the window at t=5 (window (t−5 s, t]); 103 at t=5 is only +2 % above 101.
    expect(run(window(), ['100', '101', '101', '101', '101', '103'])).toEqual([
      null,
      null,
      null,
      null,
      null,
      null,
    ]);
    expect(run(window(), ['100', '101', '101', '101', '103'])).toEqual([null, null, null, null, 'up@103']);
  });

  it('fires down from the window maximum and reports min and max', () => {
    const evaluator = new RuleEvaluator(window({ direction: 'down' }));
    const series = ['100', '110', '108', '106.7'];
    const out = series.map((ask, i) => evaluator.observe(prices(ask), i * 1000));
    expect(out.slice(0, 3)).toEqual([null, null, null]);
    expect(out[3]).toMatchObject({
      direction: 'down',
      referencePrice: '110',
      price: '106.7',
      changePercent: '-3',
      details: { windowMs: 5000, min: '100', max: '110' },
    });
  });

  it('holds only the entries that can still be an extreme, and no more than the window', () => {
    const detector = new WindowDetector(window({ thresholdPercent: '1000', windowMs: 100_000 }) as never);
    const evaluator = { observe: (ask: string, at: number) => detector.observe(prices(ask), at, true) };
    // Rising prices: every one can still become the minimum; 1,000 ticks, 100 within the window.
    for (let i = 0; i < 1000; i++) evaluator.observe(String(1000 + i), i * 1000);
    expect(detector.size).toBe(100 + 1);
  });
});

describe('trailing', () => {
  it('down: fires 5 % below the running peak, then the peak restarts at the firing price', () => {
    const rule: Rule = { ...common, id: 'r1', kind: 'trailing', thresholdPercent: '5', direction: 'down' };
    expect(run(rule, ['100', '110', '105', '104.5', '104', '99.275', '110'])).toEqual([
      null,
      null,
      null,
      'down@104.5',
      null,
      'down@99.275',
      null,
    ]);
  });

  it('up: fires 5 % above the running trough', () => {
    const rule: Rule = { ...common, id: 'r1', kind: 'trailing', thresholdPercent: '5', direction: 'up' };
    expect(run(rule, ['100', '90', '94.4', '94.5', '99.225'])).toEqual([
      null,
      null,
      null,
      'up@94.5',
      'up@99.225',
    ]);
  });
});

describe('spread', () => {
  it('fires when (ask − bid) / mid reaches the threshold, then waits until it narrows again', () => {
    const evaluator = new RuleEvaluator({ ...common, id: 's', kind: 'spread', thresholdPercent: '1' });
    const quotes: Array<[string, string]> = [
      ['100.4', '99.6'], // 0.8 / 100 = 0.8 %
      ['100.5', '99.5'], // 1 / 100 = 1 %: fires
      ['100.6', '99.4'], // still wide: disarmed
      ['100.1', '99.9'], // narrow: re-armed
      ['101', '99'], // 2 %: fires
    ];
    const out = quotes.map(([ask, bid], i) => evaluator.observe(prices(ask, bid), i * 1000));
    expect(out.map((f) => f && f.changePercent)).toEqual([null, '1', null, null, '2']);
    expect(out[1]).toMatchObject({
      referencePrice: '100',
      price: '100.5',
      details: { ask: '100.5', bid: '99.5', spread: '1' },
    });
  });
});

describe('shared options', () => {
  const move: Rule = { ...common, id: 'r1', kind: 'move', thresholdPercent: '1', direction: 'both' };

  it('maxFires: the rule is done after that many alerts', () => {
    const evaluator = new RuleEvaluator({ ...move, maxFires: 2 });
    const out = ['100', '101', '102.01', '103.04'].map((ask, i) => evaluator.observe(prices(ask), i));
    expect(out.filter(Boolean)).toHaveLength(2);
    expect(evaluator.doneAt(10)).toBe(true);
  });

  it('expiresAt: nothing is evaluated from then on', () => {
    const evaluator = new RuleEvaluator({ ...move, expiresAt: new Date(2000).toISOString() });
    expect(evaluator.observe(prices('100'), 0)).toBeNull();
    expect(evaluator.observe(prices('110'), 2000)).toBeNull();
    expect(evaluator.doneAt(2000)).toBe(true);
  });

  it('cooldownMs holds a trailing alert back without restarting its peak', () => {
    const rule: Rule = {
      ...common,
      id: 'r1',
      kind: 'trailing',
      thresholdPercent: '5',
      direction: 'down',
      cooldownMs: 5000,
    };
    // fires at t=1 (95), peak restarts at 95; 90 at t=3 is 5.3 % below it but within the cooldown; at t=6 it fires.
    expect(run(rule, ['100', '95', '95', '90', '90', '90', '90'])).toEqual([
      null,
      'down@95',
      null,
      null,
      null,
      null,
      'down@90',
    ]);
  });

  it('priceField mid is (ask + bid) / 2, exactly', () => {
    const evaluator = new RuleEvaluator({
      ...common,
      priceField: 'mid',
      id: 'r1',
      kind: 'cross',
      level: '100',
      direction: 'up',
      rearmPercent: '0',
    });
    evaluator.observe(prices('100.01', '99.98'), 0); // mid 99.995
    expect(evaluator.observe(prices('100.01', '99.99'), 1)).toMatchObject({ price: '100' });
  });
});

describe('backtest', () => {
  it('answers the alerts, their times and the count per rule', () => {
    const rules: Rule[] = [
      { ...common, id: 'r1', kind: 'cross', level: '100', direction: 'up', rearmPercent: '0' },
      { ...common, id: 'r2', kind: 'move', thresholdPercent: '2', direction: 'both' },
    ];
    const asks = ['98', '99', '100.5', '97', '101'];
    const result = backtestRules(
      rules,
      asks.map((ask, i) => ({ atMs: Date.UTC(2030, 0, 1) + i * 1000, ask, bid: ask })),
    );
    expect(result).toMatchObject({
      ticks: 5,
      from: '2030-01-01T00:00:00.000Z',
      to: '2030-01-01T00:00:04.000Z',
      firedByRule: { r1: 2, r2: 3 },
    });
    expect(result.alerts.map((a) => `${a.ruleId}:${a.direction}@${a.price}`)).toEqual([
      'r1:up@100.5',
      'r2:up@100.5',
      'r2:down@97',
      'r1:up@101',
      'r2:up@101',
    ]);
    expect(result.alertsTruncated).toBe(false);
  });

  it("lists each rule's first alertsPerRule alerts and counts them all, deciding the rest as it would have", () => {
    const rules: Rule[] = [
      { ...common, id: 'r1', kind: 'cross', level: '100', direction: 'both', rearmPercent: '0' },
      { ...common, id: 'r2', kind: 'spread', thresholdPercent: '1' },
      { ...common, id: 'r3', kind: 'window', thresholdPercent: '3', windowMs: 5000, direction: 'both' },
      { ...common, id: 'r4', kind: 'trailing', thresholdPercent: '2', direction: 'down', maxFires: 4 },
    ];
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 9_000, max: 11_000 }), fc.integer({ min: 0, max: 300 })), {
          maxLength: 300,
        }),
        fc.integer({ min: 0, max: 6 }),
        (points, perRule) => {
          const ticks = points.map(([cents, spread], i) => ({
            atMs: Date.UTC(2030, 0, 1) + i * 1000,
            ask: (cents / 100).toFixed(2),
            bid: ((cents - spread) / 100).toFixed(2),
          }));
          const all = backtestRules(rules, ticks);
          const capped = backtestRules(rules, ticks, { alertsPerRule: perRule });
          const listed: Record<string, number> = {};
          const expected = all.alerts.filter(
            (a) => (listed[a.ruleId] = (listed[a.ruleId] ?? 0) + 1) <= perRule,
          );
          expect(capped.alerts).toEqual(expected);
          expect(capped.firedByRule).toEqual(all.firedByRule);
          expect(capped.alertsTruncated).toBe(expected.length < all.alerts.length);
          expect(all.alertsTruncated).toBe(false);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('bad prices (property)', () => {
  const goodPrice = fc
    .tuple(fc.integer({ min: 1, max: 2_000_000 }), fc.integer({ min: 0, max: 4 }))
    .map(([n, places]) => new Decimal(n).dividedBy(new Decimal(10).pow(places)).toFixed());
  const badPrice = fc.oneof(
    fc.constantFrom('0', '0.000', '-1', '', 'NaN', '1e5', ' 1', 'abc', '١٢٣'),
    fc.string().filter((s) => !/^\d{1,30}(\.\d{1,30})?$/.test(s)),
  );
  const anyRule: fc.Arbitrary<Rule> = fc.oneof(
    fc.constantFrom<Rule>(
      { ...common, id: 'm', kind: 'move', thresholdPercent: '0.5', direction: 'both' },
      { ...common, id: 'c', kind: 'cross', level: '1000', direction: 'both', rearmPercent: '0.1' },
      { ...common, id: 'w', kind: 'window', thresholdPercent: '0.5', windowMs: 5000, direction: 'both' },
      { ...common, id: 'tu', kind: 'trailing', thresholdPercent: '0.5', direction: 'up' },
      { ...common, id: 'td', kind: 'trailing', thresholdPercent: '0.5', direction: 'down' },
      { ...common, id: 's', kind: 'spread', thresholdPercent: '0.5' },
      {
        ...common,
        priceField: 'mid',
        id: 'wm',
        kind: 'window',
        thresholdPercent: '0.2',
        windowMs: 3000,
        direction: 'both',
      },
      {
        ...common,
        priceField: 'bid',
        id: 'cb',
        kind: 'cross',
        level: '1000',
        direction: 'both',
        rearmPercent: '0',
      },
    ),
  );
  // A tick is good, or has a bad ask, a bad bid, or both bad.
  const tick = fc.oneof(
    fc.tuple(goodPrice, goodPrice).map(([ask, bid]) => ({ ask, bid, bad: false })),
    fc.tuple(badPrice, goodPrice).map(([ask, bid]) => ({ ask, bid, bad: true })),
    fc.tuple(goodPrice, badPrice).map(([ask, bid]) => ({ ask, bid, bad: true })),
  );

  it('a tick with a bad price fires nothing and moves no state, in every kind', () => {
    fc.assert(
      fc.property(anyRule, fc.array(tick, { maxLength: 40 }), (rule, ticks) => {
        // With the bad ticks, and without them: the same alerts at the same ticks.
        const withBad = new RuleSet([rule]);
        const without = new RuleSet([rule]);
        ticks.forEach((t, i) => {
          const needs =
            rule.kind === 'spread' || rule.priceField === 'mid' ? ['ask', 'bid'] : [rule.priceField];
          const badForRule = needs.some(
            (f) => !/^\d+(\.\d+)?$/.test(t[f as 'ask' | 'bid']) || Number(t[f as 'ask' | 'bid']) === 0,
          );
          const a = withBad.observe(t, i * 1000).firings;
          if (badForRule) {
            expect(a).toEqual([]);
          } else {
            expect(a).toEqual(without.observe(t, i * 1000).firings);
          }
        });
      }),
      { numRuns: 300 },
    );
  });
});
