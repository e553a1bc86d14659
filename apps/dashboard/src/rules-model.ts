/**
 * The rule editor's model (DESIGN.md "Rules"): drafts as the inputs hold them (strings), the body each rule
 * sends, what a monitor card says of a rule, and where the API's field errors (`rules[1].level`) go. Pure: the
 * API is the one judge of input; this only shapes what is sent and shown.
 */
import type { Rule, RuleKind } from '../../../libs/contracts/src/rules';
import type { FieldErrors } from './api';
import { readsAsNumber } from './format';

export type { Rule, RuleKind };

/** The kinds, in the order the editor offers them (type-checked against the contract's). */
export const KINDS = ['move', 'cross', 'window', 'trailing', 'spread'] as const satisfies readonly RuleKind[];

/** A rule as GET /monitors shows it: the rule, and its state when the API reports one. */
export type RuleView = Rule & { fires?: number; done?: boolean; doneReason?: string | null };

export type DraftField =
  | 'thresholdPercent'
  | 'level'
  | 'direction'
  | 'rearmPercent'
  | 'windowMs'
  | 'priceField'
  | 'cooldownMs'
  | 'maxFires'
  | 'expiresAt'
  | 'label';

/** One rule in the editor: every input as typed; `key` keeps a row's identity while rules are added and removed. */
export interface RuleDraft {
  key: number;
  /** Kept across an edit (PATCH keeps ids); absent for a rule added here. */
  id?: string;
  kind: RuleKind;
  values: Record<DraftField, string>;
}

/** The fields of each kind besides the shared ones (priceField, cooldownMs, maxFires, expiresAt, label). */
export const KIND_FIELDS: Record<RuleKind, DraftField[]> = {
  move: ['thresholdPercent', 'direction'],
  cross: ['level', 'direction', 'rearmPercent'],
  window: ['thresholdPercent', 'windowMs', 'direction'],
  trailing: ['thresholdPercent', 'direction'],
  spread: ['thresholdPercent'],
};

export const SHARED_FIELDS: DraftField[] = ['priceField', 'cooldownMs', 'maxFires', 'expiresAt', 'label'];

/** The directions a kind takes; its default first. */
export const KIND_DIRECTIONS: Partial<Record<RuleKind, readonly string[]>> = {
  move: ['both', 'up', 'down'],
  cross: ['both', 'up', 'down'],
  window: ['both', 'up', 'down'],
  trailing: ['down', 'up'],
};

/** Whole numbers: sent as JSON numbers when they read as one. The rest (decimals, text) go as typed. */
const INTEGER_FIELDS: DraftField[] = ['windowMs', 'cooldownMs', 'maxFires'];

const EMPTY_VALUES: Record<DraftField, string> = {
  thresholdPercent: '',
  level: '',
  direction: '',
  rearmPercent: '',
  windowMs: '',
  priceField: '',
  cooldownMs: '',
  maxFires: '',
  expiresAt: '',
  label: '',
};

let nextKey = 1;

export function emptyDraft(kind: RuleKind = 'move'): RuleDraft {
  return { key: nextKey++, kind, values: { ...EMPTY_VALUES } };
}

/** A draft showing a stored rule (an edit), every field filled in as the API has it. */
export function draftFromRule(rule: Rule): RuleDraft {
  const values = { ...EMPTY_VALUES };
  const source = rule as unknown as Record<string, string | number | null | undefined>;
  for (const field of [...KIND_FIELDS[rule.kind], ...SHARED_FIELDS]) {
    const value = source[field];
    if (value === undefined || value === null) continue;
    values[field] = field === 'expiresAt' ? isoToLocalInput(String(value)) : String(value);
  }
  return { key: nextKey++, id: rule.id, kind: rule.kind, values };
}

/**
 * What a choice's select shows for a draft's value: '' (the "(default)" option) for the default itself, so a
 * stored `direction: "both"` or `priceField: "ask"` (an edit, or a kind changed) is not a blank select.
 */
export function shownChoice(value: string, options: readonly string[]): string {
  return value === options[0] ? '' : value;
}

/** The draft with another kind: the fields both kinds have are kept, a direction the new kind lacks dropped. */
export function changeKind(draft: RuleDraft, kind: RuleKind): RuleDraft {
  const values = { ...draft.values };
  const directions = KIND_DIRECTIONS[kind];
  if (!directions || !directions.includes(values.direction)) values.direction = '';
  return { ...draft, kind, values };
}

/** What one rule sends: its kind's fields and the shared ones that are filled in (an edit keeps its id). */
export function ruleBody(draft: RuleDraft): Record<string, string | number> {
  const body: Record<string, string | number> = {};
  if (draft.id) body.id = draft.id;
  body.kind = draft.kind;
  for (const field of [...KIND_FIELDS[draft.kind], ...SHARED_FIELDS]) {
    const text = draft.values[field].trim();
    if (text === '') continue;
    if (field === 'expiresAt') {
      const date = new Date(text);
      body[field] = Number.isNaN(date.getTime()) ? text : date.toISOString();
    } else if (INTEGER_FIELDS.includes(field) && /^-?\d+(\.\d+)?$/.test(text)) {
      body[field] = Number(text);
    } else {
      body[field] = text;
    }
  }
  return body;
}

/** Whether the rules are one `move` rule with only the fields the API took before rules existed. */
export function isPlainMove(drafts: RuleDraft[]): boolean {
  if (drafts.length !== 1) return false;
  const [draft] = drafts;
  const { maxFires, expiresAt, label } = draft.values;
  return draft.kind === 'move' && !draft.id && !maxFires.trim() && !expiresAt.trim() && !label.trim();
}

/**
 * The body of POST /monitors. One plain `move` rule goes as the top-level fields (what every API version
 * takes, and the same monitor on one that has rules); anything more as `rules`.
 */
export function createBody(
  pair: string,
  intervalMs: string,
  drafts: RuleDraft[],
): Record<string, string | number | Record<string, string | number>[]> {
  const body: Record<string, string | number | Record<string, string | number>[]> = {};
  if (pair.trim()) body.pair = pair.trim();
  const interval = intervalBody(intervalMs);
  if (interval !== undefined) body.intervalMs = interval;
  if (isPlainMove(drafts)) {
    const fields = ruleBody(drafts[0]);
    delete fields.kind;
    for (const [field, value] of Object.entries(fields)) {
      // The top-level thresholdPercent is a JSON number: anything that reads as one goes as one (`-1`, `.5`), so
      // the API says what is wrong with its value ("must be greater than 0") rather than "must be a number".
      body[field] = field === 'thresholdPercent' && readsAsNumber(String(value)) ? Number(value) : value;
    }
  } else {
    body.rules = drafts.map(ruleBody);
  }
  return body;
}

/** The body of PATCH /monitors/:id: the interval when given, and every rule (ids kept). */
export function editBody(
  intervalMs: string,
  drafts: RuleDraft[],
): Record<string, number | string | Record<string, string | number>[]> {
  const body: Record<string, number | string | Record<string, string | number>[]> = {};
  const interval = intervalBody(intervalMs);
  if (interval !== undefined) body.intervalMs = interval;
  body.rules = drafts.map(ruleBody);
  return body;
}

function intervalBody(text: string): number | string | undefined {
  const trimmed = text.trim();
  if (!trimmed) return undefined;
  return /^\d+$/.test(trimmed) ? Number(trimmed) : trimmed;
}

/**
 * The rules with an id each, for a backtest whose answer (`firedByRule`) must be read back per row: a draft
 * without one gets the next free `rN`, as the API would assign it.
 */
export function backtestRules(drafts: RuleDraft[]): {
  rules: Record<string, string | number>[];
  ids: string[];
} {
  const number = (id: string | undefined) => Number(/^r(\d{1,9})$/.exec(id ?? '')?.[1] ?? 0);
  let next = Math.max(0, ...drafts.map((d) => number(d.id))) + 1;
  const ids = drafts.map((d) => d.id ?? `r${next++}`);
  return { rules: drafts.map((d, i) => ({ ...ruleBody(d), id: ids[i] })), ids };
}

/**
 * Where an API field error belongs: `{rule: 1, field: 'level'}` for `rules[1].level`, `{rule: 1}` for a
 * whole rule (`rules[1]`, `rules[1].kind`), `{rule: 0, field}` for a top-level rule field (sent for a plain
 * move), `{}` for the rules as a whole (`rules`), undefined for any other field.
 */
export function ruleErrorTarget(field: string): { rule?: number; field?: string } | undefined {
  const nested = /^rules\[(\d+)\](?:\.(\w+))?$/.exec(field);
  if (nested) {
    const rule = Number(nested[1]);
    return nested[2] && nested[2] !== 'kind' && nested[2] !== 'id' ? { rule, field: nested[2] } : { rule };
  }
  if (field === 'rules') return {};
  if (['thresholdPercent', 'direction', 'priceField', 'cooldownMs'].includes(field))
    return { rule: 0, field };
  return undefined;
}

/** "15 min", "2 h", "90 s" for a window's length, or '' when the text is not a whole number of ms. */
export function duration(msText: string | number): string {
  const ms = Number(msText);
  if (!Number.isInteger(ms) || ms <= 0) return '';
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000} h`;
  if (ms % 60_000 === 0) return `${ms / 60_000} min`;
  if (ms % 1000 === 0) return `${ms / 1000} s`;
  return `${ms} ms`;
}

const ARROW: Record<string, string> = { up: '↑', down: '↓', both: '↕' };

/** What a monitor card says of a rule: "cross ↑ 100000", "window ↕ 3 % in 15 min", "move ↕ ±0.5 %". */
export function ruleSummary(rule: Rule): string {
  const direction = 'direction' in rule ? `${ARROW[rule.direction] ?? rule.direction} ` : '';
  let what: string;
  switch (rule.kind) {
    case 'move':
      what = `move ${direction}${rule.direction === 'both' ? '±' : ''}${rule.thresholdPercent} %`;
      break;
    case 'cross':
      what = `cross ${direction}${rule.level}${Number(rule.rearmPercent) > 0 ? ` (re-arm ${rule.rearmPercent} %)` : ''}`;
      break;
    case 'window':
      what = `window ${direction}${rule.thresholdPercent} % in ${duration(rule.windowMs) || `${rule.windowMs} ms`}`;
      break;
    case 'trailing':
      what = `trailing ${direction}${rule.thresholdPercent} % from the ${rule.direction === 'up' ? 'trough' : 'peak'}`;
      break;
    case 'spread':
      what = `spread ≥ ${rule.thresholdPercent} %`;
      break;
  }
  const options = [
    rule.priceField !== 'ask' ? rule.priceField : '',
    rule.cooldownMs ? `cooldown ${duration(rule.cooldownMs)}` : '',
    rule.maxFires !== undefined ? `max ${rule.maxFires}` : '',
    rule.expiresAt ? `until ${rule.expiresAt.replace('T', ' ').slice(0, 16)}` : '',
  ].filter(Boolean);
  return options.length ? `${what} · ${options.join(' · ')}` : what;
}

/** The `cross` levels of a monitor's rules that are still live, for the chart to draw. */
export function crossLevels(
  rules: readonly RuleView[] | undefined,
): { id: string; level: string; direction: string; label?: string }[] {
  return (rules ?? [])
    .filter((rule): rule is RuleView & { kind: 'cross' } => rule.kind === 'cross' && !rule.done)
    .map((rule) => ({ id: rule.id, level: rule.level, direction: rule.direction, label: rule.label }));
}

/** datetime-local's value (local time, to the second) for an ISO instant. */
export function isoToLocalInput(iso: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  const local = new Date(date.getTime() - date.getTimezoneOffset() * 60_000);
  return local.toISOString().slice(0, 19);
}

/** Field errors sorted by rule: `perRule[1].level`, messages for a whole rule, and for the rules as a whole. */
export interface RuleErrors {
  perRule: Record<number, Partial<Record<DraftField | '', string[]>>>;
  whole: string[];
}

/** Splits the API's field errors into those of the rules and the rest (left for the form's own fields). */
export function splitRuleErrors(fields: FieldErrors): { rules: RuleErrors; rest: FieldErrors } {
  const rules: RuleErrors = { perRule: {}, whole: [] };
  const rest: FieldErrors = {};
  for (const [field, messages] of Object.entries(fields)) {
    const target = ruleErrorTarget(field);
    if (!target) rest[field] = messages;
    else if (target.rule === undefined) rules.whole.push(...messages);
    else {
      const slot = (rules.perRule[target.rule] ??= {});
      const key = (target.field as DraftField | undefined) ?? '';
      slot[key] = [...(slot[key] ?? []), ...messages];
    }
  }
  return { rules, rest };
}
