import { BadRequestException, Type } from '@nestjs/common';
import type { FieldError } from '../../common/http-errors';
import { createValidationPipe } from '../../common/validation';
import { CreateChannelDto, UpdateChannelDto } from './create-channel.dto';

const pipe = createValidationPipe();

const valid = <T>(metatype: Type<T>, value: unknown) =>
  pipe.transform(value, { type: 'body', metatype }) as Promise<T>;

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
  // The service clears a digest or an hourly limit given null; the validator refused the null, so once set
  // neither could ever be removed.
  it('takes null for digest, maxPerHour and quietHours: none any more', async () => {
    expect(await valid(UpdateChannelDto, { digest: null, maxPerHour: null, quietHours: null })).toEqual({
      digest: null,
      maxPerHour: null,
      quietHours: null,
    });
  });

  it('refuses a digest or an hourly limit of the wrong type with one message each', async () => {
    expect(await refused(UpdateChannelDto, { digest: 'x', maxPerHour: '3' })).toEqual([
      { field: 'digest', messages: ['digest must be an object {windowMs}'] },
      { field: 'maxPerHour', messages: ['maxPerHour must be an integer'] },
    ]);
  });

  it('keeps refusing null where null means nothing: name, events, filter, config, enabled', async () => {
    const fields = (
      await refused(UpdateChannelDto, {
        name: null,
        events: null,
        filter: null,
        config: null,
        enabled: null,
      })
    ).map((e) => e.field);
    expect(fields.sort()).toEqual(['config', 'enabled', 'events', 'filter', 'name']);
  });
});

describe('CreateChannelDto', () => {
  // events: [] made a channel that never received anything (an empty filter list means all, not none).
  it.each([CreateChannelDto, UpdateChannelDto])(
    '%p refuses events: [], saying one is needed',
    async (metatype) => {
      const body = metatype === CreateChannelDto ? { ...webhook, events: [] } : { events: [] };
      expect(await refused(metatype, body)).toEqual([
        { field: 'events', messages: ['events must name at least one event'] },
      ]);
    },
  );

  it('names an unknown field of the filter by its path, in the words used everywhere else', async () => {
    expect(await refused(CreateChannelDto, { ...webhook, filter: { pairs: [], foo: [] } })).toEqual([
      { field: 'filter.foo', messages: ['filter.foo is not an accepted field'] },
    ]);
  });
});
