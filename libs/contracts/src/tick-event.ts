import { z } from 'zod';
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

/** Date#toISOString's form, the one workers write: UTC, milliseconds. */
const ISO_UTC_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** An anchored pattern's body, its groups made non-capturing, to compose a larger pattern from it. */
const inner = (pattern: RegExp): string => pattern.source.replace(/^\^|\$$/g, '').replace(/\((?!\?)/g, '(?:');

/**
 * The JSON text {@link tickEventJson} writes for a tick of the plain form: its five keys in that order, each
 * value a string of the form the schema takes (a lower-case UUID, a pair, an instant in Date#toISOString's form,
 * two decimals), none needing a JSON escape. Captures the five values.
 */
const TICK_JSON = new RegExp(
  `^\\{"monitorId":"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})","pair":"(${inner(PAIR_PATTERN)})",` +
    `"at":"(${inner(ISO_UTC_MS)})","ask":"(${inner(DECIMAL_PATTERN)})","bid":"(${inner(DECIMAL_PATTERN)})"\\}$`,
);

/**
 * The event when `json` is plainly a good tick as workers write it, else undefined (and the schema judges it).
 * Only a subset of what {@link tickEventSchema} accepts passes (the text {@link TICK_JSON} describes, both prices
 * above 0, `at` naming a real instant), so the answer is the same either way. One match of the text, no
 * JSON.parse and no schema: the schema's per-call allocations were most of the archive's CPU per tick at
 * 300/s, and JSON.parse with a check of each key most of the rest (bench/archive.bench.ts).
 */
function plainTick(json: string): TickEvent | undefined {
  const m = TICK_JSON.exec(json);
  if (m === null || !isAboveZero(m[4]) || !isAboveZero(m[5])) return undefined;
  const at = m[3];
  const ms = Date.parse(at);
  // A day or an hour out of range is refused by the schema: only an instant that reads back the same passes.
  if (!(ms >= 0) || new Date(ms).toISOString() !== at) return undefined;
  return { monitorId: m[1], pair: m[2], at, ask: m[4], bid: m[5] };
}

/** Parses the JSON text of a stream entry; never throws. A refusal says which field is wrong and why. */
export function parseTickEvent(json: string | undefined | null): ParsedTickEvent {
  const event = typeof json === 'string' ? plainTick(json) : undefined;
  return event ? { ok: true, event } : parseEventJson(tickEventSchema, json);
}
