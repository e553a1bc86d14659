import { Controller, ExecutionContext, Get, HttpException } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { loadConfig } from '../config/app.config';
import { ApiKeyGuard, Public } from './api-key.guard';

const KEY = 'correct-horse-battery-staple';

@Controller('things')
class ThingsController {
  @Get()
  list(): string[] {
    return [];
  }

  @Public()
  @Get('open')
  open(): string {
    return 'open';
  }
}

@Public()
@Controller('health')
class OpenController {
  @Get()
  check(): string {
    return 'ok';
  }
}

/** An ExecutionContext for one handler of a controller, with the given request headers. */
function contextFor(
  controller: new () => object,
  handler: string,
  headers: Record<string, string | undefined> = {},
  method = 'GET',
): ExecutionContext {
  const request = {
    method,
    header: (name: string) => {
      const lower = name.toLowerCase();
      return Object.entries(headers).find(([k]) => k.toLowerCase() === lower)?.[1];
    },
  };
  return {
    getHandler: () => (controller.prototype as Record<string, unknown>)[handler],
    getClass: () => controller,
    switchToHttp: () => ({ getRequest: () => request, getResponse: () => ({}), getNext: () => undefined }),
  } as unknown as ExecutionContext;
}

function guardWith(apiKey: string | undefined, apiReadKey?: string): ApiKeyGuard {
  const env = {
    ...(apiKey === undefined ? {} : { API_KEY: apiKey }),
    ...(apiReadKey === undefined ? {} : { API_READ_KEY: apiReadKey }),
  };
  return new ApiKeyGuard(loadConfig(env), new Reflector());
}

function statusOfRefusal(fn: () => unknown): number {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(HttpException);
    return (error as HttpException).getStatus();
  }
  throw new Error('the guard let the request through');
}

describe('ApiKeyGuard', () => {
  describe('without API_KEY', () => {
    const guard = guardWith(undefined);

    it('lets every request through, header or not', () => {
      expect(guard.canActivate(contextFor(ThingsController, 'list'))).toBe(true);
      expect(guard.canActivate(contextFor(ThingsController, 'list', { 'X-API-Key': 'anything' }))).toBe(true);
    });
  });

  describe('with API_KEY', () => {
    const guard = guardWith(KEY);

    it('refuses a request without the header with a 401 naming X-API-Key', () => {
      let error: unknown;
      try {
        guard.canActivate(contextFor(ThingsController, 'list'));
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(HttpException);
      const exception = error as HttpException;
      expect(exception.getStatus()).toBe(401);
      expect(exception.getResponse()).toMatchObject({ errors: [{ field: 'X-API-Key' }] });
      expect(JSON.stringify(exception.getResponse())).not.toContain(KEY);
    });

    it.each([
      ['a wrong key', 'wrong-horse-battery-staple'],
      ['a prefix of the key', KEY.slice(0, -1)],
      ['the key and more', `${KEY}x`],
      ['the key in another case', KEY.toUpperCase()],
      ['the key with spaces', ` ${KEY} `],
      ['an empty header', ''],
      ['a very long header', 'x'.repeat(10_000)],
    ])('refuses %s with a 401 (no length-mismatch error)', (_label, value) => {
      expect(
        statusOfRefusal(() =>
          guard.canActivate(contextFor(ThingsController, 'list', { 'X-API-Key': value })),
        ),
      ).toBe(401);
    });

    it('lets the right key through, whatever the header name case', () => {
      expect(guard.canActivate(contextFor(ThingsController, 'list', { 'X-API-Key': KEY }))).toBe(true);
      expect(guard.canActivate(contextFor(ThingsController, 'list', { 'x-api-key': KEY }))).toBe(true);
    });

    it('takes the key as Authorization: Bearer too (Prometheus, the dashboard), the scheme in any case', () => {
      for (const value of [`Bearer ${KEY}`, `bearer ${KEY}`, `Bearer  ${KEY} `]) {
        expect(guard.canActivate(contextFor(ThingsController, 'list', { Authorization: value }))).toBe(true);
      }
    });

    it.each([
      ['a wrong bearer key', 'Bearer wrong-horse-battery-staple'],
      ['another scheme', `Basic ${KEY}`],
      ['no scheme', KEY],
      ['a bearer with nothing', 'Bearer '],
      ['two tokens', `Bearer ${KEY} ${KEY}`],
    ])('refuses %s in Authorization with a 401', (_label, value) => {
      expect(
        statusOfRefusal(() =>
          guard.canActivate(contextFor(ThingsController, 'list', { Authorization: value })),
        ),
      ).toBe(401);
    });

    it('goes by X-API-Key when both are sent: a wrong X-API-Key is refused even with a right bearer', () => {
      const headers = { 'X-API-Key': 'wrong-horse-battery-staple', Authorization: `Bearer ${KEY}` };
      expect(statusOfRefusal(() => guard.canActivate(contextFor(ThingsController, 'list', headers)))).toBe(
        401,
      );
    });

    it('lets a @Public() handler through without a key', () => {
      expect(guard.canActivate(contextFor(ThingsController, 'open'))).toBe(true);
    });

    it('lets every handler of a @Public() controller through without a key', () => {
      expect(guard.canActivate(contextFor(OpenController, 'check'))).toBe(true);
    });

    it('does not open the other handlers of a controller that has one @Public() handler', () => {
      expect(statusOfRefusal(() => guard.canActivate(contextFor(ThingsController, 'list')))).toBe(401);
    });
  });

  describe('with API_KEY and API_READ_KEY', () => {
    const READ_KEY = 'read-only-horse-battery';
    const guard = guardWith(KEY, READ_KEY);

    it.each(['GET', 'HEAD'])('lets the read key through on %s, in either header', (method) => {
      expect(guard.canActivate(contextFor(ThingsController, 'list', { 'X-API-Key': READ_KEY }, method))).toBe(
        true,
      );
      expect(
        guard.canActivate(
          contextFor(ThingsController, 'list', { Authorization: `Bearer ${READ_KEY}` }, method),
        ),
      ).toBe(true);
    });

    it.each(['POST', 'PATCH', 'PUT', 'DELETE'])(
      'answers the read key on %s with a 403, not a 401',
      (method) => {
        let error: unknown;
        try {
          guard.canActivate(contextFor(ThingsController, 'list', { 'X-API-Key': READ_KEY }, method));
        } catch (caught) {
          error = caught;
        }
        expect(error).toBeInstanceOf(HttpException);
        expect((error as HttpException).getStatus()).toBe(403);
        expect(JSON.stringify((error as HttpException).getResponse())).not.toContain(READ_KEY);
      },
    );

    it('still lets the full key write and refuses a wrong key with a 401', () => {
      expect(guard.canActivate(contextFor(ThingsController, 'list', { 'X-API-Key': KEY }, 'POST'))).toBe(
        true,
      );
      expect(
        statusOfRefusal(() =>
          guard.canActivate(contextFor(ThingsController, 'list', { 'X-API-Key': `${READ_KEY}x` }, 'GET')),
        ),
      ).toBe(401);
    });
  });
});
