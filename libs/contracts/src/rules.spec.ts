import {
  assignRuleIds,
  isLegacyMoveRule,
  legacyMoveRule,
  parseRulesInput,
  replaySpanMs,
  Rule,
  storedRulesSchema,
} from './rules';

const NOW = Date.UTC(2030, 0, 1);
const context = { intervalMs: 5000, now: NOW };

function errorsOf(input: unknown, ctx = context): string[] {
  const result = parseRulesInput(input, ctx);
  if (result.ok) throw new Error('accepted');
  return result.errors.map((e) => e.message);
}

describe('parseRulesInput', () => {
  it('fills in defaults and assigns r1, r2… to rules without an id', () => {
    const result = parseRulesInput(
      [
        { kind: 'cross', level: 100000 },
        { kind: 'window', thresholdPercent: '3', windowMs: 900_000, id: 'pump' },
        { kind: 'trailing', thresholdPercent: 5 },
        { kind: 'spread', thresholdPercent: '0.5', priceField: 'mid' },
        {
          kind: 'move',
          thresholdPercent: '0.01',
          maxFires: 3,
          expiresAt: '2030-02-01T00:00:00Z',
          label: 'm',
        },
      ],
      context,
    );
    expect(result).toEqual({
      ok: true,
      rules: [
        {
          id: 'r1',
          kind: 'cross',
          level: '100000',
          direction: 'both',
          rearmPercent: '0',
          priceField: 'ask',
          cooldownMs: 0,
        },
        {
          id: 'pump',
          kind: 'window',
          thresholdPercent: '3',
          windowMs: 900_000,
          direction: 'both',
          priceField: 'ask',
          cooldownMs: 0,
        },
        {
          id: 'r2',
          kind: 'trailing',
          thresholdPercent: '5',
          direction: 'down',
          priceField: 'ask',
          cooldownMs: 0,
        },
        { id: 'r3', kind: 'spread', thresholdPercent: '0.5', priceField: 'mid', cooldownMs: 0 },
        {
          id: 'r4',
          kind: 'move',
          thresholdPercent: '0.01',
          direction: 'both',
          priceField: 'ask',
          cooldownMs: 0,
          maxFires: 3,
          expiresAt: '2030-02-01T00:00:00Z',
          label: 'm',
        },
      ],
    });
  });

  it('numbers new rules past every id in use (an edit keeps ids)', () => {
    expect(assignRuleIds([{ id: 'r2' }, {}, {}], ['r1', 'r7']).map((r) => r.id)).toEqual(['r2', 'r8', 'r9']);
  });

  it.each<[string, unknown, string]>([
    ['no rules', [], 'rules must hold at least 1 rule'],
    [
      'more than 10',
      Array.from({ length: 11 }, () => ({ kind: 'spread', thresholdPercent: 1 })),
      'rules must hold at most 10 rules',
    ],
    ['not an array', { kind: 'move' }, 'rules must be an array of rules'],
    [
      'an unknown kind',
      [{ kind: 'moon', thresholdPercent: 1 }],
      'rules[0].kind must be one of move, cross, window, trailing, spread',
    ],
    [
      'a field of another kind',
      [{ kind: 'move', thresholdPercent: 1, level: 5 }],
      "rules[0].level is not a field of this rule's kind",
    ],
    [
      'level zero',
      [
        { kind: 'spread', thresholdPercent: 1 },
        { kind: 'cross', level: '0' },
      ],
      'rules[1].level must be a positive decimal',
    ],
    ['level garbage', [{ kind: 'cross', level: '1e5' }], 'rules[0].level must be a positive decimal'],
    ['level missing', [{ kind: 'cross' }], 'rules[0].level is required: a positive decimal'],
    [
      'thresholdPercent missing',
      [{ kind: 'move', direction: 'up' }],
      'rules[0].thresholdPercent is required: a positive decimal',
    ],
    [
      '19 significant digits',
      [{ kind: 'cross', level: '1234567890.123456789' }],
      'rules[0].level must be a positive decimal',
    ],
    [
      'threshold negative',
      [{ kind: 'move', thresholdPercent: -1 }],
      'rules[0].thresholdPercent must be a positive decimal',
    ],
    [
      'rearm negative',
      [{ kind: 'cross', level: 1, rearmPercent: '-0.5' }],
      'rules[0].rearmPercent must be a decimal of 0 or more',
    ],
    [
      'windowMs below the interval',
      [{ kind: 'window', thresholdPercent: 1, windowMs: 4000 }],
      'rules[0].windowMs must be at least intervalMs (5000)',
    ],
    [
      'windowMs above 24 h',
      [{ kind: 'window', thresholdPercent: 1, windowMs: 86_400_001 }],
      'rules[0].windowMs must be at most 86400000 (24 h)',
    ],
    [
      'trailing both',
      [{ kind: 'trailing', thresholdPercent: 1, direction: 'both' }],
      'rules[0].direction must be one of down, up',
    ],
    [
      'spread with a direction',
      [{ kind: 'spread', thresholdPercent: 1, direction: 'up' }],
      "rules[0].direction is not a field of this rule's kind",
    ],
    [
      'expiresAt not ISO',
      [{ kind: 'spread', thresholdPercent: 1, expiresAt: 'tomorrow' }],
      'rules[0].expiresAt must be an ISO-8601 instant',
    ],
    [
      'expiresAt past',
      [{ kind: 'spread', thresholdPercent: 1, expiresAt: '2029-12-31T23:59:59Z' }],
      'rules[0].expiresAt must be in the future',
    ],
    [
      'maxFires 0',
      [{ kind: 'spread', thresholdPercent: 1, maxFires: 0 }],
      'rules[0].maxFires must be at least 1',
    ],
    [
      'maxFires not whole',
      [{ kind: 'spread', thresholdPercent: 1, maxFires: 1.5 }],
      'rules[0].maxFires must be a whole number',
    ],
    [
      'duplicate ids',
      [
        { kind: 'spread', thresholdPercent: 1, id: 'a' },
        { kind: 'spread', thresholdPercent: 2, id: 'a' },
      ],
      'rules[1].id duplicates rules[0].id',
    ],
    [
      'cooldown negative',
      [{ kind: 'spread', thresholdPercent: 1, cooldownMs: -1 }],
      'rules[0].cooldownMs must be at least 0',
    ],
    ['a rule that is null', [null], 'rules[0] must be a rule: an object with its kind and fields'],
    [
      'a rule that is a string',
      [{ kind: 'spread', thresholdPercent: 1 }, 'cross'],
      'rules[1] must be a rule: an object with its kind and fields',
    ],
    [
      'priceField unknown',
      [{ kind: 'spread', thresholdPercent: 1, priceField: 'last' }],
      'rules[0].priceField must be one of ask, bid, mid',
    ],
  ])('refuses %s, naming the path', (_name, input, message) => {
    expect(errorsOf(input).join('\n')).toContain(message);
  });

  it('names every problem, not only the first', () => {
    expect(
      errorsOf([
        { kind: 'cross', level: 0 },
        { kind: 'window', thresholdPercent: 0, windowMs: 1 },
      ]),
    ).toEqual([
      expect.stringContaining('rules[0].level'),
      expect.stringContaining('rules[1].thresholdPercent'),
      expect.stringContaining('rules[1].windowMs'),
    ]);
  });
});

describe('stored rules', () => {
  it('round-trips what parseRulesInput makes, and refuses a rule without an id', () => {
    const parsed = parseRulesInput([{ kind: 'cross', level: '1' }], context);
    if (!parsed.ok) throw new Error('refused');
    expect(storedRulesSchema.parse(JSON.parse(JSON.stringify(parsed.rules)))).toEqual(parsed.rules);
    expect(storedRulesSchema.safeParse([{ ...parsed.rules[0], id: undefined }]).success).toBe(false);
  });

  it('the legacy move rule is today’s defaults', () => {
    const rule = legacyMoveRule({});
    expect(rule).toEqual({
      id: 'r1',
      kind: 'move',
      thresholdPercent: '0.01',
      direction: 'both',
      priceField: 'ask',
      cooldownMs: 0,
    });
    expect(isLegacyMoveRule([rule])).toBe(true);
    expect(isLegacyMoveRule([{ ...rule, maxFires: 1 }])).toBe(false);
  });

  it('replays the longest window for window rules, everything kept for the others', () => {
    const window: Rule = {
      id: 'w',
      kind: 'window',
      thresholdPercent: '1',
      windowMs: 60_000,
      direction: 'both',
      priceField: 'ask',
      cooldownMs: 0,
    };
    expect(replaySpanMs([window], 3_600_000)).toBe(60_000);
    expect(replaySpanMs([window, { ...window, windowMs: 86_400_000 }], 3_600_000)).toBe(3_600_000);
    expect(replaySpanMs([window, legacyMoveRule({})], 3_600_000)).toBe(3_600_000);
  });
});
