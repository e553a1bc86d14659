import {
  isCanonicalPriceTickJson,
  PRICE_TICK_FIELD,
  readPriceTick,
  tickAtOrAfter,
} from '@pairwatch/contracts';

/** A response body of recent prices: a JSON array of ticks, oldest first, and what was left out of it. */
export interface PricesBody {
  /** The JSON array, UTF-8. */
  json: Buffer;
  count: number;
  unreadable: number;
  /** Why the last unreadable entry was refused ('' when none was). */
  reason: string;
}

/**
 * A monitor's recent prices as GET /monitors/:id/prices serves them (`pairwatch:prices:{monitorId}`, written by
 * its worker). The plain reader (PriceStreamReader) reads the stream's range on every call; the Redis module
 * provides the caching one over it (CachingPriceStreamReader, price-cache.ts), which answers the same bodies.
 */
export abstract class RecentPrices {
  /**
   * The ticks observed at or after `sinceMs`, oldest first: the entries from rangeStartMs(sinceMs) by id whose
   * `at` is at or after `sinceMs`; entries that break the schema are left out and counted. Rejects when Redis
   * cannot be reached.
   */
  abstract read(monitorId: string, sinceMs: number): Promise<PricesBody>;
}

/**
 * Stream ids are Redis' clock, `at` the worker's: the range read starts this much before `since`, and `at`
 * decides, so a worker whose clock runs ahead of Redis' by less than this loses nothing.
 */
export const CLOCK_SKEW_MS = 60_000;

/** The first stream id (its ms part, Redis' clock) that may hold a tick observed at or after `sinceMs`. */
export function rangeStartMs(sinceMs: number): number {
  return Math.max(0, Math.floor(sinceMs) - CLOCK_SKEW_MS);
}

/** An entry as XRANGE returns it, as Buffers (ioredis' xrangeBuffer: no text decoding of ids and fields). */
export type RawEntry = [id: Buffer, fields: Buffer[]];

/**
 * An entry decoded: its id as two numbers, and either the tick's compact JSON (bytes of its own, not a slice of
 * a socket buffer) with its `at`, or the reason it was refused. `atMs` is set for a value a worker wrote (its
 * `at` in toISOString's form, checked to be a real day, compares as its instant does), `at` for any value that
 * went through the schema (compared by tickAtOrAfter).
 */
export interface StoredTick {
  ms: number;
  seq: number;
  json: Buffer | undefined;
  atMs: number;
  at: string | undefined;
  reason: string;
}

const TICK_FIELD = Buffer.from(PRICE_TICK_FIELD);
/** Where `at` sits in a canonical value: after `{"at":"`, 24 characters. */
const AT_START = '{"at":"'.length;

/** An id as XRANGE sends it ("ms-seq", ASCII digits), read from its bytes without decoding them to text. */
function parseIdBytes(id: Buffer): [ms: number, seq: number] {
  let ms = 0;
  let i = 0;
  for (; i < id.length && id[i] !== 0x2d; i++) ms = ms * 10 + id[i] - 48;
  let seq = 0;
  for (i += 1; i < id.length; i++) seq = seq * 10 + id[i] - 48;
  return [ms, seq];
}

/** The number written by `length` ASCII digits of `bytes` from `start`. */
function digitsAt(bytes: Buffer, start: number, length: number): number {
  let value = 0;
  for (let i = start; i < start + length; i++) value = value * 10 + bytes[i] - 48;
  return value;
}

/**
 * The instant of a canonical `at` (checked by isCanonicalPriceTickJson: a real day, toISOString's form) starting
 * at `start` in `bytes`, from its digits (Date.parse of a substring costs several times more). Date.UTC reads
 * years below 100 as 19xx: those go through Date.parse.
 */
function canonicalAtMs(bytes: Buffer, start: number): number {
  const year = digitsAt(bytes, start, 4);
  if (year < 100) return Date.parse(bytes.toString('latin1', start, start + 24));
  return Date.UTC(
    year,
    digitsAt(bytes, start + 5, 2) - 1,
    digitsAt(bytes, start + 8, 2),
    digitsAt(bytes, start + 11, 2),
    digitsAt(bytes, start + 14, 2),
    digitsAt(bytes, start + 17, 2),
    digitsAt(bytes, start + 20, 3),
  );
}

/** Whether a field name is PRICE_TICK_FIELD (a few bytes: compared here, not through a native call each). */
function isTickField(name: Buffer): boolean {
  if (name.length !== TICK_FIELD.length) return false;
  for (let i = 0; i < name.length; i++) if (name[i] !== TICK_FIELD[i]) return false;
  return true;
}

/**
 * Decodes an entry: a value a worker wrote (isCanonicalPriceTickJson, checked on its latin1 text: the pattern
 * admits ASCII only, so that text is its UTF-8 too) is kept as the very bytes Redis sent (copied); anything else
 * goes through readPriceTick (the schema) and is kept in the same compact form, or as refused.
 */
export function decodeEntry([rawId, fields]: RawEntry): StoredTick {
  const [ms, seq] = parseIdBytes(rawId);
  if (fields.length === 2 && isTickField(fields[0])) {
    const value = fields[1];
    if (isCanonicalPriceTickJson(value.toString('latin1'))) {
      const atMs = canonicalAtMs(value, AT_START);
      return { ms, seq, json: Buffer.from(value), atMs, at: undefined, reason: '' };
    }
  }
  const read = readPriceTick(fields.map((field) => field.toString('utf8')));
  if (!read.ok) return { ms, seq, json: undefined, atMs: NaN, at: undefined, reason: read.error };
  return { ms, seq, json: Buffer.from(read.json), atMs: NaN, at: read.at, reason: '' };
}

/**
 * The JSON array of the ticks (decoded entries, in stream order) whose id is at or after `startMs` (Redis'
 * clock) and whose `at` is at or after `sinceIso` (canonical, from toISOString), oldest first: what
 * `XRANGE key startMs +` filtered by `at` gives. Refused entries in that id range are left out and counted.
 */
export function pricesBody(ticks: readonly StoredTick[], startMs: number, sinceIso: string): PricesBody {
  const sinceMs = Date.parse(sinceIso);
  // The first entry with an id at or after startMs (ids increase).
  let low = 0;
  let high = ticks.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (ticks[middle].ms < startMs) low = middle + 1;
    else high = middle;
  }
  const parts: Buffer[] = [];
  let length = 0;
  let unreadable = 0;
  let reason = '';
  for (let i = low; i < ticks.length; i++) {
    const tick = ticks[i];
    if (tick.json === undefined) {
      unreadable += 1;
      reason = tick.reason;
    } else if (tick.at === undefined ? tick.atMs >= sinceMs : tickAtOrAfter(tick.at, sinceIso)) {
      parts.push(tick.json);
      length += tick.json.length;
    }
  }
  // One allocation: '[', the values with a comma between each two, ']'.
  const json = Buffer.allocUnsafe(length + Math.max(parts.length - 1, 0) + 2);
  let offset = 0;
  json[offset++] = 0x5b;
  for (let i = 0; i < parts.length; i++) {
    if (i > 0) json[offset++] = 0x2c;
    offset += parts[i].copy(json, offset);
  }
  json[offset++] = 0x5d;
  return { json, count: parts.length, unreadable, reason };
}
