import fc from 'fast-check';
import { ReplayTick, RuleSet } from './rule-detectors';
import { encodeRuleState, parseRuleStates, resumeRules, RuleState } from './rule-state';
import type { Rule } from './rules';

const T0 = Date.UTC(2030, 0, 1);
const common = { priceField: 'ask' as const, cooldownMs: 0 };
const tick = (i: number, ask: string): ReplayTick => ({ atMs: T0 + i * 1000, ask, bid: ask });

/**
 * A live worker over `ticks`: each alert as "ruleId:direction@price@i", the rule state it records (as the worker
 * writes it with each alert) and the price stream it leaves (every tick, unless `lose` drops one).
 */
function live(ruleSet: RuleSet, ticks: ReplayTick[], states: Record<string, RuleState> = {}) {
  const alerts: string[] = [];
  for (const t of ticks) {
    const { firings } = ruleSet.observe({ ask: t.ask, bid: t.bid }, t.atMs);
    for (const f of firings) {
      alerts.push(`${f.ruleId}:${f.direction}@${f.price}@${(t.atMs - T0) / 1000}`);
      const fires = ruleSet.evaluators.find((e) => e.rule.id === f.ruleId)!.fires;
      states[f.ruleId] = { fires, lastFireAt: new Date(t.atMs).toISOString(), ask: t.ask, bid: t.bid };
    }
  }
  return { alerts, states };
}

const rules: Rule[] = [
  { ...common, id: 'm', kind: 'move', thresholdPercent: '2', direction: 'both', cooldownMs: 3000 },
  { ...common, id: 'c', kind: 'cross', level: '100', direction: 'both', rearmPercent: '1', maxFires: 3 },
  { ...common, id: 'w', kind: 'window', thresholdPercent: '3', windowMs: 5000, direction: 'both' },
  { ...common, id: 'tu', kind: 'trailing', thresholdPercent: '2', direction: 'up', cooldownMs: 2000 },
  { ...common, id: 'td', kind: 'trailing', thresholdPercent: '2', direction: 'down', maxFires: 2 },
  { ...common, id: 's', kind: 'spread', thresholdPercent: '1' },
];

describe('rule state (what outlives a worker)', () => {
  it('encodes and parses a field; a broken field is skipped and named', () => {
    const state: RuleState = { fires: 2, lastFireAt: '2030-01-01T00:00:03.000Z', ask: '100.5', bid: '100.4' };
    expect(parseRuleStates({ r1: encodeRuleState(state), r2: '{"fires":0}', r3: 'x' })).toEqual({
      states: { r1: state },
      problems: [expect.stringContaining('r2: fires'), 'r3: not JSON'],
    });
  });

  it('maxFires holds across a restart: a done rule stays done, a counted one goes on counting', () => {
    const rule: Rule = {
      ...common,
      id: 'r1',
      kind: 'cross',
      level: '100',
      direction: 'both',
      rearmPercent: '0',
      maxFires: 2,
    };
    const first = new RuleSet([rule]);
    const before = live(
      first,
      ['99', '101'].map((a, i) => tick(i, a)),
    );
    expect(before.alerts).toEqual(['r1:up@101@1']);

    // The replay alone would not know the fire was counted: it replays with `count` false.
    const restarted = new RuleSet([rule]);
    const stream = ['99', '101'].map((a, i) => tick(i, a));
    resumeRules(restarted, stream, before.states, T0);
    expect(restarted.progress(T0 + 2000)).toEqual([{ id: 'r1', kind: 'cross', fires: 1, done: false }]);
    const after = live(
      restarted,
      ['99', '101', '99'].map((a, i) => tick(i + 2, a)),
      before.states,
    );
    expect(after.alerts).toEqual(['r1:down@99@2']);
    expect(restarted.allDoneAt(T0 + 5000)).toBe(true);
    expect(before.states.r1.fires).toBe(2);
  });

  it('the cooldown runs from the recorded last fire, even when the replay does not reach back to it', () => {
    const rule: Rule = {
      ...common,
      id: 'r1',
      kind: 'trailing',
      thresholdPercent: '2',
      direction: 'down',
      cooldownMs: 60_000,
    };
    // Fired at t=1 (98 from the peak 100); the replay covers only t >= 10 (the stream was trimmed).
    const states = { r1: { fires: 1, lastFireAt: new Date(T0 + 1000).toISOString(), ask: '98', bid: '98' } };
    const restarted = new RuleSet([rule]);
    resumeRules(restarted, [tick(10, '98'), tick(11, '100')], states, T0 + 10_000);
    expect(live(restarted, [tick(12, '97'), tick(60, '97.9')]).alerts).toEqual([]);
    expect(live(restarted, [tick(61, '97.9')]).alerts).toEqual(['r1:down@97.9@61']);
  });

  it('replays a firing quote the price stream lacks: the window restarts there, so the move does not fire twice', () => {
    const rule: Rule = {
      ...common,
      id: 'w',
      kind: 'window',
      thresholdPercent: '3',
      windowMs: 60_000,
      direction: 'up',
    };
    const first = new RuleSet([rule]);
    const series = ['100', '100', '103'].map((a, i) => tick(i, a));
    const before = live(first, series);
    expect(before.alerts).toEqual(['w:up@103@2']);
    // The worker died after the alert's MULTI and before the tick's: the stream ends at t=1.
    const restarted = new RuleSet([rule]);
    const result = resumeRules(restarted, series.slice(0, 2), before.states, T0);
    expect(result.addedTicks).toBe(1);
    expect(live(restarted, [tick(3, '103.2')]).alerts).toEqual([]);
    // Without the rule state, the window would still hold 100 and 103.2 would fire again.
    const forgetful = new RuleSet([rule]);
    resumeRules(forgetful, series.slice(0, 2), {}, T0);
    expect(live(forgetful, [tick(3, '103.2')]).alerts).toEqual(['w:up@103.2@3']);
  });

  it('a restart anywhere, the firing tick stored or lost, fires what an uninterrupted worker fires (property)', () => {
    const ask = fc.constantFrom('95', '97', '98.5', '99', '100', '100.5', '101', '102', '104', '106');
    const quote = fc.tuple(ask, fc.constantFrom('0', '0.5', '2')).map(([a, gap]) => ({
      ask: a,
      bid: String(Number(a) - Number(gap)),
    }));
    fc.assert(
      fc.property(
        fc.array(quote, { minLength: 2, maxLength: 40 }),
        fc.nat(),
        fc.boolean(),
        (quotes, cut, loseLast) => {
          const ticks = quotes.map((q, i) => ({ atMs: T0 + i * 1000, ...q }));
          const k = 1 + (cut % (ticks.length - 1));
          const whole = live(new RuleSet(rules), ticks).alerts;

          const first = new RuleSet(rules);
          const before = live(first, ticks.slice(0, k));
          // The worker dies after tick k-1: when that tick fired, its alerts went out and the tick itself may not
          // have reached the stream (a tick lost without an alert is a tick the worker never saw: no property).
          const lastFired = before.alerts.some((a) => a.endsWith(`@${k - 1}`));
          const stream = loseLast && lastFired ? ticks.slice(0, k - 1) : ticks.slice(0, k);
          const restarted = new RuleSet(rules);
          resumeRules(restarted, stream, before.states, T0);
          const after = live(restarted, ticks.slice(k), before.states);
          expect([...before.alerts, ...after.alerts]).toEqual(whole);
        },
      ),
      { numRuns: 300 },
    );
  });
});
