import { ArgumentMetadata, BadRequestException, ValidationError, ValidationPipe } from '@nestjs/common';
import type { FieldError } from './http-errors';

// When a value has the wrong type, range messages about it only confuse: report the type alone.
const TYPE_CONSTRAINTS = ['isString', 'isInt', 'isNumber', 'isBoolean', 'isUuid', 'isIso8601'];

function messagesOf(constraints: Record<string, string>): string[] {
  const typeErrors = TYPE_CONSTRAINTS.filter((name) => name in constraints);
  return typeErrors.length > 0 ? typeErrors.map((name) => constraints[name]) : Object.values(constraints);
}

/** Flattens nested class-validator errors into one entry per field path, e.g. `pair`, `filter.since`. */
export function fieldErrors(errors: ValidationError[], parent = ''): FieldError[] {
  return errors.flatMap((error) => {
    const field = parent ? `${parent}.${error.property}` : error.property;
    const own = error.constraints ? [{ field, messages: messagesOf(error.constraints) }] : [];
    return [...own, ...fieldErrors(error.children ?? [], field)];
  });
}

/** A body that is an array, a string or null is refused as a whole before any field is looked at. */
class PairwatchValidationPipe extends ValidationPipe {
  override async transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    const isObject = typeof value === 'object' && value !== null && !Array.isArray(value);
    if (metadata.type === 'body' && metadata.metatype && metadata.metatype !== Object && !isObject) {
      const message = 'request body must be a JSON object';
      throw new BadRequestException({
        statusCode: 400,
        error: 'Bad Request',
        message: [message],
        errors: [{ field: 'body', messages: [message] }],
      });
    }
    return super.transform(value, metadata);
  }
}

/** The global pipe: unknown fields are refused, types are not coerced, every problem names its field. */
export function createValidationPipe(): ValidationPipe {
  return new PairwatchValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    transform: true,
    transformOptions: { enableImplicitConversion: false },
    validationError: { target: false, value: false },
    stopAtFirstError: false,
    exceptionFactory: (errors) => {
      const fields = fieldErrors(errors).map((e) =>
        // class-validator words an unknown field as "property x should not exist"; say it plainly.
        ({
          field: e.field,
          messages: e.messages.map((m) =>
            m.replace(/^property (\S+) should not exist$/, '$1 is not an accepted field'),
          ),
        }),
      );
      return new BadRequestException({
        statusCode: 400,
        error: 'Bad Request',
        message: fields.flatMap((f) => f.messages),
        errors: fields,
      });
    },
  });
}
