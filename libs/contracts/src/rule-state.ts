import { z } from 'zod';
import { BacktestResult, ReplayTick, replayTicks, RuleSet } from './rule-detectors';

/**
 * What outlives a worker of each rule (docs/RULES.md "Restarts"): how many alerts it has fired, when the last one
 * was and the quote that made it. The worker writes it in the hash ruleStateKey(monitorId), field = the rule's id,
 * in the very MULTI that puts the alert on the alert stream, as absolute values (the n-th fire says n): an alert
 * is on the stream exactly when it is counted, and an alert sent again (not confirmed by WAIT) writes the same
 * value again. A worker reads the hash when it starts ({@link resumeRules}).
 */
export const ruleStateSchema = z
  .object({
    /** Alerts this rule has fired, this one included; `maxFires` is measured against it. */
    fires: z.number().int().positive(),
    /** When the rule last fired (its alert's observedAt): the cooldown runs from it. */
    lastFireAt: z.string().datetime({ offset: true }),
    /**
     * The quote of that tick, as the ticker sent it (the side the rule does not watch may be anything the ticker
     * sent): a restart replays it when the price stream lacks it.
     */
    ask: z.string(),
    bid: z.string(),
  })
  .strict();

export type RuleState = z.infer<typeof ruleStateSchema>;

/** A hash field's value: compact JSON, keys in schema order. */
export function encodeRuleState(state: RuleState): string {
  return JSON.stringify({ fires: state.fires, lastFireAt: state.lastFireAt, ask: state.ask, bid: state.bid });
}

export interface ParsedRuleStates {
  /** By rule id. */
  states: Record<string, RuleState>;
  /** Fields that break the schema (skipped), each named with the reason. */
  problems: string[];
}

/** The hash as HGETALL answers it; a field that breaks the schema is left out and named in `problems`. */
export function parseRuleStates(hash: Readonly<Record<string, string>>): ParsedRuleStates {
  const states: Record<string, RuleState> = {};
  const problems: string[] = [];
  for (const [ruleId, text] of Object.entries(hash)) {
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      problems.push(`${ruleId}: not JSON`);
      continue;
    }
    const parsed = ruleStateSchema.safeParse(raw);
    if (parsed.success) states[ruleId] = parsed.data;
    else
      problems.push(
        `${ruleId}: ${parsed.error.issues.map((i) => `${i.path.join('.')} ${i.message}`).join(', ')}`,
      );
  }
  return { states, problems };
}

export interface ResumeResult extends BacktestResult {
  /** Firing quotes taken from the rule state because the price stream lacked them. */
  addedTicks: number;
}

/**
 * A worker's start, before it goes live: the stored ticks (its price stream since `sinceMs`) go through the rules
 * with alerts dropped (as {@link replayTicks} does for a replay), so that windows, peaks and crossing sides are as
 * they were; then each rule takes on its recorded fires and last fire time, so that `maxFires` and the cooldown
 * hold across the restart. A rule restored from a snapshot beforehand (restoreRuleSnapshot, rule-snapshot.ts)
 * observes only the ticks after the snapshot's; every rule observes every tick again afterwards.
 *
 * - A firing quote the stream lacks (the worker died between the alert's MULTI and the tick's) is replayed in its
 *   place: the window restarts, the peak moves, the side is disarmed as live.
 * - A last fire before the first replayed tick starts the replay in its cooldown, as the live rule was.
 */
export function resumeRules(
  ruleSet: RuleSet,
  stored: readonly ReplayTick[],
  states: Readonly<Record<string, RuleState>>,
  sinceMs: number,
): ResumeResult {
  const ticks = [...stored];
  const seen = new Set(ticks.map((t) => t.atMs));
  let addedTicks = 0;
  for (const state of Object.values(states)) {
    const atMs = Date.parse(state.lastFireAt);
    if (atMs < sinceMs || seen.has(atMs)) continue;
    seen.add(atMs);
    ticks.push({ atMs, ask: state.ask, bid: state.bid });
    addedTicks += 1;
  }
  if (addedTicks > 0) ticks.sort((a, b) => a.atMs - b.atMs);
  const firstMs = ticks.length > 0 ? ticks[0].atMs : Number.POSITIVE_INFINITY;
  const lastFires = new Map<string, number>();
  for (const [ruleId, state] of Object.entries(states)) lastFires.set(ruleId, Date.parse(state.lastFireAt));

  for (const evaluator of ruleSet.evaluators) {
    const lastFireAtMs = lastFires.get(evaluator.rule.id);
    if (lastFireAtMs !== undefined && lastFireAtMs < firstMs) evaluator.resume({ lastFireAtMs });
  }
  const result = replayTicks(ruleSet, ticks, { count: false, keepAlerts: false });
  for (const evaluator of ruleSet.evaluators) evaluator.endRestore();
  for (const evaluator of ruleSet.evaluators) {
    const state = states[evaluator.rule.id];
    if (state) evaluator.resume({ fires: state.fires, lastFireAtMs: lastFires.get(evaluator.rule.id) });
  }
  return { ...result, addedTicks };
}
