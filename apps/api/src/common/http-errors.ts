import { HttpException, HttpStatus, ParseUUIDPipe } from '@nestjs/common';

export interface FieldError {
  field: string;
  messages: string[];
}

/** Every 4xx/5xx body pairwatch makes has this shape: message (list of sentences) and, for input, errors per field. */
export function httpError(status: HttpStatus, message: string, field?: string): HttpException {
  const errors: FieldError[] | undefined = field ? [{ field, messages: [message] }] : undefined;
  return new HttpException({ statusCode: status, message: [message], ...(errors ? { errors } : {}) }, status);
}

/** A path parameter that must be a UUID: a 400 naming it otherwise. */
export const uuidParam = (field: string): ParseUUIDPipe =>
  new ParseUUIDPipe({
    exceptionFactory: () => httpError(HttpStatus.BAD_REQUEST, `${field} must be a UUID`, field),
  });
