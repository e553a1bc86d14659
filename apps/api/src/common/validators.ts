import { isISO8601, ValidateBy, ValidateIf, ValidationOptions } from 'class-validator';
import { Decimal } from '@pairwatch/contracts';

/**
 * Like @IsOptional(), but only an absent field is optional: an explicit null is validated (and refused)
 * instead of replacing the default.
 */
export const IsOptionalNotNull = (): PropertyDecorator => ValidateIf((_object, value) => value !== undefined);

/** At most `places` decimal places, counted exactly (class-validator's own check breaks on 1e-7). */
export function MaxDecimalPlaces(places: number, options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'maxDecimalPlaces',
      constraints: [places],
      validator: {
        validate: (value: unknown) =>
          typeof value === 'number' && Number.isFinite(value) && new Decimal(value).decimalPlaces() <= places,
        defaultMessage: () => `$property must have at most ${places} decimal places`,
      },
    },
    options,
  );
}

/**
 * An RFC 3339 date-time with its offset (or a plain date, read as UTC midnight). Strict ISO-8601 also allows
 * forms a JS Date reads wrongly or not at all: week dates (2025-W01), ordinal dates (2025-002 became February),
 * the basic format (20250101T000000Z), comma fractions, 4-digit signed years (+0600-…), and local times without
 * an offset. Those reached Postgres as an Invalid Date, a 500, or as the wrong instant.
 */
const INSTANT = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2}))?$/;

export function IsInstant(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isInstant',
      validator: {
        validate: (value: unknown) =>
          typeof value === 'string' &&
          INSTANT.test(value) &&
          isISO8601(value, { strict: true }) &&
          Number.isFinite(Date.parse(value)),
        defaultMessage: () =>
          '$property must be an ISO-8601 date-time with an offset (e.g. 2025-01-02T03:04:05Z) or a date (2025-01-02, UTC midnight)',
      },
    },
    options,
  );
}
