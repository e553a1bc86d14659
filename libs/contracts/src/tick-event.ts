import { z } from 'zod';
import { instantString, ParsedEvent, parseEventJson, positiveDecimalString } from './event-fields';
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

/** Parses the JSON text of a stream entry; never throws. A refusal says which field is wrong and why. */
export function parseTickEvent(json: string | undefined | null): ParsedTickEvent {
  return parseEventJson(tickEventSchema, json);
}
