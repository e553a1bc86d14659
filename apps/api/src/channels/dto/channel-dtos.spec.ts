import { BadRequestException, Type } from '@nestjs/common';
import type { FieldError } from '../../common/http-errors';
import { createValidationPipe } from '../../common/validation';
import { CreateChannelDto, UpdateChannelDto } from './create-channel.dto';

const pipe = createValidationPipe();

async function refused(metatype: Type<unknown>, value: unknown): Promise<FieldError[]> {
  const error = await pipe.transform(value, { type: 'body', metatype }).then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(BadRequestException);
  return ((error as BadRequestException).getResponse() as { errors: FieldError[] }).errors;
}

const webhook = { type: 'webhook', config: { url: 'https://example.com/hook' } };

describe('UpdateChannelDto', () => {
  it('refuses a digest or an hourly limit of the wrong type with one message each', async () => {
    expect(await refused(UpdateChannelDto, { digest: 'x', maxPerHour: '3' })).toEqual([
      { field: 'digest', messages: ['digest must be an object {windowMs}'] },
      { field: 'maxPerHour', messages: ['maxPerHour must be an integer'] },
    ]);
  });
});

describe('CreateChannelDto', () => {
  it('names an unknown field of the filter by its path, in the words used everywhere else', async () => {
    expect(await refused(CreateChannelDto, { ...webhook, filter: { pairs: [], foo: [] } })).toEqual([
      { field: 'filter.foo', messages: ['filter.foo is not an accepted field'] },
    ]);
  });
});
