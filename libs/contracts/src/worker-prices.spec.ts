import {
  encodePriceTick,
  parsePriceTick,
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

describe('worker price stream', () => {
  it('keys each monitor its own stream, apart from its state hash', () => {
    expect(workerPricesKey('3f1c2b7e-8a4d-4c5e-9f60-1a2b3c4d5e6f')).toBe(
      'pairwatch:prices:3f1c2b7e-8a4d-4c5e-9f60-1a2b3c4d5e6f',
    );
  });

  it('round-trips an entry through the field list XADD writes and XRANGE gives back', () => {
    const fields = encodePriceTick(tick);
    expect(fields).toEqual(['at', tick.at, 'ask', tick.ask, 'bid', tick.bid, 'price', tick.price]);
    expect(parsePriceTick(fields)).toEqual({ ok: true, tick });
  });

  it('accepts the fields in another order and an offset time, as the schema does', () => {
    const fields = ['price', '1.5', 'bid', '1.4', 'ask', '1.5', 'at', '2026-12-01T21:00:00+01:00'];
    expect(parsePriceTick(fields)).toEqual({
      ok: true,
      tick: { at: '2026-12-01T21:00:00+01:00', ask: '1.5', bid: '1.4', price: '1.5' },
    });
  });

  it.each<[string, string[] | null, string]>([
    ['no entry', null, 'at: Required'],
    ['a float in exponent form', encodePriceTick({ ...tick, ask: '6.3e4' }), 'ask: Invalid'],
    ['a time that is not ISO', encodePriceTick({ ...tick, at: '1764619201000' }), 'at: Invalid datetime'],
    ['a missing price', ['at', tick.at, 'ask', tick.ask, 'bid', tick.bid], 'price: Required'],
    ['an unknown field', [...encodePriceTick(tick), 'extra', 'x'], "Unrecognized key(s) in object: 'extra'"],
  ])('refuses %s with the reason, never throwing', (_name, fields, reason) => {
    const parsed = parsePriceTick(fields);
    expect(parsed.ok).toBe(false);
    expect(!parsed.ok && parsed.error).toContain(reason);
  });

  it('its quick path agrees with the schema on what it accepts', () => {
    for (const at of [tick.at, '2026-12-01T20:00:01Z', '2026-12-01T20:00:01.1+05:30']) {
      const entry = { ...tick, at };
      expect(parsePriceTick(encodePriceTick(entry))).toEqual({
        ok: true,
        tick: priceTickSchema.parse(entry),
      });
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
    expect(tickAtOrAfter({ ...tick, at }, since)).toBe(expected);
  });
});
