import { z } from 'zod';
import { CANONICAL_AT, dayExists, unanchored } from './canonical-text';
import { DECIMAL_PATTERN } from './decimal';
import {
  instantString,
  isAboveZero,
  ParsedEvent,
  parseEventJson,
  positiveDecimalString,
} from './event-fields';
import { PAIR_PATTERN } from './pair';

/**
 * One tick a worker evaluated, for the tick archive: published on {@link TICKS_STREAM} (redis-keys.ts) at least
 * once, stored by the API in `price_ticks` idempotently on (monitorId, at). `at` is the instant the quote was
 * received, as the worker's price stream writes it (Date#toISOString: UTC, milliseconds); the prices are the
 * quote's, exact decimal strings, both greater than 0.
 */
export const tickEventSchema = z
  .object({
    monitorId: z.string().uuid(),
    pair: z.string().regex(PAIR_PATTERN, 'must be a valid pair'),
    at: instantString(0, '1970-01-01T00:00:00Z'),
    ask: positiveDecimalString,
    bid: positiveDecimalString,
  })
  .strict();

export type TickEvent = z.infer<typeof tickEventSchema>;

export type ParsedTickEvent = ParsedEvent<TickEvent>;

/** The JSON text of a tick event, keys in schema order: what a stream entry's {@link TICK_EVENT_FIELD} holds. */
export function tickEventJson(event: TickEvent): string {
  return JSON.stringify({
    monitorId: event.monitorId,
    pair: event.pair,
    at: event.at,
    ask: event.ask,
    bid: event.bid,
  });
}

/** The earliest instant the schema takes, in {@link CANONICAL_AT}'s form (canonical instants sort as text). */
const EARLIEST_AT = new Date(0).toISOString();

/**
 * The JSON text {@link tickEventJson} writes for a tick of the plain form: its five keys in that order, each
 * value a string of the form the schema takes (a lower-case UUID, a pair, an instant in Date#toISOString's form,
 * two decimals), none needing a JSON escape. Captures the five values.
 */
const TICK_JSON = new RegExp(
  `^\\{"monitorId":"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})","pair":"(${unanchored(PAIR_PATTERN)})",` +
    `"at":"(${unanchored(CANONICAL_AT)})","ask":"(${unanchored(DECIMAL_PATTERN)})","bid":"(${unanchored(DECIMAL_PATTERN)})"\\}$`,
);

/**
 * The event when `json` is plainly a good tick as workers write it, else undefined (and the schema judges it).
 * Only a subset of what {@link tickEventSchema} accepts passes (the text {@link TICK_JSON} describes, both prices
 * above 0, `at` a day of the calendar from 1970 on), so the answer is the same either way. One match of the
 * text, no JSON.parse, no schema and no Date: the schema's per-call allocations were most of the archive's CPU
 * per tick at 300/s, and JSON.parse with a check of each key most of the rest (bench/archive.bench.ts).
 */
function plainTick(json: string): TickEvent | undefined {
  const m = TICK_JSON.exec(json);
  if (m === null) return undefined;
  const [, monitorId, pair, at, ask, bid] = m;
  if (!isAboveZero(ask) || !isAboveZero(bid) || at < EARLIEST_AT || !dayExists(at, 0)) return undefined;
  return { monitorId, pair, at, ask, bid };
}

/** Parses the JSON text of a stream entry; never throws. A refusal says which field is wrong and why. */
export function parseTickEvent(json: string | undefined | null): ParsedTickEvent {
  const event = typeof json === 'string' ? plainTick(json) : undefined;
  return event ? { ok: true, event } : parseEventJson(tickEventSchema, json);
}
