import { parseTickEvent, tickEventJson, TickEvent } from './tick-event';

const good: TickEvent = {
  monitorId: '3f1c2b7e-8a4d-4c5e-9f60-1a2b3c4d5e6f',
  pair: 'BTC-USD',
  at: '2026-11-24T07:00:01.000Z',
  ask: '63120.45',
  bid: '63119.8',
};

describe('tick events', () => {
  it('round-trips through its JSON', () => {
    expect(parseTickEvent(tickEventJson(good))).toEqual({ ok: true, event: good });
  });

  it.each([
    [{ ...good, ask: '0' }, /^ask: must be greater than 0/],
    [{ ...good, bid: '-1' }, /^bid: must be greater than 0/],
    [{ ...good, ask: '1e5' }, /^ask: must be a decimal string/],
    [{ ...good, at: '2026-11-24T07:00:01.0001Z' }, /^at: must have at most millisecond precision/],
    [{ ...good, pair: 'btc_usd' }, /^pair: must be a valid pair/],
    [{ ...good, monitorId: 'x' }, /^monitorId: /],
    [{ ...good, price: '1' }, /^event: Unrecognized key/],
  ])('refuses %j with the reason', (event, reason) => {
    const parsed = parseTickEvent(JSON.stringify(event));
    expect(parsed.ok).toBe(false);
    expect(!parsed.ok && parsed.error).toMatch(reason);
  });

  it('refuses what is not JSON, or no event at all', () => {
    expect(parseTickEvent('{')).toMatchObject({
      ok: false,
      error: expect.stringMatching(/^event is not JSON/),
    });
    expect(parseTickEvent(undefined)).toEqual({ ok: false, error: 'entry has no event field' });
  });
});
