import { AlertEvent, alertEventSchema, parseAlertEvent } from './alert-event';

const valid = (): AlertEvent => ({
  id: '0b8f4a52-6c1e-4d8e-9a0f-3c2b1a0d9e8f',
  monitorId: '3f1c2b7e-8a4d-4c5e-9f60-1a2b3c4d5e6f',
  pair: 'BTC-USD',
  ruleId: 'r1',
  kind: 'move',
  details: {},
  direction: 'up',
  priceField: 'ask',
  referencePrice: '63120.45',
  price: '63126.762045',
  changePercent: '0.01',
  thresholdPercent: '0.01',
  intervalMs: 5000,
  observedAt: '2026-11-24T07:21:08.123Z',
});

function errorOf(value: unknown): string {
  const result = parseAlertEvent(JSON.stringify(value));
  if (result.ok) throw new Error('expected the event to be rejected');
  return result.error;
}

describe('parseAlertEvent', () => {
  it('accepts a valid event', () => {
    expect(parseAlertEvent(JSON.stringify(valid()))).toEqual({ ok: true, event: valid() });
  });

  it.each<[string, Partial<AlertEvent>]>([
    ['a drop', { direction: 'down', changePercent: '-0.01', price: '63114.137955' }],
    ['the mid price', { priceField: 'mid', price: '63126.7620455' }],
    ['a time with an offset', { observedAt: '2026-11-24T08:21:08.123+01:00' }],
    ['a change of zero decimals', { changePercent: '0' }],
    ['tiny prices', { referencePrice: '0.000012345', price: '0.000012346' }],
    ['the largest interval the table holds', { intervalMs: 2 ** 31 - 1 }],
    ['a time in the year 1', { observedAt: '0001-01-01T00:00:00.000Z' }],
    ['a time in whole seconds', { observedAt: '2026-11-24T07:21:08Z' }],
  ])('accepts %s', (_label, patch) => {
    expect(parseAlertEvent(JSON.stringify({ ...valid(), ...patch })).ok).toBe(true);
  });

  it.each([
    ['not JSON', '{"id": '],
    ['empty text', ''],
  ])('rejects %s', (_label, text) => {
    expect(parseAlertEvent(text)).toEqual({
      ok: false,
      error: expect.stringMatching(/^event is not JSON: /),
    });
  });

  it.each([undefined, null])('rejects a missing entry field (%p)', (value) => {
    expect(parseAlertEvent(value)).toEqual({ ok: false, error: 'entry has no event field' });
  });

  it.each(['null', '[]', '"text"', '42'])('rejects JSON that is not an object: %s', (text) => {
    expect(parseAlertEvent(text).ok).toBe(false);
  });

  const DEFAULTED = ['ruleId', 'kind', 'details'];

  it('reads an event of a worker from before rules existed as rule r1 of kind move', () => {
    const event: Partial<AlertEvent> = valid();
    for (const field of DEFAULTED) delete event[field as keyof AlertEvent];
    expect(parseAlertEvent(JSON.stringify(event))).toEqual({ ok: true, event: valid() });
  });

  it('takes a cross alert\'s thresholdPercent of "0" and its details', () => {
    const event = {
      ...valid(),
      kind: 'cross',
      thresholdPercent: '0',
      details: { level: '100000', rearmPercent: '0' },
    };
    expect(parseAlertEvent(JSON.stringify(event))).toEqual({ ok: true, event });
  });

  it.each((Object.keys(valid()) as Array<keyof AlertEvent>).filter((f) => !DEFAULTED.includes(f)))(
    'rejects an event without %s, naming it',
    (field) => {
      const event: Partial<AlertEvent> = valid();
      delete event[field];
      expect(errorOf(event)).toMatch(new RegExp(`^${field}: Required$`));
    },
  );

  it('rejects extra fields, naming them', () => {
    expect(errorOf({ ...valid(), secret: 'x' })).toContain("Unrecognized key(s) in object: 'secret'");
  });

  it.each<[keyof AlertEvent, unknown]>([
    ['id', 'not-a-uuid'],
    ['id', ''],
    ['monitorId', '3f1c2b7e8a4d4c5e9f601a2b3c4d5e6f'],
    ['pair', 'btc-usd'],
    ['pair', 'BTC/USD'],
    ['direction', 'both'],
    ['priceField', 'last'],
    // floats or float-ish text instead of decimal strings
    ['price', 63126.76],
    ['price', '6.312676e4'],
    ['price', '63126.'],
    ['price', '0'],
    ['price', '-63126.76'],
    ['referencePrice', '0.000'],
    ['referencePrice', 'NaN'],
    ['changePercent', 0.01],
    ['changePercent', '1e-2'],
    ['thresholdPercent', '-1'],
    ['details', 'level 100'],
    ['kind', 'moon'],
    ['thresholdPercent', 0.01],
    ['intervalMs', 5000.5],
    ['intervalMs', '5000'],
    ['intervalMs', 0],
    ['observedAt', '24/11/2026'],
    ['observedAt', 1764000000000],
    // accepted by RFC 3339 but not storable or not pageable exactly: Postgres would refuse the batch
    ['intervalMs', 2 ** 31],
    ['observedAt', '0000-01-01T00:00:00.000Z'],
    ['observedAt', '0001-01-01T00:30:00.000+01:00'],
    ['observedAt', '2026-11-24T07:21:08.1234Z'],
  ])('rejects %s = %p, naming the field', (field, value) => {
    expect(errorOf({ ...valid(), [field]: value })).toMatch(new RegExp(`^${field}: `));
  });

  it('names every bad field at once', () => {
    const error = errorOf({ ...valid(), price: 1.5, id: 'x' });
    expect(error).toContain('id: ');
    expect(error).toContain('price: ');
  });
});

describe('alertEventSchema', () => {
  it('is strict', () => {
    expect(alertEventSchema.safeParse({ ...valid(), extra: 1 }).success).toBe(false);
  });
});
