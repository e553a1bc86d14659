import { encodePriceTick, PriceTick, priceTickJson, PRICE_TICK_FIELD } from '@pairwatch/contracts';
import { pricesBody } from './worker-state.reader';

/** An entry as ioredis' xrangeBuffer gives it. */
type Entry = [Buffer, Buffer[]];
const raw = (id: string, fields: string[]): Entry => [Buffer.from(id), fields.map((f) => Buffer.from(f))];

const tickAt = (at: string, price = '63120.45'): PriceTick => ({ at, ask: price, bid: '63119.80', price });
/** An entry as a worker writes it today (one field, the tick as JSON). */
const entry = (tick: PriceTick, id = '1-0'): Entry => raw(id, encodePriceTick(tick));
/** An entry as workers before the one-field format wrote it. */
const legacy = (t: PriceTick, id = '1-0'): Entry =>
  raw(id, ['at', t.at, 'ask', t.ask, 'bid', t.bid, 'price', t.price]);
const ticksOf = (json: Buffer): PriceTick[] => JSON.parse(json.toString('utf8')) as PriceTick[];

const SINCE = '2026-12-01T20:00:00.000Z';

describe('pricesBody', () => {
  it('joins the stored JSON of each entry into one array, in stream order (newest last)', () => {
    const ticks = [tickAt('2026-12-01T20:00:01.000Z', '1.5'), tickAt('2026-12-01T20:00:02.000Z', '1.6')];
    const body = pricesBody(
      ticks.map((t, i) => entry(t, `${i}-0`)),
      SINCE,
    );
    expect(body.json.toString('utf8')).toBe(`[${ticks.map(priceTickJson).join(',')}]`);
    expect(ticksOf(body.json)).toEqual(ticks);
    expect(body).toMatchObject({ count: 2, unreadable: 0, reason: '' });
  });

  it('is an empty array for an empty stream', () => {
    expect(pricesBody([], SINCE)).toEqual({ json: Buffer.from('[]'), count: 0, unreadable: 0, reason: '' });
  });

  it('leaves out ticks before since (the range starts earlier, for clock skew): at decides, to the millisecond', () => {
    const body = pricesBody(
      [
        entry(tickAt('2026-12-01T19:59:59.999Z')),
        entry(tickAt('2026-12-01T20:00:00.000Z')),
        legacy(tickAt('2026-12-01T20:59:59.999+01:00')),
        legacy(tickAt('2026-12-01T21:00:00.001+01:00')),
      ],
      SINCE,
    );
    expect(ticksOf(body.json).map((t) => t.at)).toEqual([
      '2026-12-01T20:00:00.000Z',
      '2026-12-01T21:00:00.001+01:00',
    ]);
  });

  it('puts a worker-written value into the body as the bytes Redis sent, and non-ASCII text as UTF-8', () => {
    const stored = entry(tickAt('2026-12-01T20:00:01.000Z'));
    const body = pricesBody([stored], SINCE);
    expect(body.json.subarray(1, -1).equals(stored[1][1])).toBe(true);
    // Not canonical (a key out of order, a non-ASCII byte in a refused value): the schema path, decoded as UTF-8.
    const odd = pricesBody(
      [
        raw('2-0', [
          PRICE_TICK_FIELD,
          '{"at":"2026-12-01T20:00:01.000Z","ask":"1","bid":"1","price":"1","é":1}',
        ]),
      ],
      SINCE,
    );
    expect(odd).toMatchObject({ count: 0, unreadable: 1, reason: expect.stringContaining("'é'") as string });
  });

  it('serves old four-field entries beside new ones, in the same compact form', () => {
    const old = tickAt('2026-12-01T20:00:01.000Z', '1.5');
    const current = tickAt('2026-12-01T20:00:02.000Z', '1.6');
    const body = pricesBody([legacy(old, '1-0'), entry(current, '2-0')], SINCE);
    expect(body.json.toString('utf8')).toBe(`[${priceTickJson(old)},${priceTickJson(current)}]`);
  });

  it('leaves out and counts entries that break the schema, keeping the last reason, and serves the rest', () => {
    const good = tickAt('2026-12-01T20:00:03.000Z');
    const body = pricesBody(
      [
        raw('1-0', [PRICE_TICK_FIELD, '{"at":"2026-12-01T20:00:01.000Z","ask":"1e3","bid":"1","price":"1"}']),
        entry(good, '2-0'),
        raw('3-0', [PRICE_TICK_FIELD, 'not json']),
      ],
      SINCE,
    );
    expect(ticksOf(body.json)).toEqual([good]);
    expect(body).toMatchObject({ count: 1, unreadable: 2, reason: 'tick: not JSON' });
  });
});
