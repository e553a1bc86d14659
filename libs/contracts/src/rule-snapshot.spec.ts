import fc from 'fast-check';
import { ReplayTick, RuleSet } from './rule-detectors';
import { resumeRules } from './rule-state';
import { RULE_SNAPSHOT_VERSION, restoreRuleSnapshot, takeRuleSnapshot } from './rule-snapshot';
import type { Rule } from './rules';

const T0 = Date.UTC(2030, 0, 1);
const tick = (i: number, ask: string, bid: string): ReplayTick => ({ atMs: T0 + i * 1000, ask, bid });

/** Every kind, on ask, bid and mid, with cooldowns: each detector's state is something to keep. */
const rules: Rule[] = [
  { id: 'm', kind: 'move', thresholdPercent: '2', direction: 'both', priceField: 'ask', cooldownMs: 3000 },
  { id: 'mm', kind: 'move', thresholdPercent: '1', direction: 'up', priceField: 'mid', cooldownMs: 0 },
  {
    id: 'c',
    kind: 'cross',
    level: '100',
    direction: 'both',
    rearmPercent: '1',
    priceField: 'ask',
    cooldownMs: 0,
  },
  {
    id: 'cb',
    kind: 'cross',
    level: '99.5',
    direction: 'down',
    rearmPercent: '0',
    priceField: 'bid',
    cooldownMs: 0,
  },
  {
    id: 'w',
    kind: 'window',
    thresholdPercent: '3',
    windowMs: 5000,
    direction: 'both',
    priceField: 'ask',
    cooldownMs: 0,
  },
  {
    id: 'wl',
    kind: 'window',
    thresholdPercent: '6',
    windowMs: 60_000,
    direction: 'both',
    priceField: 'mid',
    cooldownMs: 4000,
  },
  { id: 'tu', kind: 'trailing', thresholdPercent: '2', direction: 'up', priceField: 'mid', cooldownMs: 2000 },
  { id: 'td', kind: 'trailing', thresholdPercent: '2', direction: 'down', priceField: 'ask', cooldownMs: 0 },
  { id: 's', kind: 'spread', thresholdPercent: '1', priceField: 'ask', cooldownMs: 0 },
];

/** A walk of asks (cents, 90 to 110) with spreads of 0 to 2.5, a tick a second. */
const walkArb = fc.array(fc.tuple(fc.integer({ min: -300, max: 300 }), fc.integer({ min: 0, max: 250 })), {
  minLength: 2,
  maxLength: 120,
});

function ticksOf(steps: Array<[number, number]>): ReplayTick[] {
  let cents = 10_000;
  return steps.map(([step, spread], i) => {
    cents = Math.min(11_000, Math.max(9_000, cents + step));
    return tick(i, (cents / 100).toFixed(2), ((cents - spread) / 100).toFixed(2));
  });
}

/** What a rule set fires on `ticks`, each alert as a line. */
function fire(ruleSet: RuleSet, ticks: ReplayTick[]): string[] {
  const out: string[] = [];
  for (const t of ticks) {
    for (const f of ruleSet.observe(t, t.atMs).firings)
      out.push(
        `${t.atMs} ${f.ruleId} ${f.direction} ${f.referencePrice} ${f.price} ${JSON.stringify(f.details)}`,
      );
  }
  return out;
}

describe('rule snapshot (a restart replays only the ticks after it)', () => {
  it('restored and fed the ticks after it, every rule is where an uninterrupted one is, and fires the same', () => {
    fc.assert(
      fc.property(walkArb, walkArb, fc.nat(), (before, after, cut) => {
        const history = ticksOf(before);
        const split = cut % history.length;
        const following = ticksOf([...before, ...after]).slice(history.length);
        const uninterrupted = new RuleSet(rules);
        fire(uninterrupted, history);

        // The worker that stopped after `split` ticks left a snapshot; the stream holds every tick.
        const first = new RuleSet(rules);
        fire(first, history.slice(0, split + 1));
        const snapshot = takeRuleSnapshot(first)!;
        const restarted = new RuleSet(rules);
        const restored = restoreRuleSnapshot(restarted, snapshot, T0);
        expect(restored.restored).toEqual(rules.map((r) => r.id));
        expect(restored.at).toBe(history[split].atMs);
        resumeRules(restarted, history, {}, T0);

        expect(takeRuleSnapshot(restarted)).toEqual(takeRuleSnapshot(uninterrupted));
        expect(fire(restarted, following)).toEqual(fire(uninterrupted, following));
      }),
      { numRuns: 300 },
    );
  });

  it('restores only the same rules: an edited rule replays every stored tick', () => {
    const history = ticksOf(
      Array.from({ length: 40 }, (_, i) => [i % 7 === 0 ? 250 : -60, 10] as [number, number]),
    );
    const first = new RuleSet(rules);
    fire(first, history.slice(0, 20));
    const edited = rules.map((r) => (r.id === 'w' ? { ...r, thresholdPercent: '2.5' } : r));
    const restarted = new RuleSet(edited);
    const restored = restoreRuleSnapshot(restarted, takeRuleSnapshot(first), T0);
    expect(restored.restored).toEqual(rules.map((r) => r.id).filter((id) => id !== 'w'));
    resumeRules(restarted, history, {}, T0);
    const direct = new RuleSet(edited);
    fire(direct, history);
    expect(takeRuleSnapshot(restarted)).toEqual(takeRuleSnapshot(direct));
  });

  it('ignores a snapshot older than the replay span, of another version or broken, and a broken rule entry', () => {
    const history = ticksOf([
      [10, 10],
      [20, 10],
      [-500, 10],
    ]);
    const first = new RuleSet(rules);
    fire(first, history);
    const text = takeRuleSnapshot(first)!;
    const fresh = () => new RuleSet(rules);
    expect(restoreRuleSnapshot(fresh(), text, history[2].atMs + 1)).toMatchObject({ restored: [] });
    expect(
      restoreRuleSnapshot(fresh(), text.replace(`"v":${RULE_SNAPSHOT_VERSION}`, '"v":0'), T0),
    ).toMatchObject({
      restored: [],
      ignored: 'another version',
    });
    expect(restoreRuleSnapshot(fresh(), '{', T0)).toMatchObject({ restored: [], ignored: 'not JSON' });
    expect(restoreRuleSnapshot(fresh(), null, T0)).toEqual({ restored: [] });

    const parsed = JSON.parse(text) as { rules: Record<string, { state: Record<string, unknown> }> };
    parsed.rules.td.state.extreme = 'garbage';
    parsed.rules.w.state.mins = { texts: ['101', '100'], ats: [T0, 1000] };
    parsed.rules.s.state = {};
    const ruleSet = fresh();
    const restored = restoreRuleSnapshot(ruleSet, JSON.stringify(parsed), T0);
    expect(restored.restored).toEqual(['m', 'mm', 'c', 'cb', 'wl', 'tu']);
    expect(restored.ignored).toMatch(/^w: .*; td: .*; s: .*/);
    // A rule left out replays every tick: the same state as a direct feed.
    resumeRules(ruleSet, history, {}, T0);
    expect(takeRuleSnapshot(ruleSet)).toEqual(text);
  });

  it('leaves out a rule holding more entries than the bound', () => {
    const rising = Array.from({ length: 30 }, (_, i) => tick(i, (100 + i / 100).toFixed(2), '99.00'));
    const ruleSet = new RuleSet(rules);
    fire(ruleSet, rising);
    const snapshot = JSON.parse(takeRuleSnapshot(ruleSet, 20)!) as { rules: Record<string, unknown> };
    expect(Object.keys(snapshot.rules)).not.toContain('wl');
    expect(Object.keys(snapshot.rules)).toContain('w');
    expect(takeRuleSnapshot(new RuleSet(rules))).toBeUndefined();
  });
});

describe('a replay feeds its ticks without making the alerts (RuleSet.collect listing none)', () => {
  /** The rules above, and one done after two fires: `count` matters. */
  const withMaxFires: Rule[] = [
    ...rules,
    {
      id: 'mx',
      kind: 'trailing',
      thresholdPercent: '1',
      direction: 'down',
      priceField: 'bid',
      cooldownMs: 0,
      maxFires: 2,
    },
  ];

  it('leaves every rule where observing the same ticks does, after every tick, with the same fires', () => {
    let firedAtAll = 0;
    fc.assert(
      fc.property(walkArb, fc.boolean(), (steps, count) => {
        const ticks = ticksOf(steps);
        const observed = new RuleSet(withMaxFires);
        const fed = new RuleSet(withMaxFires);
        const observedFires = Object.fromEntries(withMaxFires.map((r) => [r.id, 0]));
        const fedFires = withMaxFires.map(() => 0);
        for (const t of ticks) {
          for (const f of observed.observe(t, t.atMs, count).firings) observedFires[f.ruleId] += 1;
          expect(fed.collect(t, t.atMs, count, fedFires, [], 0)).toBe(0);
          // The snapshot holds each detector's whole state and the rule's last fire.
          expect(takeRuleSnapshot(fed, Number.POSITIVE_INFINITY)).toEqual(
            takeRuleSnapshot(observed, Number.POSITIVE_INFINITY),
          );
        }
        expect(fedFires).toEqual(withMaxFires.map((r) => observedFires[r.id]));
        const end = ticks[ticks.length - 1].atMs;
        expect(fed.progress(end)).toEqual(observed.progress(end));
        firedAtAll += fedFires.reduce((a, b) => a + b, 0);
      }),
    );
    expect(firedAtAll).toBeGreaterThan(0);
  });
});
