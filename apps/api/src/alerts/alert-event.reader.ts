import {
  AlertEvent,
  DECIMAL_PATTERN,
  MAX_EVENT_INTERVAL_MS,
  PAIR_PATTERN,
  alertEventSchema,
  parseEventJsonFast,
  ParsedAlertEvent,
  PRICE_FIELDS,
  RULE_KINDS,
  RULE_LIMITS,
} from '@pairwatch/contracts';

/**
 * The ingestion hot path's reading of a stream entry. The contract's schema (`parseAlertEvent`, zod) stays the
 * one judge; this only recognises the shape workers actually publish — exactly the fourteen fields (or the eleven
 * of workers from before rules, read as rule `r1` of kind `move`), lower- or
 * upper-case UUIDs, decimals the contract accepts, a UTC instant as `Date#toISOString()` writes it — with
 * plain checks at a fraction of the cost. Anything else (a time with an offset, an extra field, a malformed
 * value) goes to the schema, which accepts it or says why not. So this may only ever accept less than the
 * schema, never more (alert-event.reader.spec.ts checks that against the schema).
 */
export function readAlertEvent(text: string | undefined): ParsedAlertEvent {
  return parseEventJsonFast(alertEventSchema, plainAlertEvent, text);
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const UTC_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const NOT_POSITIVE = /^-|^0+(\.0+)?$/;
/** Workers from before rules send eleven fields; with ruleId, kind and details, fourteen. */
const LEGACY_FIELD_COUNT = 11;
const FIELD_COUNT = 14;
const DETAIL_KEY = /^[A-Za-z][A-Za-z0-9]{0,31}$/;

const isUuid = (v: unknown): v is string => typeof v === 'string' && UUID.test(v);
const isDecimal = (v: unknown): v is string => typeof v === 'string' && DECIMAL_PATTERN.test(v);
const isPositiveDecimal = (v: unknown): v is string => isDecimal(v) && !NOT_POSITIVE.test(v);
const isPriceField = (v: unknown): v is AlertEvent['priceField'] =>
  typeof v === 'string' && (PRICE_FIELDS as readonly string[]).includes(v);
const isKind = (v: unknown): v is AlertEvent['kind'] =>
  typeof v === 'string' && (RULE_KINDS as readonly string[]).includes(v);

/** Details of at most 16 entries, short strings and finite numbers under plain keys (as the schema wants). */
function isDetails(v: unknown): v is AlertEvent['details'] {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  let n = 0;
  for (const key in v) {
    if (!Object.prototype.hasOwnProperty.call(v, key)) return false;
    n += 1;
    const value = (v as Record<string, unknown>)[key];
    if (n > 16 || !DETAIL_KEY.test(key)) return false;
    if (
      typeof value === 'string' ? value.length > 100 : !(typeof value === 'number' && Number.isFinite(value))
    )
      return false;
  }
  return true;
}

/** Returns the event when `raw` is plainly valid; undefined means "ask the schema", not "invalid". */
export function plainAlertEvent(raw: unknown): AlertEvent | undefined {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return undefined;
  const count = Object.keys(raw).length;
  if (count !== FIELD_COUNT && count !== LEGACY_FIELD_COUNT) return undefined;
  const r = raw as Record<string, unknown>;
  const { id, monitorId, pair, direction, priceField, referencePrice, price } = r;
  const { changePercent, thresholdPercent, intervalMs, observedAt } = r;
  const legacy = count === LEGACY_FIELD_COUNT;
  const ruleId = legacy ? 'r1' : r.ruleId;
  const kind = legacy ? 'move' : r.kind;
  const details = legacy ? {} : r.details;
  if (
    typeof ruleId === 'string' &&
    RULE_LIMITS.id.test(ruleId) &&
    isKind(kind) &&
    isDetails(details) &&
    isUuid(id) &&
    isUuid(monitorId) &&
    typeof pair === 'string' &&
    PAIR_PATTERN.test(pair) &&
    (direction === 'up' || direction === 'down') &&
    isPriceField(priceField) &&
    isPositiveDecimal(referencePrice) &&
    isPositiveDecimal(price) &&
    isDecimal(changePercent) &&
    isDecimal(thresholdPercent) &&
    !thresholdPercent.startsWith('-') &&
    typeof intervalMs === 'number' &&
    Number.isInteger(intervalMs) &&
    intervalMs > 0 &&
    intervalMs <= MAX_EVENT_INTERVAL_MS &&
    typeof observedAt === 'string' &&
    UTC_INSTANT.test(observedAt) &&
    isCalendarInstant(observedAt)
  ) {
    // The schema's field order, as its parse would return it.
    return {
      id,
      monitorId,
      pair,
      ruleId,
      kind,
      details,
      direction,
      priceField,
      referencePrice,
      price,
      changePercent,
      thresholdPercent,
      intervalMs,
      observedAt,
    };
  }
  return undefined;
}

/** Two-or-four-digit field of a text the UTC_INSTANT pattern already matched. */
function digits(text: string, from: number, count: number): number {
  let value = 0;
  for (let i = from; i < from + count; i++) value = value * 10 + text.charCodeAt(i) - 48;
  return value;
}

const THIRTY_DAYS = new Set([4, 6, 9, 11]);

/** A real, storable calendar instant (no year 0, no 31 April, no 29 February 2026, no 24:00), checked without allocating. */
function isCalendarInstant(text: string): boolean {
  const year = digits(text, 0, 4);
  const month = digits(text, 5, 2);
  const day = digits(text, 8, 2);
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  const days = month === 2 ? (leap ? 29 : 28) : THIRTY_DAYS.has(month) ? 30 : 31;
  return (
    year >= 1 &&
    month >= 1 &&
    month <= 12 &&
    day >= 1 &&
    day <= days &&
    digits(text, 11, 2) <= 23 &&
    digits(text, 14, 2) <= 59 &&
    digits(text, 17, 2) <= 59
  );
}
