import { z } from 'zod';
import { DECIMAL_PATTERN } from './decimal';
import { PAIR_PATTERN } from './pair';
import { describeIssues } from './schema-issues';

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
    at: z
      .string()
      .datetime({ offset: true })
      .refine((v) => !/\.\d{4,}/.test(v), 'must have at most millisecond precision')
      .refine((v) => Date.parse(v) >= 0, 'must be no earlier than 1970-01-01T00:00:00Z'),
    ask: z
      .string()
      .regex(DECIMAL_PATTERN, 'must be a decimal string')
      .refine((v) => !/^-|^0+(\.0+)?$/.test(v), 'must be greater than 0'),
    bid: z
      .string()
      .regex(DECIMAL_PATTERN, 'must be a decimal string')
      .refine((v) => !/^-|^0+(\.0+)?$/.test(v), 'must be greater than 0'),
  })
  .strict();

export type TickEvent = z.infer<typeof tickEventSchema>;

export type ParsedTickEvent = { ok: true; event: TickEvent } | { ok: false; error: string };

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
  if (typeof json !== 'string') return { ok: false, error: 'entry has no event field' };
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (error) {
    return { ok: false, error: `event is not JSON: ${(error as Error).message}` };
  }
  const result = tickEventSchema.safeParse(raw);
  if (result.success) return { ok: true, event: result.data };
  return { ok: false, error: describeIssues(result.error, 'event') };
}
