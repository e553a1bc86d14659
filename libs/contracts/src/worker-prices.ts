import { z } from 'zod';
import { DECIMAL_PATTERN } from './decimal';
import { describeIssues } from './schema-issues';

/**
 * A worker's recent ticks: every valid quote is appended to the stream `pairwatch:prices:{monitorId}`
 * (see workerPricesKey), in the same MULTI as its state hash. The worker writes an entry with
 * {@link encodePriceTick} and trims the stream to {@link priceStreamCap} entries; the API reads entries
 * back with {@link parsePriceTick}. One schema, so the two cannot drift apart.
 */

/** How much history a worker keeps by default: the last hour. */
export const DEFAULT_PRICE_HISTORY_MS = 3_600_000;
/** Bounds of PRICE_HISTORY_MS (API and worker alike): a second to a day. */
export const PRICE_HISTORY_LIMITS = { min: 1000, max: 86_400_000 } as const;

export const priceTickSchema = z
  .object({
    /** When the quote was received (ISO-8601). */
    at: z.string().datetime({ offset: true }),
    ask: z.string().regex(DECIMAL_PATTERN),
    bid: z.string().regex(DECIMAL_PATTERN),
    /** The watched price (the monitor's priceField of this quote). */
    price: z.string().regex(DECIMAL_PATTERN),
  })
  .strict();

export type PriceTick = z.infer<typeof priceTickSchema>;

/**
 * Entries the stream keeps for a worker ticking every `intervalMs`: `historyMs` worth of ticks (3,600 for an
 * hour at 1 s), at least one. The worker trims with an exact MAXLEN, so this is a bound, not an estimate.
 */
export function priceStreamCap(intervalMs: number, historyMs = DEFAULT_PRICE_HISTORY_MS): number {
  return Math.max(1, Math.ceil(historyMs / intervalMs));
}

/**
 * TTL of the stream key, renewed by every tick: the history itself plus the state's TTL, so the stream of a
 * removed monitor goes away on its own.
 */
export function priceStreamTtlMs(historyMs: number, stateTtlMs: number): number {
  return historyMs + stateTtlMs;
}

/** The field/value list for XADD: at, ask, bid, price, in that order. */
export function encodePriceTick(tick: PriceTick): string[] {
  return ['at', tick.at, 'ask', tick.ask, 'bid', tick.bid, 'price', tick.price];
}

export type ParsedPriceTick = { ok: true; tick: PriceTick } | { ok: false; error: string };

/** `at` as the worker writes it (Date#toISOString): UTC, milliseconds, 24 characters. */
const CANONICAL_AT = /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:[0-5]\d\.\d{3}Z$/;

/**
 * Whether the tick is at or after `sinceIso` (an instant in the same canonical form, e.g. from toISOString):
 * canonical times compare as strings, others (an offset, no milliseconds) as parsed instants.
 */
export function tickAtOrAfter(tick: PriceTick, sinceIso: string): boolean {
  return tick.at.length === 24 && tick.at.endsWith('Z')
    ? tick.at >= sinceIso
    : Date.parse(tick.at) >= Date.parse(sinceIso);
}

/**
 * Reads an entry's field/value list as XRANGE returns it. An entry that breaks the schema (a worker of another
 * version, a hand-made entry) is a refusal with the reason; never throws. The common case — the four fields
 * in the order {@link encodePriceTick} writes them, `at` as toISOString writes it — is checked by a few
 * anchored patterns, since the API reads thousands at a time (an hour at 1 s); anything else goes through the
 * schema.
 */
export function parsePriceTick(fields: readonly string[] | null | undefined): ParsedPriceTick {
  if (
    fields &&
    fields.length === 8 &&
    fields[0] === 'at' &&
    fields[2] === 'ask' &&
    fields[4] === 'bid' &&
    fields[6] === 'price' &&
    CANONICAL_AT.test(fields[1]) &&
    DECIMAL_PATTERN.test(fields[3]) &&
    DECIMAL_PATTERN.test(fields[5]) &&
    DECIMAL_PATTERN.test(fields[7])
  ) {
    return { ok: true, tick: { at: fields[1], ask: fields[3], bid: fields[5], price: fields[7] } };
  }
  const raw: Record<string, string> = {};
  for (let i = 0; fields && i + 1 < fields.length; i += 2) raw[fields[i]] = fields[i + 1];
  const result = priceTickSchema.safeParse(raw);
  if (result.success) return { ok: true, tick: result.data };
  return { ok: false, error: describeIssues(result.error, 'tick') };
}
