import { BadRequestException, Type } from '@nestjs/common';
import type { FieldError } from '../../common/http-errors';
import { createValidationPipe } from '../../common/validation';
import { CreateWebhookDto } from './create-webhook.dto';
import { QueryDeliveriesDto } from './query-deliveries.dto';
import { UpdateWebhookDto } from './update-webhook.dto';

const pipe = createValidationPipe();

const valid = <T>(metatype: Type<T>, value: unknown, type: 'body' | 'query' = 'body') =>
  pipe.transform(value, { type, metatype }) as Promise<T>;

async function refusedFields(
  metatype: Type<unknown>,
  value: unknown,
  type: 'body' | 'query' = 'body',
): Promise<string[]> {
  const error = await pipe.transform(value, { type, metatype }).then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(BadRequestException);
  return ((error as BadRequestException).getResponse() as { errors: FieldError[] }).errors.map(
    (e) => e.field,
  );
}

const url = 'https://example.com/hook';

describe('CreateWebhookDto', () => {
  it('fills in the defaults of a minimal body', async () => {
    expect(await valid(CreateWebhookDto, { url })).toEqual({
      url,
      events: ['alert.created'],
      pairs: [],
      format: 'standard',
    });
  });

  it('upper-cases pairs and keeps the rest', async () => {
    const dto = await valid(CreateWebhookDto, {
      url: 'http://hooks.example.com:8080/x?y=1',
      events: ['monitor.failed', 'monitor.recovered'],
      pairs: ['btc-usd', 'Eth-Eur'],
      format: 'discord',
      description: 'ops channel\n\tsecond line',
    });
    expect(dto).toMatchObject({
      pairs: ['BTC-USD', 'ETH-EUR'],
      format: 'discord',
      description: 'ops channel\n\tsecond line',
    });
  });

  it.each([
    [{}, 'url'],
    [{ url: null }, 'url'],
    [{ url: 'example.com/hook' }, 'url'],
    [{ url: 'javascript:alert(1)' }, 'url'],
    [{ url: 'ws://example.com/' }, 'url'],
    [{ url: 'https://a:b@example.com/' }, 'url'],
    [{ url: 'https://a@example.com/' }, 'url'],
    [{ url: `https://example.com/${'x'.repeat(2030)}` }, 'url'],
    [{ url, events: [] as string[] }, 'events'],
    [{ url, events: ['*'] }, 'events'],
    [{ url, events: [1] }, 'events'],
    [{ url, pairs: 'BTC-USD' }, 'pairs'],
    [{ url, pairs: ['BTC_USD'] }, 'pairs'],
    [{ url, pairs: ['btc-usd', 'BTC-USD'] }, 'pairs'],
    [{ url, format: 'Slack' }, 'format'],
    [{ url, description: null }, 'description'],
    [{ url, description: 'a\u0000b' }, 'description'],
    [{ url: 'https://example.com/\u0000' }, 'url'],
    [{ url: 'https://example.com/a b' }, 'url'],
    [{ url: ' https://example.com/' }, 'url'],
    [{ url, enabled: false }, 'enabled'],
  ])('%j → refused on %s', async (body, field) => {
    if (field === undefined) {
      await expect(valid(CreateWebhookDto, body)).resolves.toBeDefined();
      return;
    }
    expect(await refusedFields(CreateWebhookDto, body)).toContain(field);
  });

  it('accepts exactly 2,048 characters of url and 200 of description, and 100 pairs', async () => {
    const long = `https://example.com/${'x'.repeat(2048 - 'https://example.com/'.length)}`;
    const pairs = Array.from({ length: 100 }, (_, i) => `C${i}-USD`);
    await expect(
      valid(CreateWebhookDto, { url: long, description: 'd'.repeat(200), pairs }),
    ).resolves.toMatchObject({ url: long });
  });
});

describe('UpdateWebhookDto', () => {
  it('has no defaults: only the fields given', async () => {
    expect(await valid(UpdateWebhookDto, {})).toEqual({});
    expect(await valid(UpdateWebhookDto, { enabled: true })).toEqual({ enabled: true });
  });

  it.each([
    [{ url: 'ftp://x/' }, 'url'],
    [{ url: null }, 'url'],
    [{ enabled: 'true' }, 'enabled'],
    [{ format: 'slack' }, 'format'],
    [{ pairs: ['x'] }, 'pairs'],
    [{ events: [] }, 'events'],
  ])('%j → refused on %s', async (body, field) => {
    expect(await refusedFields(UpdateWebhookDto, body)).toContain(field);
  });
});

describe('QueryDeliveriesDto', () => {
  it('reads limit as a number', async () => {
    expect(await valid(QueryDeliveriesDto, { limit: '20', status: 'failed' }, 'query')).toEqual({
      limit: 20,
      status: 'failed',
    });
  });

  it.each([
    [{ status: 'lost' }, 'status'],
    [{ limit: '1.5' }, 'limit'],
    [{ cursor: 'x'.repeat(201) }, 'cursor'],
    [{ page: '2' }, 'page'],
  ])('%j → refused on %s', async (query, field) => {
    expect(await refusedFields(QueryDeliveriesDto, query, 'query')).toContain(field);
  });
});
