import { ArgumentsHost, Catch, ExceptionFilter, HttpException, HttpStatus, Logger } from '@nestjs/common';
import type { Response } from 'express';

/**
 * Answers every error as JSON `{statusCode, message, ...}`. HTTP exceptions keep their body; anything else is
 * logged with its stack here and answered as a bare 500, so no stack trace or internal message leaves the API.
 */
@Catch()
export class AllExceptionsFilter implements ExceptionFilter {
  private readonly logger = new Logger('Http');

  catch(exception: unknown, host: ArgumentsHost): void {
    const response = host.switchToHttp().getResponse<Response>();
    if (response.headersSent) return;
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      const body = exception.getResponse();
      response
        .status(status)
        .json(
          typeof body === 'string'
            ? { statusCode: status, message: [body] }
            : normalise(body as Record<string, unknown>, status),
        );
      return;
    }
    const fromBodyParser = bodyParserError(exception);
    if (fromBodyParser) {
      response
        .status(fromBodyParser.status)
        .json({ statusCode: fromBodyParser.status, message: [fromBodyParser.message] });
      return;
    }
    this.logger.error(
      exception instanceof Error ? (exception.stack ?? exception.message) : String(exception),
    );
    response
      .status(HttpStatus.INTERNAL_SERVER_ERROR)
      .json({ statusCode: HttpStatus.INTERNAL_SERVER_ERROR, message: ['internal server error'] });
  }
}

/** body-parser's errors (too large, bad JSON) carry a status of their own and are safe to explain. */
export function bodyParserError(exception: unknown): { status: number; message: string } | undefined {
  const error = exception as {
    status?: number;
    type?: string;
    code?: unknown;
    expose?: boolean;
    message?: string;
    body?: unknown;
  } | null;
  if (!error?.expose || typeof error.status !== 'number' || error.status >= 500) return undefined;
  const message =
    error.type === 'entity.too.large'
      ? 'request body is too large'
      : error.type === 'entity.parse.failed'
        ? isJson(error.body)
          ? // The strict parser refuses valid JSON that is not an object or an array (null, "x", 5).
            'request body must be a JSON object'
          : 'request body is not valid JSON'
        : isDecompressionError(error.code)
          ? // zlib's own words were "incorrect header check" or "unexpected end of file".
            'request body could not be decompressed: it is not what its content-encoding header says'
          : (error.message ?? 'bad request');
  return { status: error.status, message };
}

/**
 * body-parser passes on the error of the stream that decompresses a content-encoding (gzip, deflate, br) as it
 * is, with a 400: zlib's codes are Z_DATA_ERROR, Z_BUF_ERROR…, brotli's ERR__ERROR_FORMAT_….
 */
function isDecompressionError(code: unknown): boolean {
  return typeof code === 'string' && /^(Z_|ERR__ERROR_)/.test(code);
}

function isJson(text: unknown): boolean {
  if (typeof text !== 'string') return false;
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

function normalise(body: Record<string, unknown>, status: number): Record<string, unknown> {
  const message = body.message;
  return {
    ...body,
    statusCode: status,
    message: Array.isArray(message)
      ? message
      : [typeof message === 'string' ? message : String(HttpStatus[status])],
  };
}
