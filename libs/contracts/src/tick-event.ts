import { z } from 'zod';
import { DECIMAL_PATTERN } from './decimal';
import {
  instantString,
  isAboveZero,
  ParsedEvent,
  parseEventJsonFast,
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

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Date#toISOString's form, the one workers write: UTC, milliseconds. */
const ISO_UTC_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

const positivePrice = (v: unknown): boolean =>
  typeof v === 'string' && DECIMAL_PATTERN.test(v) && isAboveZero(v);

/**
 * The event when `raw` is plainly a good tick as workers write it, else undefined (and the schema judges it).
 * Only a subset of what {@link tickEventSchema} accepts passes (exactly its five keys, each a string of the
 * form it takes, `at` in Date#toISOString's form naming a real instant), so the answer is the same either
 * way; it skips the schema's per-call allocations, which were most of the archive's CPU per tick at 300/s.
 */
function plainTick(raw: unknown): TickEvent | undefined {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return undefined;
  const o = raw as Record<string, unknown>;
  let keys = 0;
  for (const key in o) if (Object.prototype.hasOwnProperty.call(o, key)) keys++;
  const { monitorId, pair, at, ask, bid } = o;
  if (
    keys !== 5 ||
    typeof monitorId !== 'string' ||
    !UUID_PATTERN.test(monitorId) ||
    typeof pair !== 'string' ||
    !PAIR_PATTERN.test(pair) ||
    typeof at !== 'string' ||
    !ISO_UTC_MS.test(at) ||
    !positivePrice(ask) ||
    !positivePrice(bid)
  )
    return undefined;
  const ms = Date.parse(at);
  // A day or an hour out of range is refused by the schema: only an instant that reads back the same passes.
  if (!(ms >= 0) || new Date(ms).toISOString() !== at) return undefined;
  return o as TickEvent;
}

/** Parses the JSON text of a stream entry; never throws. A refusal says which field is wrong and why. */
export function parseTickEvent(json: string | undefined | null): ParsedTickEvent {
  return parseEventJsonFast(tickEventSchema, plainTick, json);
}
