import { encodePriceTick, PriceTick, priceTickJson, PRICE_TICK_FIELD } from '@pairwatch/contracts';
import { CachedStream, CachingPriceStreamReader, ENTRY_OVERHEAD_BYTES, PriceCache } from './price-cache';
import type { StreamRead } from './price-stream.reader';
import { decodeEntry, PricesBody, pricesBody, rangeStartMs, RawEntry } from './recent-prices';

const raw = (id: string, fields: string[]): RawEntry => [Buffer.from(id), fields.map((f) => Buffer.from(f))];
const tickAt = (at: string, price = '63120.45'): PriceTick => ({ at, ask: price, bid: '63119.80', price });
const legacyFields = (t: PriceTick): string[] => ['at', t.at, 'ask', t.ask, 'bid', t.bid, 'price', t.price];
const ticksOf = (json: Buffer): PriceTick[] => JSON.parse(json.toString('utf8')) as PriceTick[];

const SINCE = '2026-12-01T20:00:00.000Z';

/**
 * A stream as Redis keeps it for XADD MAXLEN = and XRANGE: ids increasing, trimmed from the front, and the
 * MULTI the reader sends (entries after an id, first and last ids, length). `reads` counts what was asked.
 */
class FakeStream {
  entries: RawEntry[] = [];
  reads: (string | undefined)[] = [];
  entriesSent = 0;

  /** `ms`: the first id's time (Redis' clock). */
  constructor(private ms = 1_000) {}

  add(fields: string[], cap = Infinity): string {
    const id = `${this.ms}-0`;
    this.ms += 1000;
    this.entries.push(raw(id, fields));
    if (this.entries.length > cap) this.entries.splice(0, this.entries.length - cap);
    return id;
  }

  tick(tick: PriceTick, cap = Infinity): string {
    return this.add(encodePriceTick(tick), cap);
  }

  del(): void {
    this.entries = [];
  }

  fetch = (lastId: string | undefined): Promise<StreamRead> => {
    this.reads.push(lastId);
    const after = lastId === undefined ? -1 : Number(lastId.split('-')[0]);
    const added = this.entries.filter(([id]) => Number(id.toString().split('-')[0]) > after);
    this.entriesSent += added.length;
    return Promise.resolve({
      added,
      first: this.entries[0]?.[0].toString(),
      last: this.entries[this.entries.length - 1]?.[0].toString(),
      length: this.entries.length,
    });
  };
}

/** A stream holding `entries` (RawEntry list), read once into a CachedStream. */
async function cachedOf(entries: RawEntry[]): Promise<CachedStream> {
  const stream = new CachedStream();
  await stream.refresh(() =>
    Promise.resolve({
      added: entries,
      first: entries[0]?.[0].toString(),
      last: entries[entries.length - 1]?.[0].toString(),
      length: entries.length,
    }),
  );
  return stream;
}

const at = (second: number): string => new Date(Date.parse(SINCE) + second * 1000).toISOString();

describe('CachedStream.body: the ticks served', () => {
  it('joins the stored JSON of each entry into one array, in stream order (newest last)', async () => {
    const ticks = [tickAt(at(1), '1.5'), tickAt(at(2), '1.6')];
    const body = (await cachedOf(ticks.map((t, i) => raw(`${i + 1}-0`, encodePriceTick(t))))).body(0, SINCE);
    expect(body.json.toString('utf8')).toBe(`[${ticks.map(priceTickJson).join(',')}]`);
    expect(ticksOf(body.json)).toEqual(ticks);
    expect(body).toMatchObject({ count: 2, unreadable: 0, reason: '' });
  });

  it('is an empty array for an empty stream', async () => {
    expect((await cachedOf([])).body(0, SINCE)).toEqual({
      json: Buffer.from('[]'),
      count: 0,
      unreadable: 0,
      reason: '',
    });
  });

  it('leaves out ticks before since: at decides, to the millisecond, canonical or with an offset', async () => {
    const stream = await cachedOf([
      raw('1-0', encodePriceTick(tickAt('2026-12-01T19:59:59.999Z'))),
      raw('2-0', encodePriceTick(tickAt('2026-12-01T20:00:00.000Z'))),
      raw('3-0', legacyFields(tickAt('2026-12-01T20:59:59.999+01:00'))),
      raw('4-0', legacyFields(tickAt('2026-12-01T21:00:00.001+01:00'))),
      raw('5-0', legacyFields(tickAt('2026-12-01T19:59:59.999Z'))),
    ]);
    expect(ticksOf(stream.body(0, SINCE).json).map((t) => t.at)).toEqual([
      '2026-12-01T20:00:00.000Z',
      '2026-12-01T21:00:00.001+01:00',
    ]);
  });

  it('compares a canonical at as its instant, from its digits: a leap day, the millisecond, a year below 100', async () => {
    const stream = await cachedOf([
      raw('1-0', encodePriceTick(tickAt('0050-07-01T00:00:00.000Z'))),
      raw('2-0', encodePriceTick(tickAt('2024-02-29T23:59:59.999Z'))),
      raw('1796185669994-0', encodePriceTick(tickAt('2024-03-01T00:00:00.000Z'))),
      raw('1796185669994-12', encodePriceTick(tickAt('2024-03-01T00:00:00.001Z'))),
    ]);
    const ats = (since: string, start = 0): string[] =>
      ticksOf(stream.body(start, since).json).map((t) => t.at);
    expect(ats('2024-03-01T00:00:00.000Z')).toEqual(['2024-03-01T00:00:00.000Z', '2024-03-01T00:00:00.001Z']);
    expect(ats('0050-06-30T23:59:59.999Z')).toHaveLength(4);
    expect(ats('0050-07-01T00:00:00.001Z')).toHaveLength(3);
    expect(ats('0001-01-01T00:00:00.000Z', 1796185669994)).toHaveLength(2);
    expect(ats('0001-01-01T00:00:00.000Z', 1796185669995)).toHaveLength(0);
  });

  it('leaves out entries whose id is before the start (Redis clock), as XRANGE start + did', async () => {
    const stream = await cachedOf([
      raw('999-5', encodePriceTick(tickAt(at(1)))),
      raw('1000-0', encodePriceTick(tickAt(at(2)))),
      raw('1001-0', [PRICE_TICK_FIELD, 'not json']),
    ]);
    const body = stream.body(1000, SINCE);
    expect(ticksOf(body.json).map((t) => t.at)).toEqual([at(2)]);
    expect(body).toMatchObject({ count: 1, unreadable: 1 });
    expect(stream.body(1002, SINCE)).toMatchObject({ count: 0, unreadable: 0 });
  });

  it('serves a worker-written value as the bytes Redis sent, and refuses non-ASCII text through the schema', async () => {
    const stored = raw('1-0', encodePriceTick(tickAt(at(1))));
    const body = (await cachedOf([stored])).body(0, SINCE);
    expect(body.json.subarray(1, -1).equals(stored[1][1])).toBe(true);
    // Its own copy: the socket's buffer may be reused.
    stored[1][1].fill(0x20);
    expect(body.json.subarray(1, -1).equals(stored[1][1])).toBe(false);
    const odd = (
      await cachedOf([
        raw('2-0', [
          PRICE_TICK_FIELD,
          '{"at":"2026-12-01T20:00:01.000Z","ask":"1","bid":"1","price":"1","é":1}',
        ]),
      ])
    ).body(0, SINCE);
    expect(odd).toMatchObject({ count: 0, unreadable: 1, reason: expect.stringContaining("'é'") as string });
  });

  it('serves old four-field entries beside new ones, in the same compact form', async () => {
    const old = tickAt(at(1), '1.5');
    const current = tickAt(at(2), '1.6');
    const body = (await cachedOf([raw('1-0', legacyFields(old)), raw('2-0', encodePriceTick(current))])).body(
      0,
      SINCE,
    );
    expect(body.json.toString('utf8')).toBe(`[${priceTickJson(old)},${priceTickJson(current)}]`);
  });

  it('leaves out and counts entries that break the schema, keeping the last reason, and serves the rest', async () => {
    const good = tickAt(at(3));
    const body = (
      await cachedOf([
        raw('1-0', [PRICE_TICK_FIELD, '{"at":"2026-12-01T20:00:01.000Z","ask":"1e3","bid":"1","price":"1"}']),
        raw('2-0', encodePriceTick(good)),
        raw('3-0', [PRICE_TICK_FIELD, 'not json']),
      ])
    ).body(0, SINCE);
    expect(ticksOf(body.json)).toEqual([good]);
    expect(body).toMatchObject({ count: 1, unreadable: 2, reason: 'tick: not JSON' });
  });
});

describe('CachedStream.refresh: kept in step with the stream', () => {
  const served = (stream: CachedStream): string[] => ticksOf(stream.body(0, SINCE).json).map((t) => t.at);

  it('reads only what is new after the first read, and serves it next', async () => {
    const redis = new FakeStream();
    for (let i = 1; i <= 5; i++) redis.tick(tickAt(at(i)));
    const stream = new CachedStream();
    await stream.refresh(redis.fetch);
    expect(served(stream)).toEqual([1, 2, 3, 4, 5].map(at));
    const lastId = redis.add(encodePriceTick(tickAt(at(6))));
    await stream.refresh(redis.fetch);
    expect(served(stream)).toEqual([1, 2, 3, 4, 5, 6].map(at));
    await stream.refresh(redis.fetch);
    expect(redis.reads).toEqual([undefined, '5000-0', lastId]);
    expect(redis.entriesSent).toBe(6);
  });

  it('drops exactly the entries Redis trimmed, however many reads were missed', async () => {
    const redis = new FakeStream();
    const cap = 4;
    for (let i = 1; i <= 4; i++) redis.tick(tickAt(at(i)), cap);
    const stream = new CachedStream();
    await stream.refresh(redis.fetch);
    redis.tick(tickAt(at(5)), cap);
    await stream.refresh(redis.fetch);
    expect(served(stream)).toEqual([2, 3, 4, 5].map(at));
    for (let i = 6; i <= 12; i++) redis.tick(tickAt(at(i)), cap);
    await stream.refresh(redis.fetch);
    expect(served(stream)).toEqual([9, 10, 11, 12].map(at));
    expect(stream.length).toBe(cap);
    // Only incremental reads after the first: the copy never disagreed with Redis.
    expect(redis.reads.filter((id) => id === undefined)).toHaveLength(1);
  });

  it('empties when the key is gone, and serves a re-created stream from its start', async () => {
    const redis = new FakeStream();
    for (let i = 1; i <= 3; i++) redis.tick(tickAt(at(i)));
    const stream = new CachedStream();
    await stream.refresh(redis.fetch);
    redis.del();
    await stream.refresh(redis.fetch);
    expect(served(stream)).toEqual([]);
    redis.tick(tickAt(at(20)));
    await stream.refresh(redis.fetch);
    expect(served(stream)).toEqual([at(20)]);
  });

  it('reads in full again when Redis no longer holds what the copy does (ids going back, an entry deleted)', async () => {
    const redis = new FakeStream();
    for (let i = 1; i <= 3; i++) redis.tick(tickAt(at(i)));
    const stream = new CachedStream();
    await stream.refresh(redis.fetch);
    // Re-created with smaller ids (another Redis, a clock set back): the first id is older than the copy's last.
    redis.entries = [raw('500-0', encodePriceTick(tickAt(at(30))))];
    await stream.refresh(redis.fetch);
    expect(served(stream)).toEqual([at(30)]);
    for (let i = 31; i <= 33; i++) redis.tick(tickAt(at(i)));
    await stream.refresh(redis.fetch);
    redis.entries.splice(1, 1); // XDEL in the middle
    await stream.refresh(redis.fetch);
    expect(served(stream)).toEqual([30, 32, 33].map(at));
    expect(redis.reads.filter((id) => id === undefined)).toHaveLength(3);
  });

  it('shares one read between calls made before it starts; a call made during a read makes its own after it', async () => {
    const redis = new FakeStream();
    redis.tick(tickAt(at(1)));
    const stream = new CachedStream();
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const slow = async (lastId: string | undefined): Promise<StreamRead> => {
      const read = await redis.fetch(lastId);
      await gate;
      return read;
    };
    const a = stream.refresh(slow);
    const b = stream.refresh(slow);
    expect(b).toBe(a);
    await Promise.resolve(); // the read is under way
    await Promise.resolve();
    redis.tick(tickAt(at(2)));
    const c = stream.refresh(slow);
    expect(c).not.toBe(a);
    release();
    await a;
    await c;
    expect(redis.reads).toEqual([undefined, '1000-0']);
    expect(served(stream)).toEqual([at(1), at(2)]);
  });

  it('changes nothing when a read fails', async () => {
    const redis = new FakeStream();
    redis.tick(tickAt(at(1)));
    const stream = new CachedStream();
    await stream.refresh(redis.fetch);
    await expect(stream.refresh(() => Promise.reject(new Error('down')))).rejects.toThrow('down');
    redis.tick(tickAt(at(2)));
    await stream.refresh(redis.fetch);
    expect(served(stream)).toEqual([at(1), at(2)]);
    expect(redis.reads).toEqual([undefined, '1000-0']);
  });
});

describe('PriceCache: the bounds', () => {
  const fill = (redis: FakeStream, n: number): void => {
    for (let i = 1; i <= n; i++) redis.tick(tickAt(at(i)));
  };
  const entryBytes = Buffer.byteLength(priceTickJson(tickAt(at(1)))) + ENTRY_OVERHEAD_BYTES;

  it('keeps at most `monitors` streams, forgetting the least recently read', async () => {
    const cache = new PriceCache({ monitors: 2, bytes: 1e9 });
    const streams = ['a', 'b', 'c'].map(() => new FakeStream());
    streams.forEach((s) => fill(s, 3));
    await cache.read('a', streams[0].fetch);
    await cache.read('b', streams[1].fetch);
    await cache.read('a', streams[0].fetch); // a is now the most recent
    await cache.read('c', streams[2].fetch); // b goes
    expect(cache.stats()).toEqual({ monitors: 2, bytes: 6 * entryBytes });
    await cache.read('a', streams[0].fetch);
    await cache.read('b', streams[1].fetch);
    // a was kept (an incremental read), b was read in full again.
    expect(streams[0].reads).toEqual([undefined, '3000-0', '3000-0']);
    expect(streams[1].reads).toEqual([undefined, undefined]);
  });

  it('keeps at most `bytes`, and serves a stream too large for the bound without keeping it', async () => {
    const cache = new PriceCache({ monitors: 10, bytes: 5 * entryBytes });
    const small = new FakeStream();
    const large = new FakeStream();
    fill(small, 3);
    fill(large, 6);
    await cache.read('small', small.fetch);
    expect(cache.stats()).toEqual({ monitors: 1, bytes: 3 * entryBytes });
    const served = await cache.read('large', large.fetch);
    expect(served.length).toBe(6);
    // Evicting from the least recently read: small first, then large itself.
    expect(cache.stats()).toEqual({ monitors: 0, bytes: 0 });
    await cache.read('small', small.fetch);
    small.tick(tickAt(at(9)));
    small.tick(tickAt(at(10)));
    small.tick(tickAt(at(11)));
    await cache.read('small', small.fetch);
    expect(cache.stats()).toEqual({ monitors: 0, bytes: 0 });
  });

  it('forgets a monitor whose key is gone', async () => {
    const cache = new PriceCache({ monitors: 10, bytes: 1e9 });
    const redis = new FakeStream();
    fill(redis, 2);
    await cache.read('a', redis.fetch);
    expect(cache.stats().monitors).toBe(1);
    redis.del();
    expect((await cache.read('a', redis.fetch)).body(0, SINCE).count).toBe(0);
    expect(cache.stats()).toEqual({ monitors: 0, bytes: 0 });
  });
});

describe('CachingPriceStreamReader: the wrapper over the plain reader', () => {
  /**
   * The plain reader over a FakeStream: `read` is PriceStreamReader.read (the id range from rangeStartMs, every
   * entry decoded, the body built), `readAfter` its MULTI.
   */
  const plainOver = (redis: FakeStream) => ({
    readAfter: (_monitorId: string, lastId: string | undefined) => redis.fetch(lastId),
    read: (_monitorId: string, sinceMs: number): PricesBody => {
      const startMs = rangeStartMs(sinceMs);
      const inRange = redis.entries.filter(([id]) => Number(id.toString().split('-')[0]) >= startMs);
      return pricesBody(inRange.map(decodeEntry), startMs, new Date(sinceMs).toISOString());
    },
  });
  /** Ids on the ticks' clock, so that since decides by id range and by `at` as it does live. */
  const sinceMs = Date.parse(SINCE);
  const idAt = (second: number): string => `${sinceMs + second * 1000}-0`;

  it('caches: answers what the plain reader answers, asking it only for the entries after the last one kept', async () => {
    const redis = new FakeStream(sinceMs);
    for (let i = 1; i <= 5; i++) redis.tick(tickAt(at(i)));
    const plain = plainOver(redis);
    const reader = new CachingPriceStreamReader(plain);
    expect(await reader.read('m1', sinceMs)).toEqual(plain.read('m1', sinceMs));
    expect(plain.read('m1', sinceMs).count).toBe(5);
    redis.tick(tickAt(at(6)));
    const later = Date.parse(at(4));
    expect(await reader.read('m1', later)).toEqual(plain.read('m1', later));
    expect(plain.read('m1', later).count).toBe(3);
    const afterAll = sinceMs + 3_600_000;
    expect(await reader.read('m1', afterAll)).toEqual(plain.read('m1', afterAll));
    expect(await reader.read('m1', sinceMs)).toEqual(plain.read('m1', sinceMs));
    expect(redis.reads).toEqual([undefined, idAt(4), idAt(5), idAt(5)]);
    expect(redis.entriesSent).toBe(6);
    expect(reader.stats().monitors).toBe(1);
  });

  it('invalidates: a key gone or a failed read forgets the monitor; a stream Redis no longer matches is read in full', async () => {
    const redis = new FakeStream(sinceMs);
    for (let i = 1; i <= 3; i++) redis.tick(tickAt(at(i)));
    const plain = plainOver(redis);
    let failing = false;
    const reader = new CachingPriceStreamReader({
      readAfter: (monitorId, lastId) =>
        failing ? Promise.reject(new Error('down')) : plain.readAfter(monitorId, lastId),
    });
    await reader.read('m1', sinceMs);
    failing = true;
    await expect(reader.read('m1', sinceMs)).rejects.toThrow('down');
    expect(reader.stats()).toEqual({ monitors: 0, bytes: 0 });
    failing = false;
    expect(await reader.read('m1', sinceMs)).toEqual(plain.read('m1', sinceMs));
    redis.del();
    expect(await reader.read('m1', sinceMs)).toEqual(plain.read('m1', sinceMs));
    expect(reader.stats()).toEqual({ monitors: 0, bytes: 0 });
    // Re-created with smaller ids, then an entry put before the first (no worker does that): not an append.
    redis.entries = [raw(idAt(-5), encodePriceTick(tickAt(at(30))))];
    await reader.read('m1', sinceMs);
    redis.tick(tickAt(at(31)));
    redis.entries.splice(0, 0, raw(idAt(-6), encodePriceTick(tickAt(at(29)))));
    expect(await reader.read('m1', sinceMs)).toEqual(plain.read('m1', sinceMs));
    expect(plain.read('m1', sinceMs).count).toBe(3);
    // Full reads: the first, after the failure, after the key came back, and after the insertion at the front.
    expect(redis.reads.filter((id) => id === undefined)).toHaveLength(4);
  });
});
