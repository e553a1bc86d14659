import { ArgumentMetadata, BadRequestException, ValidationError, ValidationPipe } from '@nestjs/common';
import type { FieldError } from './http-errors';

// When a value has the wrong type, range messages about it only confuse: report the type alone.
// (`isObject` too: beside it, @ValidateNested adds "nested property x must be either object or array".)
const TYPE_CONSTRAINTS = ['isString', 'isInt', 'isNumber', 'isBoolean', 'isUuid', 'isIso8601', 'isObject'];

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

/** How an unknown field is named in a message: as is, or quoted when it is empty or has odd characters. */
function fieldName(field: string): string {
  return /^[\w.$-]+$/.test(field) ? field : JSON.stringify(field);
}

const notAccepted = (field: string) => `${fieldName(field)} is not an accepted field`;

/** A 400 naming each field and what was wrong with it (the shape the global pipe answers). */
export function refusal(fields: FieldError[]): BadRequestException {
  return new BadRequestException({
    statusCode: 400,
    error: 'Bad Request',
    message: fields.flatMap((f) => f.messages),
    errors: fields,
  });
}

/**
 * Own keys that never reach class-validator's whitelist: Nest deletes `__proto__`, `prototype` and
 * `constructor`, and class-transformer skips any key the DTO inherits (`toString`, `valueOf`…). Left alone, a
 * body carrying one would be accepted with the key silently ignored, instead of refused like any unknown field.
 */
function inheritedKeys(value: Record<string, unknown>, metatype: new () => unknown): string[] {
  const prototype = metatype.prototype as object;
  return Object.keys(value).filter((key) => key === 'prototype' || key in prototype);
}

/**
 * A body that is an array, a string or null is refused as a whole before any field is looked at; keys the
 * validator would not see are refused along with whatever else is wrong.
 */
class PairwatchValidationPipe extends ValidationPipe {
  override async transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    const isObject = typeof value === 'object' && value !== null && !Array.isArray(value);
    const validated = metadata.metatype !== undefined && metadata.metatype !== Object;
    if (metadata.type === 'body' && validated && !isObject) {
      // No body at all reaches here as undefined, and so does one sent as anything but JSON (curl -d without
      // -H 'content-type: application/json' sends a form): the parser leaves it unread.
      const message =
        value === undefined
          ? 'request body must be a JSON object, sent with content-type: application/json'
          : 'request body must be a JSON object';
      throw refusal([{ field: 'body', messages: [message] }]);
    }
    const hidden =
      isObject && validated && (metadata.type === 'body' || metadata.type === 'query')
        ? inheritedKeys(value as Record<string, unknown>, metadata.metatype as new () => unknown)
        : [];
    // A query parameter given twice (?limit=1&limit=2) arrives as an array, which no query field takes: its own
    // check would say "limit must be a whole number".
    const repeated =
      isObject && validated && metadata.type === 'query'
        ? Object.entries(value as Record<string, unknown>).filter(([, v]) => Array.isArray(v))
        : [];
    if (hidden.length === 0 && repeated.length === 0) return super.transform(value, metadata);
    const extra = hidden.map((field) => ({ field, messages: [notAccepted(field)] }));
    const once = repeated.map(([field, v]) => ({
      field,
      messages: [`${fieldName(field)} must be given once, not ${(v as unknown[]).length} times`],
    }));
    try {
      await super.transform(value, metadata);
    } catch (error) {
      const body =
        error instanceof BadRequestException ? (error.getResponse() as { errors?: unknown }) : undefined;
      if (!Array.isArray(body?.errors)) throw error;
      const errors = body.errors as FieldError[];
      // An unknown parameter stays "not an accepted field", however many times it came.
      const unknown = new Set(
        errors.filter((e) => e.messages.includes(notAccepted(e.field))).map((e) => e.field),
      );
      const twice = once.filter((e) => !unknown.has(e.field));
      const replaced = new Set(twice.map((e) => e.field));
      throw refusal([...errors.filter((e) => !replaced.has(e.field)), ...twice, ...extra]);
    }
    throw refusal([...once, ...extra]);
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
    exceptionFactory: (errors) =>
      refusal(
        fieldErrors(errors).map((e) => ({
          field: e.field,
          // class-validator words an unknown field as "property x should not exist" (x without its parent's
          // path, in a nested object); say it plainly, with the whole path.
          messages: e.messages.map((m) =>
            m === `property ${e.field.slice(e.field.lastIndexOf('.') + 1)} should not exist`
              ? notAccepted(e.field)
              : m,
          ),
        })),
      ),
  });
}
