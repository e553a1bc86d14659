import {
  isCanonicalPriceTickJson,
  PRICE_TICK_FIELD,
  readPriceTick,
  tickAtOrAfter,
} from '@pairwatch/contracts';

/** An entry as XRANGE returns it, as Buffers (ioredis' xrangeBuffer: no text decoding of ids and fields). */
export type RawEntry = [id: Buffer, fields: Buffer[]];

/**
 * One read of a monitor's price stream, made in one MULTI (so the four parts describe one moment): the entries
 * after the id the cache holds last (all of them when it holds none), and the stream's first and last ids and
 * length. `first` undefined: the key is gone.
 */
export interface StreamRead {
  added: RawEntry[];
  first: string | undefined;
  last: string | undefined;
  length: number;
}

/** A response body of recent prices: a JSON array of ticks, oldest first, and what was left out of it. */
export interface PricesBody {
  /** The JSON array, UTF-8. */
  json: Buffer;
  count: number;
  unreadable: number;
  /** Why the last unreadable entry was refused ('' when none was). */
  reason: string;
}

/** Bounds of the cache of one API process. */
export interface PriceCacheLimits {
  /** Monitors whose streams are kept (the least recently read goes first). */
  monitors: number;
  /** Bytes kept in all, counted as the ticks' JSON plus ENTRY_OVERHEAD_BYTES an entry. */
  bytes: number;
}

/**
 * The default bounds: 32 monitors, 48 MiB. An hour at 1 s counts about 1.1 MB (306 KB of JSON and 3,600 entries'
 * bookkeeping), so 32 such monitors fit; a day at 1 s (about 27 MB) fits once.
 */
export const PRICE_CACHE_LIMITS: PriceCacheLimits = { monitors: 32, bytes: 48 * 1024 * 1024 };

/**
 * What an entry costs beside its JSON (the object, its Buffer, its slot), for the byte bound: measured as ≈ 318
 * bytes of heap and array buffers in all for an entry of 85 bytes of JSON (Node 20, 36,000 entries kept).
 */
export const ENTRY_OVERHEAD_BYTES = 232;

const TICK_FIELD = Buffer.from(PRICE_TICK_FIELD);
/** Where `at` sits in a canonical value: after `{"at":"`, 24 characters. */
const AT_START = '{"at":"'.length;

/**
 * An entry as kept: its id as two numbers, and either the tick's compact JSON (bytes of its own, not a slice of
 * a socket buffer) with its `at`, or the reason it was refused. `atMs` is set for a value a worker wrote (its
 * `at` in toISOString's form, checked to be a real day, compares as its instant does), `at` for any value that
 * went through the schema (compared by tickAtOrAfter, as before the cache).
 */
interface CachedTick {
  ms: number;
  seq: number;
  json: Buffer | undefined;
  atMs: number;
  at: string | undefined;
  reason: string;
}

function parseId(id: string): [ms: number, seq: number] {
  const dash = id.indexOf('-');
  return [Number(id.slice(0, dash)), Number(id.slice(dash + 1))];
}

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

function compareId(tick: CachedTick, ms: number, seq: number): number {
  return tick.ms !== ms ? tick.ms - ms : tick.seq - seq;
}

/** Whether a field name is PRICE_TICK_FIELD (a few bytes: compared here, not through a native call each). */
function isTickField(name: Buffer): boolean {
  if (name.length !== TICK_FIELD.length) return false;
  for (let i = 0; i < name.length; i++) if (name[i] !== TICK_FIELD[i]) return false;
  return true;
}

/**
 * Decodes an entry once, when it is read: a value a worker wrote (isCanonicalPriceTickJson, checked on its latin1
 * text: the pattern admits ASCII only, so that text is its UTF-8 too) is kept as the very bytes Redis sent;
 * anything else goes through readPriceTick (the schema) and is kept in the same compact form, or as refused.
 */
function decode([rawId, fields]: RawEntry): CachedTick {
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

const sizeOf = (tick: CachedTick): number => (tick.json?.length ?? 0) + ENTRY_OVERHEAD_BYTES;

/**
 * What one monitor's stream held at its last read, entry for entry, oldest first. A worker only appends (ids
 * increasing) and trims from the front (exact MAXLEN), so Redis holds exactly the entries from its first id to
 * its last: a read of the entries after the last id kept, with the first id, brings the copy up to date
 * (apply). The copy is checked against the stream's length and ends at every read, so anything else (a key
 * re-created with smaller ids, an entry deleted in the middle) is seen and the stream read again in full.
 */
export class CachedStream {
  private ticks: CachedTick[] = [];
  private lastIdText: string | undefined;
  /** Bytes counted for the byte bound (ticks' JSON plus overhead). */
  bytes = 0;
  /** The bytes the cache counted for this stream at its last accounting. */
  accounted = 0;
  private queued: Promise<void> | undefined;
  private running: Promise<void> | undefined;

  get length(): number {
    return this.ticks.length;
  }

  /**
   * Brings the copy up to date with one read (`fetch(lastId)`), or a full one when the copy and Redis disagree.
   * Calls made while a read waits to start share it; a call made once a read is under way waits for it and
   * makes the next, so every caller sees the stream as it was after it called, and reads never overlap.
   * Rejects (and changes nothing) when a read rejects.
   */
  refresh(fetch: (lastId: string | undefined) => Promise<StreamRead>): Promise<void> {
    if (this.queued) return this.queued;
    const run: Promise<void> = (this.running ?? Promise.resolve())
      .catch(() => undefined)
      .then(async () => {
        this.queued = undefined;
        this.running = run;
        try {
          await this.update(fetch);
        } finally {
          if (this.running === run) this.running = undefined;
        }
      });
    this.queued = run;
    return run;
  }

  private async update(fetch: (lastId: string | undefined) => Promise<StreamRead>): Promise<void> {
    if (this.apply(await fetch(this.lastIdText))) return;
    this.clear();
    if (!this.apply(await fetch(undefined))) {
      this.clear();
      throw new Error('the price stream changed while it was read');
    }
  }

  /**
   * Applies a read made after the last one: drops the entries older than Redis' first, appends the new ones.
   * False when the result is not what Redis holds (then the copy must be read again in full).
   */
  apply(read: StreamRead): boolean {
    if (read.first === undefined) {
      this.clear();
      return read.length === 0 && read.added.length === 0;
    }
    const [firstMs, firstSeq] = parseId(read.first);
    let gone = 0;
    while (gone < this.ticks.length && compareId(this.ticks[gone], firstMs, firstSeq) < 0) {
      this.bytes -= sizeOf(this.ticks[gone]);
      gone += 1;
    }
    if (gone > 0) this.ticks.splice(0, gone);
    for (const raw of read.added) {
      const tick = decode(raw);
      const newest = this.ticks[this.ticks.length - 1];
      if (newest !== undefined && compareId(newest, tick.ms, tick.seq) >= 0) return false;
      this.ticks.push(tick);
      this.bytes += sizeOf(tick);
    }
    if (read.added.length > 0) this.lastIdText = read.added[read.added.length - 1][0].toString('latin1');
    const oldest = this.ticks[0];
    const newest = this.ticks[this.ticks.length - 1];
    if (read.last === undefined || oldest === undefined || newest === undefined) return false;
    const [lastMs, lastSeq] = parseId(read.last);
    return (
      this.ticks.length === read.length &&
      compareId(oldest, firstMs, firstSeq) === 0 &&
      compareId(newest, lastMs, lastSeq) === 0
    );
  }

  clear(): void {
    this.ticks = [];
    this.lastIdText = undefined;
    this.bytes = 0;
  }

  /**
   * The JSON array of the ticks whose id is at or after `startMs` (Redis' clock) and whose `at` is at or after
   * `sinceIso` (canonical, from toISOString), oldest first: what `XRANGE key startMs +` filtered by `at` gave
   * before the cache. Refused entries in that id range are left out and counted.
   */
  body(startMs: number, sinceIso: string): PricesBody {
    const sinceMs = Date.parse(sinceIso);
    const ticks = this.ticks;
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
}

/**
 * The price streams last read, per monitor, within PriceCacheLimits: a least-recently-read order, and a byte
 * count updated after every read. A stream whose key is gone leaves the cache; one too large for the byte bound
 * alone is served from its read and not kept.
 */
export class PriceCache {
  private readonly streams = new Map<string, CachedStream>();
  private bytes = 0;

  constructor(private readonly limits: PriceCacheLimits = PRICE_CACHE_LIMITS) {}

  /** The monitor's stream, brought up to date by `fetch` (see CachedStream.refresh). */
  async read(
    monitorId: string,
    fetch: (lastId: string | undefined) => Promise<StreamRead>,
  ): Promise<CachedStream> {
    let stream = this.streams.get(monitorId);
    if (stream) this.streams.delete(monitorId);
    else stream = new CachedStream();
    // Most recently read last in the map's order; evicted from the front.
    this.streams.set(monitorId, stream);
    try {
      await stream.refresh(fetch);
    } catch (error) {
      this.forget(monitorId, stream);
      throw error;
    }
    if (this.streams.get(monitorId) === stream) {
      this.bytes += stream.bytes - stream.accounted;
      stream.accounted = stream.bytes;
      if (stream.length === 0) this.forget(monitorId, stream);
      this.evict();
    }
    return stream;
  }

  /** Monitors kept and bytes counted: for tests and the documentation of the bound. */
  stats(): { monitors: number; bytes: number } {
    return { monitors: this.streams.size, bytes: this.bytes };
  }

  private evict(): void {
    while (this.streams.size > this.limits.monitors || this.bytes > this.limits.bytes) {
      const oldest = this.streams.keys().next();
      if (oldest.done) return;
      this.forget(oldest.value, this.streams.get(oldest.value)!);
    }
  }

  private forget(monitorId: string, stream: CachedStream): void {
    if (this.streams.get(monitorId) !== stream) return;
    this.streams.delete(monitorId);
    this.bytes -= stream.accounted;
    stream.accounted = 0;
  }
}
