import {
  encodePriceTick,
  parsePriceTick,
  PRICE_TICK_FIELD,
  priceTickJson,
  readPriceTick,
  priceStreamCap,
  priceStreamTtlMs,
  PriceTick,
  priceTickSchema,
  tickAtOrAfter,
} from './worker-prices';
import { workerPricesKey } from './redis-keys';

const tick: PriceTick = {
  at: '2026-12-01T20:00:01.250Z',
  ask: '63120.45',
  bid: '63119.80',
  price: '63120.45',
};

/** An entry as workers before the one-field format wrote it (format 1). */
const legacyFields = (t: PriceTick): string[] => ['at', t.at, 'ask', t.ask, 'bid', t.bid, 'price', t.price];
/** An entry of today's format holding `json` as it is. */
const entry = (json: string): string[] => [PRICE_TICK_FIELD, json];

describe('worker price stream', () => {
  it('keys each monitor its own stream, apart from its state hash', () => {
    expect(workerPricesKey('3f1c2b7e-8a4d-4c5e-9f60-1a2b3c4d5e6f')).toBe(
      'pairwatch:{m:3f1c2b7e-8a4d-4c5e-9f60-1a2b3c4d5e6f}:prices',
    );
  });

  it('writes one field per entry, the tick as compact JSON in schema order, and reads it back', () => {
    const fields = encodePriceTick({ price: tick.price, bid: tick.bid, ask: tick.ask, at: tick.at });
    expect(fields).toEqual([
      'tick',
      '{"at":"2026-12-01T20:00:01.250Z","ask":"63120.45","bid":"63119.80","price":"63120.45"}',
    ]);
    expect(parsePriceTick(fields)).toEqual({ ok: true, tick });
    expect(readPriceTick(fields)).toEqual({ ok: true, json: fields[1], at: tick.at });
  });

  it('serves a worker-written value as stored, without a parse; anything else goes through the schema', () => {
    const safeParse = jest.spyOn(priceTickSchema, 'safeParse');
    try {
      const fields = encodePriceTick(tick);
      const read = readPriceTick(fields);
      expect(read.ok && read.json).toBe(fields[1]);
      expect(safeParse).not.toHaveBeenCalled();
      expect(readPriceTick(legacyFields(tick)).ok).toBe(true);
      expect(safeParse).toHaveBeenCalledTimes(1);
    } finally {
      safeParse.mockRestore();
    }
  });

  it('still reads the four-field entries of older workers, through the schema, into the same JSON', () => {
    expect(parsePriceTick(legacyFields(tick))).toEqual({ ok: true, tick });
    expect(readPriceTick(legacyFields(tick))).toEqual({ ok: true, json: priceTickJson(tick), at: tick.at });
    const shuffled = ['price', '1.5', 'bid', '1.4', 'ask', '1.5', 'at', '2026-12-01T21:00:00+01:00'];
    expect(readPriceTick(shuffled)).toEqual({
      ok: true,
      json: '{"at":"2026-12-01T21:00:00+01:00","ask":"1.5","bid":"1.4","price":"1.5"}',
      at: '2026-12-01T21:00:00+01:00',
    });
  });

  it.each<[string, string]>([
    ['other key order', '{"ask":"1.5","at":"2026-12-01T20:00:01.250Z","bid":"1.4","price":"1.5"}'],
    ['spaces', '{ "at": "2026-12-01T20:00:01.250Z", "ask": "1.5", "bid": "1.4", "price": "1.5" }'],
    ['an offset time', '{"at":"2026-12-01T21:00:01.250+01:00","ask":"1.5","bid":"1.4","price":"1.5"}'],
    ['no milliseconds', '{"at":"2026-12-01T20:00:01Z","ask":"1.5","bid":"1.4","price":"1.5"}'],
  ])('accepts a value with %s through the schema and serves it in the compact form', (_name, json) => {
    const parsed = JSON.parse(json) as PriceTick;
    expect(readPriceTick(entry(json))).toEqual({ ok: true, json: priceTickJson(parsed), at: parsed.at });
  });

  it.each<[string, string[] | null, string]>([
    ['no entry', null, 'at: Required'],
    ['a float in exponent form', encodePriceTick({ ...tick, ask: '6.3e4' }), 'ask: Invalid'],
    ['a time that is not ISO', encodePriceTick({ ...tick, at: '1764619201000' }), 'at: Invalid datetime'],
    [
      'a day the month has not',
      encodePriceTick({ ...tick, at: '2026-02-29T20:00:01.250Z' }),
      'at: Invalid datetime',
    ],
    ['a 31st of April', encodePriceTick({ ...tick, at: '2026-04-31T20:00:01.250Z' }), 'at: Invalid datetime'],
    ['a missing price', entry('{"at":"2026-12-01T20:00:01.250Z","ask":"1","bid":"1"}'), 'price: Required'],
    [
      'a number for a price',
      entry('{"at":"2026-12-01T20:00:01.250Z","ask":1,"bid":"1","price":"1"}'),
      'ask: Expected string',
    ],
    [
      'an unknown key',
      entry('{"at":"2026-12-01T20:00:01.250Z","ask":"1","bid":"1","price":"1","x":1}'),
      "Unrecognized key(s) in object: 'x'",
    ],
    ['a value that is not JSON', entry('{"at":"2026-12-01T20:00:01.250Z","ask":"1"'), 'tick: not JSON'],
    [
      'JSON that is not an object',
      entry('["2026-12-01T20:00:01.250Z","1","1","1"]'),
      'tick: not a JSON object',
    ],
    [
      'a second field',
      [...encodePriceTick(tick), 'extra', 'x'],
      "Unrecognized key(s) in object: 'tick', 'extra'",
    ],
    ['a legacy entry missing a price', ['at', tick.at, 'ask', tick.ask, 'bid', tick.bid], 'price: Required'],
    [
      'a legacy entry with an unknown field',
      [...legacyFields(tick), 'extra', 'x'],
      "Unrecognized key(s) in object: 'extra'",
    ],
  ])('refuses %s with the reason, never throwing', (_name, fields, reason) => {
    for (const parsed of [parsePriceTick(fields), readPriceTick(fields)]) {
      expect(parsed.ok).toBe(false);
      expect(!parsed.ok && parsed.error).toContain(reason);
    }
  });

  it('its unparsed path agrees with the schema on every tick it accepts (leap days, month ends, odd decimals)', () => {
    const ats = [
      '2028-02-29T23:59:59.999Z',
      '2000-02-29T00:00:00.000Z',
      '2026-01-31T12:00:00.000Z',
      '2026-12-30T00:00:00.000Z',
    ];
    const prices = ['0.000000001', '-1.5', '123456789012345678901234567890.5', '7'];
    for (const at of ats) {
      for (const price of prices) {
        const t = { at, ask: price, bid: price, price };
        const read = readPriceTick(encodePriceTick(t));
        expect(read).toEqual({ ok: true, json: JSON.stringify(priceTickSchema.parse(t)), at });
      }
    }
    // And what the schema refuses, the unparsed path refuses too.
    for (const at of ['2100-02-29T00:00:00.000Z', '2026-06-31T00:00:00.000Z', '2026-13-01T00:00:00.000Z']) {
      expect(priceTickSchema.safeParse({ ...tick, at }).success).toBe(false);
      expect(readPriceTick(encodePriceTick({ ...tick, at })).ok).toBe(false);
    }
  });

  it.each([
    [1000, 3600],
    [5000, 720],
    [7000, 515],
    [3_600_000, 1],
  ])('keeps an hour of ticks at %i ms: %i entries', (intervalMs, cap) => {
    expect(priceStreamCap(intervalMs)).toBe(cap);
  });

  it('keeps what PRICE_HISTORY_MS asks for, and never less than one entry', () => {
    expect(priceStreamCap(1000, 5000)).toBe(5);
    expect(priceStreamCap(60_000, 1000)).toBe(1);
  });

  it('lets the stream outlive its history by the state TTL, then expire', () => {
    expect(priceStreamTtlMs(3_600_000, 15_000)).toBe(3_615_000);
  });
});

describe('tickAtOrAfter', () => {
  it.each<[string, string, boolean]>([
    ['2026-12-01T20:00:01.250Z', '2026-12-01T20:00:01.250Z', true],
    ['2026-12-01T20:00:01.249Z', '2026-12-01T20:00:01.250Z', false],
    ['2026-12-01T21:00:01.250+01:00', '2026-12-01T20:00:01.250Z', true],
    ['2026-12-01T21:00:01+01:00', '2026-12-01T20:00:01.250Z', false],
  ])('%s at or after %s: %s', (at, since, expected) => {
    expect(tickAtOrAfter(at, since)).toBe(expected);
  });
});
