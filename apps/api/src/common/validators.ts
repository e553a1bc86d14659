import { ValidateBy, ValidateIf, ValidationOptions } from 'class-validator';
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
