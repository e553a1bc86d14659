/**
 * The speed-up of GET /monitors/:id/prices: CachingPriceStreamReader (at the end), over the plain
 * PriceStreamReader, chosen in RedisModule. Nothing here decides what is served (recent-prices.ts does).
 */
import type { PriceStreamReader, StreamRead } from './price-stream.reader';
import { decodeEntry, PricesBody, pricesBody, rangeStartMs, RecentPrices, StoredTick } from './recent-prices';

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

function parseId(id: string): [ms: number, seq: number] {
  const dash = id.indexOf('-');
  return [Number(id.slice(0, dash)), Number(id.slice(dash + 1))];
}

function compareId(tick: StoredTick, ms: number, seq: number): number {
  return tick.ms !== ms ? tick.ms - ms : tick.seq - seq;
}

const sizeOf = (tick: StoredTick): number => (tick.json?.length ?? 0) + ENTRY_OVERHEAD_BYTES;

/**
 * What one monitor's stream held at its last read, entry for entry, oldest first. A worker only appends (ids
 * increasing) and trims from the front (exact MAXLEN), so Redis holds exactly the entries from its first id to
 * its last: a read of the entries after the last id kept, with the first id, brings the copy up to date
 * (apply). The copy is checked against the stream's length and ends at every read, so anything else (a key
 * re-created with smaller ids, an entry deleted in the middle) is seen and the stream read again in full.
 */
export class CachedStream {
  private ticks: StoredTick[] = [];
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
      const tick = decodeEntry(raw);
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
    return pricesBody(this.ticks, startMs, sinceIso);
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

/**
 * The recent prices, fast: a RecentPrices over the plain PriceStreamReader that keeps the streams last read
 * (PriceCache, within PRICE_CACHE_LIMITS) and asks the plain reader only for what is new since the last read
 * (`readAfter`, one MULTI), serving the body from the copy. It answers what PriceStreamReader.read answers for
 * the stream as it is after the call: the copy is checked against the stream's first and last ids and its
 * length at every read and read again in full when Redis holds anything else (a key re-created, an entry
 * deleted); a monitor whose key is gone, whose read failed, or that is the least recently read past the
 * bounds is forgotten.
 */
export class CachingPriceStreamReader extends RecentPrices {
  private readonly cache: PriceCache;

  constructor(
    private readonly plain: Pick<PriceStreamReader, 'readAfter'>,
    limits: PriceCacheLimits = PRICE_CACHE_LIMITS,
  ) {
    super();
    this.cache = new PriceCache(limits);
  }

  async read(monitorId: string, sinceMs: number): Promise<PricesBody> {
    const stream = await this.cache.read(monitorId, (lastId) => this.plain.readAfter(monitorId, lastId));
    return stream.body(rangeStartMs(sinceMs), new Date(sinceMs).toISOString());
  }

  /** Monitors kept and bytes counted (PriceCache.stats). */
  stats(): { monitors: number; bytes: number } {
    return this.cache.stats();
  }
}
