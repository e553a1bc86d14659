import { z } from 'zod';
import {
  decimalString,
  instantString,
  ParsedEvent,
  parseEventJson,
  positiveDecimalString,
} from './event-fields';
import { PAIR_PATTERN } from './pair';
import { PRICE_FIELDS } from './monitor-config';
import { RULE_KINDS, RULE_LIMITS } from './rules';

/** The largest `intervalMs` an event may carry: what the alerts table's 32-bit integer column holds. */
export const MAX_EVENT_INTERVAL_MS = 2 ** 31 - 1;
/** 0001-01-01T00:00:00Z: Postgres has no year 0, so nothing earlier could be stored. */
export const EARLIEST_OBSERVED_AT_MS = -62_135_596_800_000;

/**
 * An instant the history can store and page through exactly: RFC 3339, no earlier than the year 1, and at most
 * millisecond precision, since history cursors carry milliseconds (a finer time could repeat or skip at a page
 * boundary).
 */
const observedAtString = instantString(EARLIEST_OBSERVED_AT_MS, '0001-01-01T00:00:00Z');

/** Kind-specific facts of an alert (a level, a window's min and max, a peak, a spread): short strings and numbers. */
const detailsSchema = z
  .record(
    z.string().regex(/^[A-Za-z][A-Za-z0-9]{0,31}$/),
    z.union([z.string().max(100), z.number().finite()]),
  )
  .refine((value) => Object.keys(value).length <= 16, 'must have at most 16 entries');

/**
 * One alert, as a worker publishes it and the API stores it. Workers from before rules existed send no `ruleId`,
 * `kind` or `details`: their alerts read as `r1`, `move`, `{}`.
 */
export const alertEventSchema = z
  .object({
    id: z.string().uuid(),
    monitorId: z.string().uuid(),
    pair: z.string().regex(PAIR_PATTERN, 'must be a valid pair'),
    ruleId: z.string().regex(RULE_LIMITS.id, 'must be a rule id').default('r1'),
    kind: z.enum(RULE_KINDS).default('move'),
    details: detailsSchema.default({}),
    direction: z.enum(['up', 'down']),
    priceField: z.enum(PRICE_FIELDS),
    referencePrice: positiveDecimalString,
    price: positiveDecimalString,
    changePercent: decimalString,
    /** The rule's threshold; "0" for a `cross`, which has none. */
    thresholdPercent: decimalString.refine((v) => !v.startsWith('-'), 'must not be negative'),
    intervalMs: z.number().int().positive().max(MAX_EVENT_INTERVAL_MS),
    observedAt: observedAtString,
  })
  .strict();

export type AlertEvent = z.infer<typeof alertEventSchema>;
/** An event as a worker writes it (ruleId, kind and details may be left to their defaults). */
export type AlertEventInput = z.input<typeof alertEventSchema>;

export type ParsedAlertEvent = ParsedEvent<AlertEvent>;

/** Parses the JSON text of a stream entry; never throws. */
export function parseAlertEvent(json: string | undefined | null): ParsedAlertEvent {
  return parseEventJson(alertEventSchema, json);
}
