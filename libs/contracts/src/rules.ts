import { z } from 'zod';
import { Decimal, DECIMAL_PATTERN } from './decimal';
import { MONITOR_LIMITS, PRICE_FIELDS, PriceField } from './monitor-config';

/**
 * Rules: what a monitor watches for (DESIGN.md). A monitor has 1 to 10 rules; each is evaluated on every tick
 * by a pure detector (rule-detectors.ts). This file holds their one schema: what a request may send
 * ({@link parseRulesInput}: defaults filled in, ids assigned, every problem named by its path), and the
 * normalised form stored in Postgres and handed to workers ({@link storedRulesSchema}).
 */

export const RULE_KINDS = ['move', 'cross', 'window', 'trailing', 'spread'] as const;
export type RuleKind = (typeof RULE_KINDS)[number];

export const RULE_LIMITS = {
  rules: { min: 1, max: 10 },
  /** Significant digits of a level or a percentage. */
  significantDigits: 18,
  thresholdPercent: { max: MONITOR_LIMITS.thresholdPercent.max },
  /** The re-arm band of a `cross`: 0 (default) to below 100 %. */
  rearmPercent: { maxExclusive: 100 },
  windowMs: { max: 86_400_000 },
  cooldownMs: MONITOR_LIMITS.cooldownMs,
  maxFires: { min: 1, max: 1_000_000 },
  label: { max: 100 },
  id: /^[A-Za-z0-9_-]{1,32}$/,
} as const;

interface RuleCommon {
  /** `r1`, `r2`… when the request gave none; kept across edits. */
  id: string;
  priceField: PriceField;
  cooldownMs: number;
  maxFires?: number;
  /** An ISO instant: the rule is done from then on. */
  expiresAt?: string;
  label?: string;
}

export interface MoveRule extends RuleCommon {
  kind: 'move';
  thresholdPercent: string;
  direction: 'both' | 'up' | 'down';
}
export interface CrossRule extends RuleCommon {
  kind: 'cross';
  level: string;
  direction: 'both' | 'up' | 'down';
  rearmPercent: string;
}
export interface WindowRule extends RuleCommon {
  kind: 'window';
  thresholdPercent: string;
  windowMs: number;
  direction: 'both' | 'up' | 'down';
}
export interface TrailingRule extends RuleCommon {
  kind: 'trailing';
  thresholdPercent: string;
  direction: 'down' | 'up';
}
export interface SpreadRule extends RuleCommon {
  kind: 'spread';
  thresholdPercent: string;
}
export type Rule = MoveRule | CrossRule | WindowRule | TrailingRule | SpreadRule;

/** Counts the significant digits of a plain decimal literal (leading zeros do not count, trailing ones do). */
export function significantDigits(text: string): number {
  const digits = text.replace(/^-/, '').replace('.', '').replace(/^0+/, '');
  return digits.length;
}

const decimalForm = (what: string) =>
  `${what} (a decimal string such as "0.5", or a number), with at most ${RULE_LIMITS.significantDigits} significant digits`;
const decimalMessage = (what: string) => `must be ${decimalForm(what)}`;

/**
 * A decimal given as a string or a JSON number; comes out as a plain decimal string. `min`: 'positive' (> 0) or
 * 'non-negative'; `max` / `maxExclusive` bound it.
 */
function decimalInput(options: {
  min: 'positive' | 'non-negative';
  max?: number;
  maxExclusive?: number;
}): z.ZodType<string, z.ZodTypeDef, unknown> {
  const what = options.min === 'positive' ? 'a positive decimal' : 'a decimal of 0 or more';
  return z.unknown().transform((value, ctx): string => {
    if (value === undefined) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: `is required: ${decimalForm(what)}` });
      return z.NEVER;
    }
    let text: string | undefined;
    if (typeof value === 'string') text = value;
    else if (typeof value === 'number' && Number.isFinite(value)) text = new Decimal(value).toFixed();
    if (
      text === undefined ||
      !DECIMAL_PATTERN.test(text) ||
      significantDigits(text) > RULE_LIMITS.significantDigits
    ) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: decimalMessage(what) });
      return z.NEVER;
    }
    const parsed = new Decimal(text);
    if (parsed.isNegative() || (options.min === 'positive' && parsed.isZero())) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: decimalMessage(what) });
      return z.NEVER;
    }
    if (options.max !== undefined && parsed.greaterThan(options.max)) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: `must be at most ${options.max}` });
      return z.NEVER;
    }
    if (options.maxExclusive !== undefined && parsed.greaterThanOrEqualTo(options.maxExclusive)) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: `must be below ${options.maxExclusive}` });
      return z.NEVER;
    }
    return text;
  });
}

const wholeNumber = (min: number, max: number) =>
  z
    .number({ invalid_type_error: 'must be a whole number', required_error: 'is required' })
    .int('must be a whole number')
    .min(min, `must be at least ${min}`)
    .max(max, `must be at most ${max}`);

const enumOf = <T extends readonly [string, ...string[]]>(values: T) =>
  z.enum(values, { errorMap: () => ({ message: `must be one of ${values.join(', ')}` }) });

/** RFC 3339 with an offset, read exactly by Date.parse. */
const instant = z
  .string({ invalid_type_error: 'must be an ISO-8601 instant, e.g. 2030-01-02T03:04:05Z' })
  .datetime({ offset: true, message: 'must be an ISO-8601 instant, e.g. 2030-01-02T03:04:05Z' });

const threshold = decimalInput({ min: 'positive', max: RULE_LIMITS.thresholdPercent.max });

/** The fields every kind shares; defaults applied. `windowMs`'s lower bound needs the interval: see below. */
function commonShape(defaults: boolean) {
  const { cooldownMs, maxFires, label } = RULE_LIMITS;
  return {
    id: z
      .string({ invalid_type_error: 'must be a string' })
      .regex(RULE_LIMITS.id, 'must be 1 to 32 letters, digits, "_" or "-"')
      .optional(),
    priceField: defaults ? enumOf(PRICE_FIELDS).default('ask') : enumOf(PRICE_FIELDS),
    cooldownMs: defaults
      ? wholeNumber(cooldownMs.min, cooldownMs.max).default(cooldownMs.default)
      : wholeNumber(cooldownMs.min, cooldownMs.max),
    maxFires: wholeNumber(maxFires.min, maxFires.max).optional(),
    expiresAt: instant.optional(),
    label: z
      .string({ invalid_type_error: 'must be a string' })
      .max(label.max, `must be at most ${label.max} characters`)
      .optional(),
  };
}

function kindSchemas(defaults: boolean) {
  const common = commonShape(defaults);
  const dflt = <T extends z.ZodTypeAny>(schema: T, value: z.input<T>) =>
    defaults ? schema.default(value) : schema;
  const windowMs = z
    .number({ invalid_type_error: 'must be a whole number of milliseconds', required_error: 'is required' })
    .int('must be a whole number of milliseconds')
    .min(MONITOR_LIMITS.intervalMs.min, `must be at least ${MONITOR_LIMITS.intervalMs.min}`)
    .max(RULE_LIMITS.windowMs.max, `must be at most ${RULE_LIMITS.windowMs.max} (24 h)`);
  return [
    z
      .object({
        ...common,
        kind: z.literal('move'),
        thresholdPercent: threshold,
        direction: dflt(enumOf(['both', 'up', 'down'] as const), 'both'),
      })
      .strict(),
    z
      .object({
        ...common,
        kind: z.literal('cross'),
        level: decimalInput({ min: 'positive' }),
        direction: dflt(enumOf(['both', 'up', 'down'] as const), 'both'),
        rearmPercent: dflt(
          decimalInput({ min: 'non-negative', maxExclusive: RULE_LIMITS.rearmPercent.maxExclusive }),
          '0',
        ),
      })
      .strict(),
    z
      .object({
        ...common,
        kind: z.literal('window'),
        thresholdPercent: threshold,
        windowMs,
        direction: dflt(enumOf(['both', 'up', 'down'] as const), 'both'),
      })
      .strict(),
    z
      .object({
        ...common,
        kind: z.literal('trailing'),
        thresholdPercent: threshold,
        direction: dflt(enumOf(['down', 'up'] as const), 'down'),
      })
      .strict(),
    z
      .object({
        ...common,
        kind: z.literal('spread'),
        thresholdPercent: threshold,
      })
      .strict(),
  ] as const;
}

const ruleInputSchema = z.discriminatedUnion('kind', kindSchemas(true), {
  errorMap: (issue, ctx) =>
    issue.code === z.ZodIssueCode.invalid_union_discriminator
      ? { message: `must be one of ${RULE_KINDS.join(', ')}` }
      : { message: ctx.defaultError },
});

/** Rules as stored and as a worker receives them (RULES): every field present, ids assigned. */
export const storedRuleSchema = z.discriminatedUnion('kind', kindSchemas(false)).superRefine((rule, ctx) => {
  if (rule.id === undefined)
    ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['id'], message: 'is required' });
}) as unknown as z.ZodType<Rule, z.ZodTypeDef, unknown>;

export const storedRulesSchema = z
  .array(storedRuleSchema)
  .min(RULE_LIMITS.rules.min, `must hold at least ${RULE_LIMITS.rules.min} rule`)
  .max(RULE_LIMITS.rules.max, `must hold at most ${RULE_LIMITS.rules.max} rules`)
  .superRefine((rules, ctx) => duplicateIds(rules, ctx));

function duplicateIds(rules: ReadonlyArray<{ id?: string }>, ctx: z.RefinementCtx): void {
  const seen = new Map<string, number>();
  rules.forEach((rule, index) => {
    if (rule.id === undefined) return;
    const first = seen.get(rule.id);
    if (first !== undefined) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: [index, 'id'],
        message: `duplicates rules[${first}].id ("${rule.id}")`,
      });
    } else seen.set(rule.id, index);
  });
}

/** A field path as users write it: `rules[1].level`. */
export function formatIssuePath(path: ReadonlyArray<string | number>, root = ''): string {
  let text = root;
  for (const part of path) {
    if (typeof part === 'number') text += `[${part}]`;
    else text += text === '' ? part : `.${part}`;
  }
  return text;
}

export interface RuleFieldError {
  /** e.g. `rules[1].level` */
  field: string;
  /** e.g. `rules[1].level must be a positive decimal …` */
  message: string;
}

export type ParsedRules = { ok: true; rules: Rule[] } | { ok: false; errors: RuleFieldError[] };

export interface RulesInputContext {
  /** The monitor's interval: a window shorter than it could never hold two ticks. */
  intervalMs: number;
  /** Now, epoch milliseconds: `expiresAt` must be after it. */
  now: number;
  /** Ids in use before this request (an edit): new rules get numbers past all of them. */
  previousIds?: readonly string[];
  /** Where the rules sit in the request, for messages; default `rules`. */
  root?: string;
}

/**
 * Checks `rules` as a request sent them: 1 to 10 rules, each of a known kind with only its kind's fields, decimals
 * exact (a string or a number, positive, at most 18 significant digits), `windowMs` from the interval to 24 h,
 * `expiresAt` in the future, ids unique. Fills in defaults and assigns ids (`r1`, `r2`… past every id in use).
 * Every problem names its path: `rules[1].level must be a positive decimal …`.
 */
export function parseRulesInput(input: unknown, context: RulesInputContext): ParsedRules {
  const root = context.root ?? 'rules';
  const schema = z
    .array(ruleInputSchema, { invalid_type_error: 'must be an array of rules' })
    .min(RULE_LIMITS.rules.min, `must hold at least ${RULE_LIMITS.rules.min} rule`)
    .max(RULE_LIMITS.rules.max, `must hold at most ${RULE_LIMITS.rules.max} rules`)
    .superRefine((rules, ctx) => {
      duplicateIds(rules, ctx);
      rules.forEach((rule, index) => {
        if (rule.kind === 'window' && rule.windowMs < context.intervalMs) {
          ctx.addIssue({
            code: z.ZodIssueCode.custom,
            path: [index, 'windowMs'],
            message: `must be at least intervalMs (${context.intervalMs})`,
          });
        }
        if (rule.expiresAt !== undefined && Date.parse(rule.expiresAt) <= context.now) {
          ctx.addIssue({
            code: z.ZodIssueCode.custom,
            path: [index, 'expiresAt'],
            message: 'must be in the future',
          });
        }
      });
    });
  const result = schema.safeParse(input);
  if (!result.success) {
    // One message per field: the first (a refinement may repeat a bound the field's own check already named).
    const errors = new Map<string, RuleFieldError>();
    for (const error of result.error.issues.flatMap((issue) => describeRuleIssue(issue, root))) {
      if (!errors.has(error.field)) errors.set(error.field, error);
    }
    return { ok: false, errors: [...errors.values()] };
  }
  return { ok: true, rules: assignRuleIds(result.data, context.previousIds ?? []) };
}

function describeRuleIssue(issue: z.ZodIssue, root: string): RuleFieldError[] {
  if (issue.code === z.ZodIssueCode.unrecognized_keys) {
    return issue.keys.map((key) => {
      const field = formatIssuePath([...issue.path, key], root);
      return { field, message: `${field} is not a field of this rule's kind` };
    });
  }
  const field = formatIssuePath(issue.path, root);
  const message =
    issue.code === z.ZodIssueCode.invalid_type && issue.received === 'undefined'
      ? 'is required'
      : issue.code === z.ZodIssueCode.invalid_type && issue.expected === 'object'
        ? // zod's own words here were "Expected object, received null"
          `must be a rule: an object with its kind and fields, e.g. {"kind": "cross", "level": "100000"}`
        : issue.message;
  return [{ field, message: `${field} ${message}` }];
}

/** The number of an id `rN`, or 0. */
function ruleNumber(id: string): number {
  const match = /^r(\d{1,9})$/.exec(id);
  return match ? Number(match[1]) : 0;
}

/** Gives every rule without an id the next free `rN`, past every id in `rules` and in `previousIds`. */
export function assignRuleIds<T extends { id?: string }>(
  rules: readonly T[],
  previousIds: readonly string[],
): Array<T & { id: string }> {
  let next =
    Math.max(0, ...previousIds.map(ruleNumber), ...rules.map((r) => (r.id ? ruleNumber(r.id) : 0))) + 1;
  return rules.map((rule) =>
    rule.id !== undefined ? (rule as T & { id: string }) : { ...rule, id: `r${next++}` },
  );
}

/** The one `move` rule of a monitor created with the top-level fields, as before rules existed. */
export function legacyMoveRule(fields: {
  thresholdPercent?: string;
  direction?: MoveRule['direction'];
  priceField?: PriceField;
  cooldownMs?: number;
}): MoveRule {
  return {
    id: 'r1',
    kind: 'move',
    thresholdPercent: fields.thresholdPercent ?? MONITOR_LIMITS.thresholdPercent.default,
    direction: fields.direction ?? 'both',
    priceField: fields.priceField ?? 'ask',
    cooldownMs: fields.cooldownMs ?? MONITOR_LIMITS.cooldownMs.default,
  };
}

/** Whether `rules` are exactly what {@link legacyMoveRule} makes: one `move` rule `r1` with no extra option. */
export function isLegacyMoveRule(rules: readonly Rule[]): rules is [MoveRule] {
  if (rules.length !== 1) return false;
  const [rule] = rules;
  return (
    rule.kind === 'move' &&
    rule.id === 'r1' &&
    rule.maxFires === undefined &&
    rule.expiresAt === undefined &&
    rule.label === undefined
  );
}

/**
 * How far back a (re)started worker replays its stored ticks for these rules (at most `historyMs`, what is
 * stored): a window needs its `windowMs` and a cooldown its `cooldownMs`; a move's reference, a trailing peak, a
 * crossing side and a disarmed spread depend on everything seen before, so they replay all that is kept.
 */
export function replaySpanMs(rules: readonly Rule[], historyMs: number): number {
  let span = 0;
  for (const rule of rules) {
    if (rule.kind !== 'window') return historyMs;
    span = Math.max(span, rule.windowMs, rule.cooldownMs);
  }
  return Math.min(span, historyMs);
}
