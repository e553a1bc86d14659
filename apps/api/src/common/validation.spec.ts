import { BadRequestException } from '@nestjs/common';
import { QueryAlertsDto } from '../alerts/dto/query-alerts.dto';
import { CreateMonitorDto } from '../monitors/dto/create-monitor.dto';
import type { FieldError } from './http-errors';
import { createValidationPipe } from './validation';

const pipe = createValidationPipe();

/** Runs the pipe on JSON text as body-parser would hand it over, and returns the field errors of its 400. */
async function refusedFields(
  json: string,
  type: 'body' | 'query' = 'body',
  metatype: typeof CreateMonitorDto | typeof QueryAlertsDto = CreateMonitorDto,
): Promise<FieldError[]> {
  const value: unknown = JSON.parse(json);
  const error: unknown = await pipe.transform(value, { type, metatype }).then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(BadRequestException);
  const body = (error as BadRequestException).getResponse() as { message: string[]; errors: FieldError[] };
  expect(body.message).toEqual(body.errors.flatMap((e) => e.messages));
  return body.errors;
}

describe('the global ValidationPipe and keys the validator never sees', () => {
  // Nest deletes __proto__, prototype and constructor, and class-transformer skips inherited names, before
  // class-validator's whitelist runs: without the pipe's own check these bodies were accepted (201).
  it.each([
    '__proto__',
    'constructor',
    'prototype',
    'toString',
    'valueOf',
    'hasOwnProperty',
    'isPrototypeOf',
  ])('refuses a valid body carrying %s, naming it', async (key) => {
    const errors = await refusedFields(`{"pair":"BTC-USD","${key}":{"x":1}}`);
    expect(errors).toEqual([{ field: key, messages: [`${key} is not an accepted field`] }]);
  });

  it('names such a key together with every other bad field', async () => {
    const errors = await refusedFields('{"pair":"x","valueOf":0,"foo":1}');
    expect(errors.map((e) => e.field).sort()).toEqual(['foo', 'pair', 'valueOf']);
  });

  it('refuses the same keys in a query', async () => {
    const query = JSON.stringify({ pair: 'BTC-USD', hasOwnProperty: '' });
    const errors = await refusedFields(query, 'query', QueryAlertsDto);
    expect(errors.map((e) => e.field)).toEqual(['hasOwnProperty']);
  });

  it('says a query parameter given twice must be given once, instead of blaming its type', async () => {
    const errors = await refusedFields(
      JSON.stringify({ limit: ['1', '2'], pair: ['BTC-USD', 'ETH-USD', 'BTC-EUR'], since: '2026-12-07' }),
      'query',
      QueryAlertsDto,
    );
    expect(errors).toEqual([
      { field: 'limit', messages: ['limit must be given once, not 2 times'] },
      { field: 'pair', messages: ['pair must be given once, not 3 times'] },
    ]);
  });

  it('keeps an unknown query parameter given twice "not an accepted field", beside the other problems', async () => {
    const errors = await refusedFields(
      JSON.stringify({ color: ['red', 'blue'], kind: ['move', 'cross'], monitorId: '42' }),
      'query',
      QueryAlertsDto,
    );
    expect(errors.sort((a, b) => a.field.localeCompare(b.field))).toEqual([
      { field: 'color', messages: ['color is not an accepted field'] },
      { field: 'kind', messages: ['kind must be given once, not 2 times'] },
      { field: 'monitorId', messages: ['monitorId must be a UUID'] },
    ]);
  });

  it('quotes an unknown field whose name is empty or has odd characters', async () => {
    const errors = await refusedFields('{"pair":"BTC-USD","":1,"pair\\u200b":2,"a b":3}');
    expect(errors.flatMap((e) => e.messages).sort()).toEqual(
      [
        '"" is not an accepted field',
        '"pair\u200b" is not an accepted field',
        '"a b" is not an accepted field',
      ].sort(),
    );
  });

  it('still accepts a valid body', async () => {
    await expect(
      pipe.transform({ pair: 'btc-usd' }, { type: 'body', metatype: CreateMonitorDto }),
    ).resolves.toMatchObject({ pair: 'BTC-USD' });
  });
});
