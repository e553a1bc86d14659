import fc from 'fast-check';
import { AlertEvent, parseAlertEvent } from '@pairwatch/contracts';
import { plainAlertEvent, readAlertEvent } from './alert-event.reader';
import { sampleAlertEvent } from './testing/alert-event.fixture';

const valid = (): AlertEvent => sampleAlertEvent();

/** Values a field may be replaced with: near misses of every rule, and other fields' valid values. */
const candidates: unknown[] = [
  ...Object.values(valid()),
  'DOWN',
  'down',
  'mid',
  'bid',
  'Ask',
  '0',
  '0.00',
  '-1',
  '-0.5',
  '1e5',
  '1.',
  '.5',
  ' 1',
  '0b8f4a52-6c1e-4d8e-9a0f-3c2b1a0d9e8',
  '0B8F4A52-6C1E-4D8E-9A0F-3C2B1A0D9E8F',
  '0b8f4a52-6c1e-4d8e-9a0f-3c2b1a0d9e8g',
  'btc-usd',
  'BTCUSD',
  'B-USD',
  '2026-02-30T07:21:08.123Z',
  '2026-02-29T07:21:08.123Z',
  '2024-02-29T07:21:08.123Z',
  '2000-02-29T07:21:08.123Z',
  '1900-02-29T07:21:08.123Z',
  '2026-04-31T07:21:08.123Z',
  '2026-12-31T23:59:59.999Z',
  '2026-13-01T00:00:00.000Z',
  '2026-00-10T00:00:00.000Z',
  '2026-01-00T00:00:00.000Z',
  '2026-01-01T23:60:00.000Z',
  '2026-01-01T23:00:60.000Z',
  '0000-01-01T00:00:00.000Z',
  '2026-11-24T24:00:00.000Z',
  '2026-11-24T07:21:08Z',
  '2026-11-24T07:21:08.123456Z',
  '2026-11-24T08:21:08.123+01:00',
  '2026-11-24',
  1,
  0,
  -5,
  1.5,
  2 ** 53,
  2 ** 31,
  2 ** 31 - 1,
  '5000',
  null,
  true,
  [],
  {},
  '',
];

const mutated = fc.record({
  replace: fc.array(
    fc.tuple(
      fc.constantFrom(...(Object.keys(valid()) as (keyof AlertEvent)[])),
      fc.constantFrom(...candidates),
    ),
    { maxLength: 3 },
  ),
  drop: fc.option(fc.constantFrom(...(Object.keys(valid()) as (keyof AlertEvent)[])), { nil: undefined }),
  extra: fc.option(fc.constantFrom('extra', '__proto__', 'constructor'), { nil: undefined }),
});

describe('readAlertEvent', () => {
  it('reads what workers publish without the schema, and as the schema would', () => {
    const text = JSON.stringify(valid());
    expect(plainAlertEvent(JSON.parse(text))).toEqual(valid());
    expect(readAlertEvent(text)).toEqual(parseAlertEvent(text));
  });

  it.each<[string, Partial<AlertEvent>]>([
    ['a time with an offset', { observedAt: '2026-11-24T08:21:08.123+01:00' }],
    ['a time in whole seconds', { observedAt: '2026-11-24T08:21:08Z' }],
  ])('leaves %s to the schema, which accepts it', (_label, patch) => {
    const text = JSON.stringify({ ...valid(), ...patch });
    expect(plainAlertEvent(JSON.parse(text))).toBeUndefined();
    expect(readAlertEvent(text)).toEqual({ ok: true, event: { ...valid(), ...patch } });
  });

  it.each([
    ['no event field', undefined],
    ['not JSON', '{"id": '],
    ['a malformed id', JSON.stringify({ ...valid(), id: 'not-a-uuid' })],
    ['an impossible date', JSON.stringify({ ...valid(), observedAt: '2026-02-30T07:21:08.123Z' })],
    ['the year 0', JSON.stringify({ ...valid(), observedAt: '0000-01-01T00:00:00.000Z' })],
    ['a time with microseconds', JSON.stringify({ ...valid(), observedAt: '2026-11-24T08:21:08.123456Z' })],
    ['an interval past 32 bits', JSON.stringify({ ...valid(), intervalMs: 2 ** 31 })],
  ])('refuses %s with the schema’s own reason', (_label, text) => {
    const result = readAlertEvent(text);
    expect(result.ok).toBe(false);
    expect(result).toEqual(parseAlertEvent(text));
  });

  it.each(candidates.filter((c): c is string => typeof c === 'string' && /^\d{4}-/.test(c)))(
    'agrees with the schema on the instant %s',
    (observedAt) => {
      const text = JSON.stringify({ ...valid(), observedAt });
      expect(readAlertEvent(text)).toEqual(parseAlertEvent(text));
      if (plainAlertEvent(JSON.parse(text))) expect(parseAlertEvent(text).ok).toBe(true);
    },
  );

  it('agrees with the schema on every near miss, and never accepts what the schema refuses', () => {
    fc.assert(
      fc.property(mutated, ({ replace, drop, extra }) => {
        const raw: Record<string, unknown> = { ...valid() };
        for (const [field, value] of replace) raw[field] = value;
        if (drop) delete raw[drop];
        const text = extra
          ? JSON.stringify(raw).replace(/^\{/, `{${JSON.stringify(extra)}:1,`)
          : JSON.stringify(raw);
        const schema = parseAlertEvent(text);
        const plain = plainAlertEvent(JSON.parse(text));
        if (plain) expect(schema).toEqual({ ok: true, event: plain });
        expect(readAlertEvent(text)).toEqual(schema);
      }),
      { numRuns: 2000 },
    );
  });
});
