import { applyDecorators, ExecutionContext, HttpStatus, Injectable, UseGuards } from '@nestjs/common';
import { ApiTooManyRequestsResponse } from '@nestjs/swagger';
import { ThrottlerGuard, ThrottlerLimitDetail, ThrottlerModuleOptions } from '@nestjs/throttler';
import type { Response } from 'express';
import { httpError } from './http-errors';

/** The one named throttler: how many monitors one client may start (create or restart) per minute. */
export const MONITOR_CREATE_THROTTLER = 'monitor-create';

const WINDOW_MS = 60_000;

/**
 * Options of ThrottlerModule: in-memory counts per client IP, so each API process counts on its own (two
 * replicas let a client through twice as often). `req.ip` is the socket's address: behind a proxy every client
 * shares the proxy's budget unless Express is told to trust it, which pairwatch does not do by itself.
 */
export function monitorCreateThrottling(limitPerMin: number): ThrottlerModuleOptions {
  return {
    throttlers: [
      {
        name: MONITOR_CREATE_THROTTLER,
        ttl: WINDOW_MS,
        limit: limitPerMin,
        // One count per client for both handlers (the library's default key is per handler), so alternating
        // POST /monitors and POST /monitors/:id/restart does not double the budget.
        generateKey: (_context, tracker, name) => `${name}:${tracker}`,
      },
    ],
    // The library would name its headers after the throttler (Retry-After-monitor-create); the guard sets the
    // standard Retry-After itself.
    setHeaders: false,
  };
}

/** ThrottlerGuard answering in pairwatch's error shape, with a standard `Retry-After` (seconds). */
@Injectable()
export class MonitorCreateThrottlerGuard extends ThrottlerGuard {
  protected override throwThrottlingException(
    context: ExecutionContext,
    detail: ThrottlerLimitDetail,
  ): Promise<void> {
    const retryAfter = Math.max(1, Math.ceil(detail.timeToBlockExpire));
    context.switchToHttp().getResponse<Response>().setHeader('Retry-After', String(retryAfter));
    return Promise.reject(
      httpError(
        HttpStatus.TOO_MANY_REQUESTS,
        `too many monitors started: at most ${detail.limit} a minute from one client; retry in ${retryAfter} s`,
      ),
    );
  }
}

/** Counts the handler against MONITOR_CREATE_LIMIT_PER_MIN; every other route stays unthrottled. */
export const ThrottleMonitorCreation = (): MethodDecorator & ClassDecorator =>
  applyDecorators(
    UseGuards(MonitorCreateThrottlerGuard),
    ApiTooManyRequestsResponse({
      description:
        'More than MONITOR_CREATE_LIMIT_PER_MIN monitors started by this client in a minute; see Retry-After.',
    }),
  );
