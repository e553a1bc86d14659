import {
  ArgumentsHost,
  BadRequestException,
  ConflictException,
  HttpException,
  HttpStatus,
  Logger,
  NotFoundException,
} from '@nestjs/common';
import { brotliDecompressSync, gunzipSync, gzipSync, inflateSync } from 'node:zlib';
import { AllExceptionsFilter } from './all-exceptions.filter';
import { httpError } from './http-errors';

interface FakeResponse {
  headersSent: boolean;
  status: jest.Mock<FakeResponse, [number]>;
  json: jest.Mock<FakeResponse, [unknown]>;
}

function fakeResponse(headersSent = false): FakeResponse {
  const response = { headersSent } as FakeResponse;
  response.status = jest.fn<FakeResponse, [number]>(() => response);
  response.json = jest.fn<FakeResponse, [unknown]>(() => response);
  return response;
}

function hostFor(response: FakeResponse): ArgumentsHost {
  const http = { getResponse: () => response, getRequest: () => ({}), getNext: () => undefined };
  return { switchToHttp: () => http } as unknown as ArgumentsHost;
}

describe('AllExceptionsFilter', () => {
  const filter = new AllExceptionsFilter();
  let logError: jest.SpyInstance;

  beforeEach(() => {
    logError = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
  });
  afterEach(() => jest.restoreAllMocks());

  function answer(exception: unknown): { status: number; body: Record<string, unknown> } {
    const response = fakeResponse();
    filter.catch(exception, hostFor(response));
    expect(response.status).toHaveBeenCalledTimes(1);
    expect(response.json).toHaveBeenCalledTimes(1);
    return {
      status: response.status.mock.calls[0][0],
      body: response.json.mock.calls[0][0] as Record<string, unknown>,
    };
  }

  it('answers an unexpected Error as a bare 500 without its message or stack', () => {
    const error = new Error('connect ECONNREFUSED 10.0.0.5:5432 password=s3cret');
    error.stack = `Error: ${error.message}\n    at Secret.internal (/app/dist/secret-file.js:42:7)`;
    const { status, body } = answer(error);
    expect(status).toBe(500);
    expect(body).toEqual({ statusCode: 500, message: ['internal server error'] });
    const text = JSON.stringify(body);
    expect(text).not.toContain('ECONNREFUSED');
    expect(text).not.toContain('s3cret');
    expect(text).not.toContain('secret-file');
  });

  it('logs the stack of an unexpected error on the server side', () => {
    const error = new Error('boom');
    answer(error);
    expect(logError).toHaveBeenCalledWith(expect.stringContaining('boom'));
    expect(logError.mock.calls[0][0]).toContain(error.stack);
  });

  it.each<[string, unknown]>([
    ['a string', 'something broke'],
    ['null', null],
    ['undefined', undefined],
    ['a plain object', { message: 'internal detail' }],
    ['a TypeError', new TypeError("Cannot read properties of undefined (reading 'length')")],
  ])('answers a thrown %s as a bare 500', (_label, thrown) => {
    const { status, body } = answer(thrown);
    expect(status).toBe(500);
    expect(body).toEqual({ statusCode: 500, message: ['internal server error'] });
  });

  it('keeps the status and the body of an HttpException, fields included', () => {
    const { status, body } = answer(
      httpError(HttpStatus.CONFLICT, 'pair BTC-USD is already monitored', 'pair'),
    );
    expect(status).toBe(409);
    expect(body).toEqual({
      statusCode: 409,
      message: ['pair BTC-USD is already monitored'],
      errors: [{ field: 'pair', messages: ['pair BTC-USD is already monitored'] }],
    });
  });

  it('keeps the body of a validation error', () => {
    const errors = [{ field: 'intervalMs', messages: ['intervalMs must be at least 1000'] }];
    const { status, body } = answer(
      new BadRequestException({
        statusCode: 400,
        error: 'Bad Request',
        message: ['intervalMs must be at least 1000'],
        errors,
      }),
    );
    expect(status).toBe(400);
    expect(body).toEqual({
      statusCode: 400,
      error: 'Bad Request',
      message: ['intervalMs must be at least 1000'],
      errors,
    });
  });

  it('turns the message of an HttpException into a list', () => {
    expect(answer(new NotFoundException('monitor x does not exist')).body).toMatchObject({
      statusCode: 404,
      message: ['monitor x does not exist'],
    });
    expect(answer(new HttpException('plain text', 418))).toEqual({
      status: 418,
      body: { statusCode: 418, message: ['plain text'] },
    });
    expect(answer(new ConflictException()).body.message).toEqual(['Conflict']);
  });

  it('never answers "[object Object]" for an HttpException whose message is not text', () => {
    const { status, body } = answer(
      new HttpException({ message: { nested: 'detail' } }, HttpStatus.BAD_REQUEST),
    );
    expect(status).toBe(400);
    expect(body.message).toEqual(['BAD_REQUEST']);
  });

  it('does not log an HttpException as an error', () => {
    answer(new NotFoundException());
    expect(logError).not.toHaveBeenCalled();
  });

  it.each<[string, Record<string, unknown>, number, string]>([
    [
      'too large',
      { status: 413, statusCode: 413, type: 'entity.too.large', expose: true },
      413,
      'request body is too large',
    ],
    [
      'bad JSON',
      { status: 400, statusCode: 400, type: 'entity.parse.failed', expose: true },
      400,
      'request body is not valid JSON',
    ],
    [
      'bad JSON, the raw body at hand',
      { status: 400, statusCode: 400, type: 'entity.parse.failed', expose: true, body: '{"pair":' },
      400,
      'request body is not valid JSON',
    ],
    // The strict parser refuses a top-level scalar: it is valid JSON, only not an object.
    ...['null', '"BTC-USD"', ' 5 ', 'true'].map((text): [string, Record<string, unknown>, number, string] => [
      `JSON that is not an object: ${text}`,
      { status: 400, statusCode: 400, type: 'entity.parse.failed', expose: true, body: text },
      400,
      'request body must be a JSON object',
    ]),
    [
      'bad charset',
      { status: 415, type: 'charset.unsupported', expose: true, message: 'unsupported charset "X"' },
      415,
      'unsupported charset "X"',
    ],
  ])(
    'answers a body-parser error (%s) with its own status',
    (_label, props, expectedStatus, expectedMessage) => {
      const error = Object.assign(
        new Error('raw parser text: Unexpected token } in JSON at position 7'),
        props,
      );
      const { status, body } = answer(error);
      expect(status).toBe(expectedStatus);
      expect(body).toEqual({ statusCode: expectedStatus, message: [expectedMessage] });
      if (props.type !== 'charset.unsupported')
        expect(JSON.stringify(body)).not.toContain('Unexpected token');
    },
  );

  // A body sent with content-encoding: gzip that is not gzip was answered with zlib's "incorrect header check".
  it.each<[string, () => unknown]>([
    ['gzip that is not gzip', () => gunzipSync(Buffer.from('{"pair":"BTC-USD"}'))],
    ['gzip cut short', () => gunzipSync(gzipSync('{"pair":"BTC-USD"}').subarray(0, 12))],
    ['deflate that is not deflate', () => inflateSync(Buffer.from('{"pair":"BTC-USD"}'))],
    ['br that is not br', () => brotliDecompressSync(Buffer.from('{"pair":"BTC-USD"}'))],
  ])('answers a body that fails to decompress (%s) with 400 naming the body', (_label, decompress) => {
    let zlibError: unknown;
    try {
      decompress();
    } catch (caught) {
      zlibError = caught;
    }
    // As body-parser hands it on: createError(400, error) marks the stream's own error.
    const error = Object.assign(zlibError as Error, { status: 400, statusCode: 400, expose: true });
    expect(answer(error)).toEqual({
      status: 400,
      body: {
        statusCode: 400,
        message: ['request body could not be decompressed: it is not what its content-encoding header says'],
      },
    });
  });

  it('answers a body-parser-like error that is not meant to be exposed as a bare 500', () => {
    const error = Object.assign(new Error('stream encoding should not be set'), {
      status: 500,
      expose: false,
    });
    expect(answer(error)).toEqual({
      status: 500,
      body: { statusCode: 500, message: ['internal server error'] },
    });
    const exposed5xx = Object.assign(new Error('internal'), { status: 503, expose: true });
    expect(answer(exposed5xx).status).toBe(500);
  });

  it('writes nothing once the headers are sent', () => {
    const response = fakeResponse(true);
    filter.catch(new Error('late failure'), hostFor(response));
    filter.catch(new NotFoundException(), hostFor(response));
    expect(response.status).not.toHaveBeenCalled();
    expect(response.json).not.toHaveBeenCalled();
  });
});
