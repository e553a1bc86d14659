import { PRICE_FIELDS } from '../../../libs/contracts/src/monitor-config';
import {
  backtestRules,
  changeKind,
  createBody,
  crossLevels,
  draftFromRule,
  duration,
  editBody,
  emptyDraft,
  isoToLocalInput,
  KIND_DIRECTIONS,
  type RuleDraft,
  ruleBody,
  ruleErrorTarget,
  ruleSummary,
  type RuleView,
  shownChoice,
  splitRuleErrors,
} from './rules-model';

const draft = (kind: RuleDraft['kind'], values: Partial<RuleDraft['values']>, id?: string): RuleDraft => {
  const made = emptyDraft(kind);
  return { ...made, id, values: { ...made.values, ...values } };
};

describe('rules model', () => {
  it('sends one plain move rule as the top-level fields, numbers as numbers, what is not a number as typed', () => {
    expect(
      createBody(' btc-usd ', '1000', [draft('move', { thresholdPercent: '0.5', direction: 'up' })]),
    ).toEqual({
      pair: 'btc-usd',
      intervalMs: 1000,
      thresholdPercent: 0.5,
      direction: 'up',
    });
    expect(
      createBody('BTC-USD', '5s', [draft('move', { thresholdPercent: 'abc', cooldownMs: '1000' })]),
    ).toEqual({
      pair: 'BTC-USD',
      intervalMs: '5s',
      thresholdPercent: 'abc',
      cooldownMs: 1000,
    });
    // What reads as a number goes as one, so the API judges its value: -1 is "must be greater than 0", not
    // "must be a number"; .5 and 2. are taken.
    for (const [typed, sent] of [
      ['-1', -1],
      ['.5', 0.5],
      ['2.', 2],
      ['+0.25', 0.25],
    ] as const) {
      expect(createBody('BTC-USD', '', [draft('move', { thresholdPercent: typed })]).thresholdPercent).toBe(
        sent,
      );
    }
    expect(createBody('BTC-USD', '', [draft('move', { thresholdPercent: '1e-3' })]).thresholdPercent).toBe(
      '1e-3',
    );
  });

  it('sends rules for anything more: several rules, another kind, a label', () => {
    const body = createBody('BTC-USD', '', [
      draft('cross', { level: '100000', direction: 'up', thresholdPercent: 'left over from move' }),
      draft('window', { thresholdPercent: '3', windowMs: '900000', maxFires: '2' }),
    ]);
    expect(body).toEqual({
      pair: 'BTC-USD',
      rules: [
        { kind: 'cross', level: '100000', direction: 'up' },
        { kind: 'window', thresholdPercent: '3', windowMs: 900000, maxFires: 2 },
      ],
    });
    expect(createBody('BTC-USD', '', [draft('move', { thresholdPercent: '1', label: 'big' })]).rules).toEqual(
      [{ kind: 'move', thresholdPercent: '1', label: 'big' }],
    );
  });

  it('edits with every rule, ids kept, expiresAt as an instant', () => {
    const local = isoToLocalInput('2030-01-02T03:04:05.000Z');
    expect(editBody('2000', [draft('spread', { thresholdPercent: '0.2', expiresAt: local }, 'r3')])).toEqual({
      intervalMs: 2000,
      rules: [{ id: 'r3', kind: 'spread', thresholdPercent: '0.2', expiresAt: '2030-01-02T03:04:05.000Z' }],
    });
  });

  it('fills a draft from a stored rule and back to the same body', () => {
    const rule: RuleView = {
      id: 'r2',
      kind: 'cross',
      level: '100000',
      direction: 'up',
      rearmPercent: '0.5',
      priceField: 'bid',
      cooldownMs: 0,
      fires: 3,
    };
    expect(ruleBody(draftFromRule(rule))).toEqual({
      id: 'r2',
      kind: 'cross',
      level: '100000',
      direction: 'up',
      rearmPercent: '0.5',
      priceField: 'bid',
      cooldownMs: 0,
    });
  });

  it("shows a stored default in a choice as its '(default)' option, not as a blank select", () => {
    const edited = draftFromRule({
      id: 'r1',
      kind: 'cross',
      level: '3100',
      direction: 'both',
      priceField: 'ask',
    } as never);
    expect(shownChoice(edited.values.direction, KIND_DIRECTIONS.cross ?? [])).toBe('');
    expect(shownChoice(edited.values.priceField, PRICE_FIELDS)).toBe('');
    expect(shownChoice('up', KIND_DIRECTIONS.cross ?? [])).toBe('up');
    expect(shownChoice('down', KIND_DIRECTIONS.trailing ?? [])).toBe('');
    expect(shownChoice('', PRICE_FIELDS)).toBe('');
  });

  it('keeps the fields two kinds share when the kind changes, drops a direction the new kind lacks', () => {
    const changed = changeKind(draft('move', { thresholdPercent: '2', direction: 'both' }), 'trailing');
    expect(changed.kind).toBe('trailing');
    expect(changed.values).toMatchObject({ thresholdPercent: '2', direction: '' });
    expect(ruleBody(changeKind(changed, 'spread'))).toEqual({ kind: 'spread', thresholdPercent: '2' });
  });

  it('gives a backtest an id for each rule, as the API would', () => {
    const { rules, ids } = backtestRules([
      draft('move', { thresholdPercent: '1' }),
      draft('cross', { level: '5' }, 'r4'),
    ]);
    expect(ids).toEqual(['r5', 'r4']);
    expect(rules.map((r) => r.id)).toEqual(['r5', 'r4']);
  });

  it('places the API field errors beside their rule and field', () => {
    expect(ruleErrorTarget('rules[1].level')).toEqual({ rule: 1, field: 'level' });
    expect(ruleErrorTarget('rules[0].kind')).toEqual({ rule: 0 });
    expect(ruleErrorTarget('rules[2]')).toEqual({ rule: 2 });
    expect(ruleErrorTarget('rules')).toEqual({});
    expect(ruleErrorTarget('thresholdPercent')).toEqual({ rule: 0, field: 'thresholdPercent' });
    expect(ruleErrorTarget('pair')).toBeUndefined();
    expect(
      splitRuleErrors({
        pair: ['pair must be…'],
        'rules[1].level': ['rules[1].level must be a positive decimal'],
        'rules[1]': ['rules[1].kind must be one of move, cross'],
        rules: ['rules must hold at most 10 rules'],
        thresholdPercent: ['thresholdPercent must be > 0'],
      }),
    ).toEqual({
      rules: {
        perRule: {
          0: { thresholdPercent: ['thresholdPercent must be > 0'] },
          1: {
            level: ['rules[1].level must be a positive decimal'],
            '': ['rules[1].kind must be one of move, cross'],
          },
        },
        whole: ['rules must hold at most 10 rules'],
      },
      rest: { pair: ['pair must be…'] },
    });
  });

  it('says what a rule watches for', () => {
    const common = { priceField: 'ask' as const, cooldownMs: 0 };
    expect(
      ruleSummary({ id: 'r1', kind: 'move', thresholdPercent: '0.5', direction: 'both', ...common }),
    ).toBe('move ↕ ±0.5 %');
    expect(
      ruleSummary({
        id: 'r2',
        kind: 'cross',
        level: '100000',
        direction: 'up',
        rearmPercent: '0',
        ...common,
      }),
    ).toBe('cross ↑ 100000');
    expect(
      ruleSummary({
        id: 'r3',
        kind: 'window',
        thresholdPercent: '3',
        windowMs: 900_000,
        direction: 'up',
        ...common,
        maxFires: 2,
      }),
    ).toBe('window ↑ 3 % in 15 min · max 2');
    expect(
      ruleSummary({
        id: 'r4',
        kind: 'trailing',
        thresholdPercent: '5',
        direction: 'down',
        priceField: 'mid',
        cooldownMs: 60_000,
      }),
    ).toBe('trailing ↓ 5 % from the peak · mid · cooldown 1 min');
    expect(ruleSummary({ id: 'r5', kind: 'spread', thresholdPercent: '0.2', ...common })).toBe(
      'spread ≥ 0.2 %',
    );
  });

  it('draws the levels of the cross rules that are not done', () => {
    const common = { priceField: 'ask' as const, cooldownMs: 0, rearmPercent: '0', direction: 'up' as const };
    expect(
      crossLevels([
        { id: 'r1', kind: 'cross', level: '10', ...common },
        { id: 'r2', kind: 'cross', level: '20', ...common, done: true },
        { id: 'r3', kind: 'spread', thresholdPercent: '1', priceField: 'ask', cooldownMs: 0 },
      ]),
    ).toEqual([{ id: 'r1', level: '10', direction: 'up', label: undefined }]);
    expect(crossLevels(undefined)).toEqual([]);
  });

  it('writes durations the short way', () => {
    expect([duration(900_000), duration('7200000'), duration(90_000), duration(1500), duration('x')]).toEqual(
      ['15 min', '2 h', '90 s', '1500 ms', ''],
    );
  });
});
