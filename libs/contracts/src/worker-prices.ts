import { z } from 'zod';
import { CANONICAL_AT, dayExists, isCanonicalAt, unanchored } from './canonical-text';
import { DECIMAL_PATTERN } from './decimal';
import { describeIssues } from './schema-issues';

/**
 * A worker's recent ticks: every valid quote is appended to the stream `pairwatch:prices:{monitorId}`
 * (see workerPricesKey), in the same MULTI as its state hash. The worker writes an entry with
 * {@link encodePriceTick} and trims the stream to {@link priceStreamCap} entries; the API reads entries
 * back with {@link readPriceTick} (to serve them) or {@link parsePriceTick}. One schema, so the two cannot
 * drift apart.
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

/**
 * The one field of an entry (format 2): its value is the tick as compact JSON, keys in the order
 * {@link priceTickJson} writes them. XRANGE then gives 3 strings per entry (id, field, value) instead of 9, and
 * the API can serve the value as it is. Entries of format 1 (fields at, ask, bid, price, as workers before it
 * wrote them) are still read, through the schema.
 */
export const PRICE_TICK_FIELD = 'tick';

/** The tick as compact JSON, keys in schema order: what an entry holds and what the API serves for it. */
export function priceTickJson(tick: PriceTick): string {
  return JSON.stringify({ at: tick.at, ask: tick.ask, bid: tick.bid, price: tick.price });
}

/** The field/value list for XADD: one field, {@link PRICE_TICK_FIELD}, holding {@link priceTickJson}. */
export function encodePriceTick(tick: PriceTick): string[] {
  return [PRICE_TICK_FIELD, priceTickJson(tick)];
}

export type ParsedPriceTick = { ok: true; tick: PriceTick } | { ok: false; error: string };

/** A tick read for serving: its compact JSON ({@link priceTickJson}) and its `at`. */
export type ReadPriceTick = { ok: true; json: string; at: string } | { ok: false; error: string };

/**
 * An entry's value exactly as {@link priceTickJson} writes a tick the worker made: `at` canonical, the prices
 * plain decimals (no character JSON would escape). A value matching it is valid JSON, passes the schema and is
 * byte for byte what JSON.stringify of the parsed tick gives, so it can be served unparsed.
 */
const CANONICAL_TICK_JSON = new RegExp(
  `^\\{"at":"${unanchored(CANONICAL_AT)}","ask":"${unanchored(DECIMAL_PATTERN)}",` +
    `"bid":"${unanchored(DECIMAL_PATTERN)}","price":"${unanchored(DECIMAL_PATTERN)}"\\}$`,
);
/** Where `at` sits in a canonical value: after `{"at":"`, 24 characters. */
const CANONICAL_AT_START = '{"at":"'.length;
const CANONICAL_AT_END = CANONICAL_AT_START + 24;

/**
 * Whether a tick's `at` is at or after `sinceIso` (an instant in the same canonical form, e.g. from
 * toISOString): canonical times compare as strings, others (an offset, no milliseconds) as parsed instants.
 */
export function tickAtOrAfter(at: string, sinceIso: string): boolean {
  return isCanonicalAt(at) ? at >= sinceIso : Date.parse(at) >= Date.parse(sinceIso);
}

function schemaTick(raw: unknown): ParsedPriceTick {
  const result = priceTickSchema.safeParse(raw);
  if (result.success) return { ok: true, tick: result.data };
  return { ok: false, error: describeIssues(result.error, 'tick') };
}

/**
 * Reads an entry's field/value list as XRANGE returns it, through the schema: format 2 (one
 * {@link PRICE_TICK_FIELD} holding JSON) or format 1 (the fields at, ask, bid, price). An entry that breaks the
 * schema (a worker of another version, a hand-made entry) is a refusal with the reason; never throws.
 */
export function parsePriceTick(fields: readonly string[] | null | undefined): ParsedPriceTick {
  if (fields && fields.length === 2 && fields[0] === PRICE_TICK_FIELD) {
    let raw: unknown;
    try {
      raw = JSON.parse(fields[1]);
    } catch {
      return { ok: false, error: `${PRICE_TICK_FIELD}: not JSON` };
    }
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
      return { ok: false, error: `${PRICE_TICK_FIELD}: not a JSON object` };
    return schemaTick(raw);
  }
  const raw: Record<string, string> = {};
  for (let i = 0; fields && i + 1 < fields.length; i += 2) raw[fields[i]] = fields[i + 1];
  return schemaTick(raw);
}

/**
 * Whether an entry's value is exactly what {@link priceTickJson} writes for a tick a worker made (see
 * CANONICAL_TICK_JSON): such a value passes the schema and can be served as stored, unparsed. Any other value
 * must go through {@link parsePriceTick}. One anchored pattern, since the API reads thousands at a time (an
 * hour at 1 s).
 */
export function isCanonicalPriceTickJson(value: string): boolean {
  return CANONICAL_TICK_JSON.test(value) && dayExists(value, CANONICAL_AT_START);
}

/**
 * For a value {@link isCanonicalPriceTickJson} accepted: whether its `at` is at or after `sinceIso` (canonical
 * too, from toISOString). Compared where it stands, character by character: no substring per entry.
 */
export function canonicalTickAtOrAfter(value: string, sinceIso: string): boolean {
  for (let i = 0; i < 24; i++) {
    const difference = value.charCodeAt(CANONICAL_AT_START + i) - sinceIso.charCodeAt(i);
    if (difference !== 0) return difference > 0;
  }
  return true;
}

/**
 * Reads an entry for serving: its tick as compact JSON, and its `at`. The common case — one
 * {@link PRICE_TICK_FIELD} whose value a worker wrote ({@link canonicalPriceTickAt}) — is served as stored,
 * unparsed. Anything else (format 1, other key order or spacing, an offset time) goes through
 * {@link parsePriceTick} and comes out in the same compact form; a refusal carries the reason. Never throws.
 */
export function readPriceTick(fields: readonly string[] | null | undefined): ReadPriceTick {
  if (
    fields &&
    fields.length === 2 &&
    fields[0] === PRICE_TICK_FIELD &&
    isCanonicalPriceTickJson(fields[1])
  ) {
    return { ok: true, json: fields[1], at: fields[1].slice(CANONICAL_AT_START, CANONICAL_AT_END) };
  }
  const parsed = parsePriceTick(fields);
  if (!parsed.ok) return parsed;
  return { ok: true, json: priceTickJson(parsed.tick), at: parsed.tick.at };
}
