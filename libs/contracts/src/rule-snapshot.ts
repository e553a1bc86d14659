import type { Rule } from './rules';
import type { RuleSet } from './rule-detectors';

/**
 * A rule snapshot (docs/RULES.md "Restarts"): what every rule of a worker carries from tick to tick — the move's
 * reference, the crossing side, the window's monotonic queues, the peak, the spread's arming, and the last fire —
 * taken after the tick at `at`. The worker writes it to workerSnapshotKey(monitorId) in the MULTI that stores that
 * tick (the first live tick, then at most every {@link SNAPSHOT_EVERY_MS}, and when it stops); a worker starting
 * for the monitor takes each rule's state from it and replays only the stored ticks after `at` for those rules,
 * instead of the whole stored hour. The state it reaches is the one the previous worker had (which a full replay of
 * the stored ticks only rebuilds when nothing older mattered).
 *
 * A rule is taken from a snapshot only when it is the very same rule (its definition as JSON, id included): an
 * edited or added rule replays the stored ticks as before. A snapshot older than the replay span, of another format
 * or that breaks its shape is ignored whole or per rule; never an error.
 */

/** Bumped whenever a detector's state changes meaning: a snapshot of another version is ignored. */
export const RULE_SNAPSHOT_VERSION = 1;

/** How often a worker writes a snapshot at most: the replay on a restart is at most this much of ticks. */
export const SNAPSHOT_EVERY_MS = 60_000;

/**
 * A rule whose detector holds more entries than this (a 24 h window of rising prices at 1 s) is left out of the
 * snapshot: writing and reading that every minute would cost more than replaying it once at a restart.
 */
export const SNAPSHOT_MAX_ENTRIES = 10_000;

export interface RuleSnapshotEntry {
  /** The rule as JSON: a snapshot entry serves only the same rule. */
  rule: string;
  lastFireAt: number | null;
  state: unknown;
}

export interface RuleSetSnapshot {
  v: number;
  /** The time of the last tick the rules had observed. */
  at: number;
  rules: Record<string, RuleSnapshotEntry>;
}

/** The rule as a snapshot names it. */
export function ruleIdentity(rule: Rule): string {
  return JSON.stringify(rule);
}

/** A snapshot of the rules after their last observed tick (undefined when they have observed none). */
export function takeRuleSnapshot(ruleSet: RuleSet, maxEntries = SNAPSHOT_MAX_ENTRIES): string | undefined {
  const at = ruleSet.lastObservedAt;
  if (at === undefined) return undefined;
  const rules: Record<string, RuleSnapshotEntry> = {};
  for (const evaluator of ruleSet.evaluators) {
    const saved = evaluator.snapshot(maxEntries);
    if (saved) rules[evaluator.rule.id] = { rule: ruleIdentity(evaluator.rule), ...saved };
  }
  const snapshot: RuleSetSnapshot = { v: RULE_SNAPSHOT_VERSION, at, rules };
  return JSON.stringify(snapshot);
}

export interface RestoredRules {
  /** The snapshot's tick time, when it was used. */
  at?: number;
  /** Ids of the rules restored; the others replay every stored tick. */
  restored: string[];
  /** Why the snapshot, or a rule of it, was not used (for the log). */
  ignored?: string;
}

/**
 * Restores every rule of `ruleSet` that `text` (a snapshot {@link takeRuleSnapshot} wrote) holds as the same rule,
 * when the snapshot is of this version and was taken at or after `sinceMs` (within the replay span: the stored ticks
 * after it are all there). Each restored rule then observes only ticks after the snapshot's, until
 * RuleEvaluator.endRestore. Never throws.
 */
export function restoreRuleSnapshot(
  ruleSet: RuleSet,
  text: string | null | undefined,
  sinceMs: number,
): RestoredRules {
  if (!text) return { restored: [] };
  let snapshot: Partial<RuleSetSnapshot>;
  try {
    snapshot = JSON.parse(text) as Partial<RuleSetSnapshot>;
  } catch {
    return { restored: [], ignored: 'not JSON' };
  }
  if (typeof snapshot !== 'object' || snapshot === null || snapshot.v !== RULE_SNAPSHOT_VERSION)
    return { restored: [], ignored: 'another version' };
  const { at, rules } = snapshot;
  if (!Number.isSafeInteger(at) || typeof rules !== 'object' || rules === null)
    return { restored: [], ignored: 'not a snapshot' };
  if ((at as number) < sinceMs) return { restored: [], ignored: 'older than the replay span' };
  const restored: string[] = [];
  const problems: string[] = [];
  for (const evaluator of ruleSet.evaluators) {
    const entry = Object.prototype.hasOwnProperty.call(rules, evaluator.rule.id)
      ? rules[evaluator.rule.id]
      : undefined;
    if (!entry || entry.rule !== ruleIdentity(evaluator.rule)) continue;
    try {
      evaluator.restore(entry, at as number);
      restored.push(evaluator.rule.id);
    } catch (error) {
      problems.push(`${evaluator.rule.id}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  if (restored.length > 0 && (ruleSet.lastObservedAt ?? Number.NEGATIVE_INFINITY) < (at as number))
    ruleSet.lastObservedAt = at;
  return {
    at: restored.length > 0 ? at : undefined,
    restored,
    ...(problems.length > 0 ? { ignored: problems.join('; ') } : {}),
  };
}
