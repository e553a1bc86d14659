import { parseTickEvent, tickEventJson, TickEvent, tickEventSchema } from './tick-event';

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

  it('answers as the schema does, by the quick path or not', () => {
    const cases: unknown[] = [
      good,
      { ...good, monitorId: good.monitorId.toUpperCase() },
      { ...good, at: '2026-11-24T07:00:01Z' },
      { ...good, at: '2026-11-24T07:00:01.5+02:00' },
      { ...good, at: '2026-02-30T07:00:01.000Z' },
      { ...good, at: '2024-02-29T07:00:01.000Z' },
      { ...good, at: '2100-02-29T07:00:01.000Z' },
      { ...good, at: '2026-04-31T07:00:01.000Z' },
      { ...good, at: '1970-01-01T00:00:00.000Z' },
      { ...good, at: '2026-11-24T24:00:01.000Z' },
      { ...good, at: '1969-12-31T23:59:59.999Z' },
      { ...good, ask: '00.000' },
      { ...good, ask: '-0.5' },
      { ...good, bid: '0.0001' },
      { ...good, ask: 63120.45 },
      { ...good, bid: '1'.repeat(31) },
      { ...good, pair: 'BTC-USD-' },
      { ...good, monitorId: '3f1c2b7e8a4d4c5e9f601a2b3c4d5e6f' },
      { monitorId: good.monitorId, pair: good.pair, at: good.at, ask: good.ask },
      { ...good, __proto__: null },
      [good],
      null,
      'tick',
    ];
    for (const raw of cases) {
      const schema = tickEventSchema.safeParse(raw);
      const parsed = parseTickEvent(JSON.stringify(raw));
      expect({ raw, ok: parsed.ok }).toEqual({ raw, ok: schema.success });
      if (parsed.ok && schema.success) expect(parsed.event).toEqual(schema.data);
    }
  });

  it('answers as the schema does for texts near the form workers write', () => {
    const text = tickEventJson(good);
    const texts = [
      text,
      text.replace('"pair":"BTC-USD"', '"pair":"BTC\\u002dUSD"'),
      text.replace('"at"', '"at" '),
      text.replace('}', ',"x":1}'),
      text.replace('"bid":"63119.8"', '"bid":"00.0"'),
      text.replace('.000Z', '.000+00:00'),
      `${text}\n`,
      ` ${text}`,
      JSON.stringify({
        pair: good.pair,
        monitorId: good.monitorId,
        at: good.at,
        ask: good.ask,
        bid: good.bid,
      }),
    ];
    for (const json of texts) {
      const schema = tickEventSchema.safeParse(JSON.parse(json));
      const parsed = parseTickEvent(json);
      expect({ json, ok: parsed.ok }).toEqual({ json, ok: schema.success });
      if (parsed.ok && schema.success) expect(parsed.event).toEqual(schema.data);
    }
  });

  it('refuses what is not JSON, or no event at all', () => {
    expect(parseTickEvent('{')).toMatchObject({
      ok: false,
      error: expect.stringMatching(/^event is not JSON/),
    });
    expect(parseTickEvent(undefined)).toEqual({ ok: false, error: 'entry has no event field' });
  });
});
