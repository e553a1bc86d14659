import { BadRequestException, Type } from '@nestjs/common';
import type { FieldError } from '../../common/http-errors';
import { createValidationPipe } from '../../common/validation';
import { QueryAlertsDto } from '../../alerts/dto/query-alerts.dto';
import { CreateMonitorDto } from './create-monitor.dto';

const pipe = createValidationPipe();

function validBody<T>(metatype: Type<T>, value: unknown, type: 'body' | 'query' = 'body'): Promise<T> {
  return pipe.transform(value, { type, metatype }) as Promise<T>;
}

/** Runs the pipe, expects a 400, and returns the field errors of its body. */
async function refusal(
  metatype: Type<unknown>,
  value: unknown,
  type: 'body' | 'query' = 'body',
): Promise<FieldError[]> {
  let error: unknown;
  try {
    await pipe.transform(value, { type, metatype });
  } catch (caught) {
    error = caught;
  }
  expect(error).toBeInstanceOf(BadRequestException);
  const body = (error as BadRequestException).getResponse() as {
    statusCode: number;
    message: string[];
    errors: FieldError[];
  };
  expect(body.statusCode).toBe(400);
  // The flat message list is the field messages, in order.
  expect(body.message).toEqual(body.errors.flatMap((e) => e.messages));
  return body.errors;
}

const fieldsOf = (errors: FieldError[]) => errors.map((e) => e.field);

describe('CreateMonitorDto through the global ValidationPipe', () => {
  it('fills in the interval of a minimal body and leaves the move rule fields to the service', async () => {
    const dto = await validBody(CreateMonitorDto, { pair: 'BTC-USD' });
    expect(dto).toBeInstanceOf(CreateMonitorDto);
    expect(dto).toMatchObject({ pair: 'BTC-USD', intervalMs: 5000 });
    // The service makes the one move rule with today's defaults (legacyMoveRule), and refuses these fields
    // beside `rules`: so the DTO leaves them unset when not sent.
    expect(dto.thresholdPercent).toBeUndefined();
    expect(dto.priceField).toBeUndefined();
    expect(dto.direction).toBeUndefined();
    expect(dto.cooldownMs).toBeUndefined();
    expect(dto.rules).toBeUndefined();
  });

  it('upper-cases a lower-case pair', async () => {
    expect((await validBody(CreateMonitorDto, { pair: 'eth-eur' })).pair).toBe('ETH-EUR');
    expect((await validBody(CreateMonitorDto, { pair: 'Btc-Usdt' })).pair).toBe('BTC-USDT');
  });

  it('keeps every given valid field', async () => {
    const body = {
      pair: 'XRP-BTC',
      intervalMs: 1000,
      thresholdPercent: 0.25,
      priceField: 'mid',
      direction: 'down',
      cooldownMs: 60_000,
    };
    expect(await validBody(CreateMonitorDto, body)).toEqual({ ...body });
  });

  it.each([
    ['intervalMs', 1000],
    ['intervalMs', 3_600_000],
    ['thresholdPercent', 1000],
    ['thresholdPercent', 0.0000123456],
    ['cooldownMs', 0],
    ['cooldownMs', 86_400_000],
  ])('accepts %s at its bound (%p)', async (field, value) => {
    const dto = await validBody(CreateMonitorDto, { pair: 'BTC-USD', [field]: value });
    expect(dto[field as keyof CreateMonitorDto]).toBe(value);
  });

  it.each<[string, unknown, string]>([
    ['missing pair', {}, 'pair'],
    ['pair null', { pair: null }, 'pair'],
    ['pair a number', { pair: 42 }, 'pair'],
    ['pair without a dash', { pair: 'BTCUSD' }, 'pair'],
    ['pair a path', { pair: '../etc' }, 'pair'],
    ['pair with a shell command', { pair: 'BTC-USD;rm -rf /' }, 'pair'],
    ['pair with a command substitution', { pair: 'btc-usd$(x)' }, 'pair'],
    ['pair with a trailing newline', { pair: 'BTC-USD\n' }, 'pair'],
    ['pair with spaces', { pair: ' BTC-USD' }, 'pair'],
    ['pair with non-ASCII letters', { pair: 'BTC-USDé' }, 'pair'],
    ['pair in Cyrillic', { pair: 'ВТС-USD' }, 'pair'],
    ['pair with an emoji', { pair: 'BTC-US💲' }, 'pair'],
    ['pair with a 13-character code', { pair: 'ABCDEFGHIJKLM-USD' }, 'pair'],
    ['pair with a 13-character quote code', { pair: 'BTC-ABCDEFGHIJKLM' }, 'pair'],
    ['pair with a 1-character code', { pair: 'B-USD' }, 'pair'],
    ['pair with three codes', { pair: 'BTC-USD-EUR' }, 'pair'],
    ['pair an array', { pair: ['BTC-USD'] }, 'pair'],
    ['threshold 0', { pair: 'BTC-USD', thresholdPercent: 0 }, 'thresholdPercent'],
    ['threshold -1', { pair: 'BTC-USD', thresholdPercent: -1 }, 'thresholdPercent'],
    ['threshold a string', { pair: 'BTC-USD', thresholdPercent: '0.5' }, 'thresholdPercent'],
    ['threshold NaN', { pair: 'BTC-USD', thresholdPercent: NaN }, 'thresholdPercent'],
    ['threshold "NaN"', { pair: 'BTC-USD', thresholdPercent: 'NaN' }, 'thresholdPercent'],
    ['threshold Infinity', { pair: 'BTC-USD', thresholdPercent: Infinity }, 'thresholdPercent'],
    ['threshold over 1000', { pair: 'BTC-USD', thresholdPercent: 1000.5 }, 'thresholdPercent'],
    ['threshold with 11 decimals', { pair: 'BTC-USD', thresholdPercent: 0.12345678901 }, 'thresholdPercent'],
    ['intervalMs 999', { pair: 'BTC-USD', intervalMs: 999 }, 'intervalMs'],
    ['intervalMs 1.5', { pair: 'BTC-USD', intervalMs: 1.5 }, 'intervalMs'],
    ['intervalMs a string', { pair: 'BTC-USD', intervalMs: '5000' }, 'intervalMs'],
    ['intervalMs over an hour', { pair: 'BTC-USD', intervalMs: 3_600_001 }, 'intervalMs'],
    ['intervalMs true', { pair: 'BTC-USD', intervalMs: true }, 'intervalMs'],
    ['cooldownMs -1', { pair: 'BTC-USD', cooldownMs: -1 }, 'cooldownMs'],
    ['cooldownMs over a day', { pair: 'BTC-USD', cooldownMs: 86_400_001 }, 'cooldownMs'],
    ['priceField last', { pair: 'BTC-USD', priceField: 'last' }, 'priceField'],
    ['priceField upper-case', { pair: 'BTC-USD', priceField: 'ASK' }, 'priceField'],
    ['direction sideways', { pair: 'BTC-USD', direction: 'sideways' }, 'direction'],
    ['unknown field foo', { pair: 'BTC-USD', foo: 1 }, 'foo'],
    ['an env field', { pair: 'BTC-USD', env: { REDIS_URL: 'redis://evil' } }, 'env'],
  ])('refuses %s, naming only %s', async (_label, body, field) => {
    const errors = await refusal(CreateMonitorDto, body);
    expect(fieldsOf(errors)).toEqual([field]);
  });

  it('says plainly that an unknown field is not accepted', async () => {
    const [error] = await refusal(CreateMonitorDto, { pair: 'BTC-USD', foo: 1 });
    expect(error.messages).toEqual(['foo is not an accepted field']);
  });

  it('names every bad field of one body', async () => {
    const errors = await refusal(CreateMonitorDto, {
      pair: 'x',
      intervalMs: 1,
      direction: 'left',
      foo: true,
    });
    expect(fieldsOf(errors).sort()).toEqual(['direction', 'foo', 'intervalMs', 'pair']);
  });

  it.each<[string, unknown]>([
    ['an empty array', []],
    ['an array of one valid body', [{ pair: 'BTC-USD' }]],
    ['null', null],
    ['a string', 'BTC-USD'],
  ])('refuses a body that is %s', async (_label, body) => {
    const errors = await refusal(CreateMonitorDto, body);
    expect(errors).toEqual([{ field: 'body', messages: ['request body must be a JSON object'] }]);
  });

  it('says what content type a body must come with when none was read (not JSON, or no body)', async () => {
    const errors = await refusal(CreateMonitorDto, undefined);
    expect(errors).toEqual([
      {
        field: 'body',
        messages: ['request body must be a JSON object, sent with content-type: application/json'],
      },
    ]);
  });

  it('reports only the type message for a wrong-typed field, not its range messages', async () => {
    const [interval] = await refusal(CreateMonitorDto, { pair: 'BTC-USD', intervalMs: '5000' });
    expect(interval.messages).toEqual(['intervalMs must be a whole number of milliseconds']);

    const [threshold] = await refusal(CreateMonitorDto, { pair: 'BTC-USD', thresholdPercent: '0.5' });
    expect(threshold.messages).toEqual(['thresholdPercent must be a number']);

    const [pair] = await refusal(CreateMonitorDto, { pair: 42 });
    expect(pair.messages).toEqual(['pair must be a string']);

    const [missing] = await refusal(CreateMonitorDto, { intervalMs: 5000 });
    expect(missing).toEqual({ field: 'pair', messages: ['pair is required'] });
  });

  it('reports the range message when the type is right', async () => {
    const [interval] = await refusal(CreateMonitorDto, { pair: 'BTC-USD', intervalMs: 999 });
    expect(interval.messages).toEqual(['intervalMs must be at least 1000']);
    const [threshold] = await refusal(CreateMonitorDto, { pair: 'BTC-USD', thresholdPercent: 0 });
    expect(threshold.messages).toEqual(['thresholdPercent must be greater than 0']);
    const [pair] = await refusal(CreateMonitorDto, { pair: 'BTCUSD' });
    expect(pair.messages).toEqual([expect.stringContaining('e.g. BTC-USD')]);
  });

  // An explicit null must not replace the default and reach the service (Infinity requests/min) or a NOT NULL
  // column (a 500): only an absent field is optional.
  it.each(['intervalMs', 'priceField', 'direction', 'cooldownMs'])(
    'does not let %s: null through as null',
    async (field) => {
      const outcome = await pipe
        .transform({ pair: 'BTC-USD', [field]: null }, { type: 'body', metatype: CreateMonitorDto })
        .then(
          (dto: CreateMonitorDto) => dto[field as keyof CreateMonitorDto],
          (error: unknown) => (error instanceof BadRequestException ? 'refused' : error),
        );
      expect(outcome).not.toBeNull();
      expect(outcome).not.toBeInstanceOf(Error);
    },
  );

  it('refuses thresholdPercent: null with a 400 naming it', async () => {
    expect(fieldsOf(await refusal(CreateMonitorDto, { pair: 'BTC-USD', thresholdPercent: null }))).toEqual([
      'thresholdPercent',
    ]);
  });

  // class-validator's own decimal-places check splits value.toString() on '.', which breaks on "1e-7".
  it('accepts thresholdPercent 1e-7 (0.0000001) instead of throwing a TypeError', async () => {
    const dto = await validBody(CreateMonitorDto, { pair: 'BTC-USD', thresholdPercent: 1e-7 });
    expect(dto.thresholdPercent).toBe(1e-7);
  });

  it('refuses thresholdPercent 1e-11 with a 400 naming it, not a TypeError', async () => {
    expect(fieldsOf(await refusal(CreateMonitorDto, { pair: 'BTC-USD', thresholdPercent: 1e-11 }))).toEqual([
      'thresholdPercent',
    ]);
  });
});

describe('QueryAlertsDto through the global ValidationPipe', () => {
  const query = (value: Record<string, unknown>) => validBody(QueryAlertsDto, value, 'query');
  const refused = async (value: Record<string, unknown>) =>
    fieldsOf(await refusal(QueryAlertsDto, value, 'query'));

  it('accepts an empty query', async () => {
    expect(await query({})).toBeInstanceOf(QueryAlertsDto);
  });

  it('turns limit "1000" into the number 1000 (the service clamps it)', async () => {
    expect((await query({ limit: '1000' })).limit).toBe(1000);
    expect((await query({ limit: '1' })).limit).toBe(1);
  });

  it.each(['abc', '1.5', '10abc', '', '1e3', '9999999999'])('refuses limit %j', async (limit) => {
    expect(await refused({ limit })).toEqual(['limit']);
  });

  // limit=99999999999999999999 answered "limit must be a whole number", which it is: the message gives the range.
  it.each(['99999999999999999999', '-9999999999', 'ten'])('says what limit %j may be', async (limit) => {
    expect(await refusal(QueryAlertsDto, { limit }, 'query')).toEqual([
      {
        field: 'limit',
        messages: [
          'limit must be a whole number of at most 9 digits; a page holds 1 to 500 (a larger limit gives 500)',
        ],
      },
    ]);
  });

  it('upper-cases a lower-case pair', async () => {
    expect((await query({ pair: 'btc-usd' })).pair).toBe('BTC-USD');
  });

  it.each(['btcusd', '../x', 'BTC-USD;ls'])('refuses pair %j', async (pair) => {
    expect(await refused({ pair })).toEqual(['pair']);
  });

  it('accepts an ISO-8601 since and until', async () => {
    const dto = await query({ since: '2025-01-02T03:04:05.678Z', until: '2025-01-03T00:00:00+01:00' });
    expect(dto).toMatchObject({ since: '2025-01-02T03:04:05.678Z', until: '2025-01-03T00:00:00+01:00' });
  });

  it.each([
    'yesterday',
    '2025-13-01T00:00:00Z',
    '1700000000000',
    '2025-02-30',
    // ISO-8601 forms a JS Date misreads or cannot read (they reached Postgres as a 500 or a wrong instant).
    '2025-W01',
    '2025-W01-1',
    '2025-002',
    '+0600-01-01T00:00:00Z',
    '20250101T000000Z',
    '2025-01-01T00:00:00,5Z',
    '2025-01-01T10:00:00',
    '2025-01',
    '2025',
  ])('refuses since %j', async (since) => {
    expect(await refused({ since })).toEqual(['since']);
  });

  it.each([
    '2025-01-02',
    '2025-01-02T03:04Z',
    '2025-01-02 03:04:05.123456789-07:30',
    '9999-12-31T23:59:59.999+14:00',
  ])('accepts the instant %j', async (since) => {
    expect((await query({ since })).since).toBe(since);
  });

  it('refuses an until that is not ISO-8601', async () => {
    expect(await refused({ until: 'now' })).toEqual(['until']);
  });

  it('accepts a UUID monitorId and refuses anything else', async () => {
    const id = '6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f';
    expect((await query({ monitorId: id })).monitorId).toBe(id);
    expect(await refused({ monitorId: 'not-a-uuid' })).toEqual(['monitorId']);
    expect(await refused({ monitorId: `${id}'--` })).toEqual(['monitorId']);
  });

  it('refuses a cursor longer than 200 characters and an unknown parameter', async () => {
    expect(await refused({ cursor: 'a'.repeat(201) })).toEqual(['cursor']);
    expect(await refused({ offset: '10' })).toEqual(['offset']);
  });
});
