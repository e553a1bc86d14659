import { CanActivate, ExecutionContext, HttpStatus, Inject, Injectable, SetMetadata } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Request } from 'express';
import { APP_CONFIG, AppConfig } from '../config/app.config';
import { httpError } from './http-errors';

const IS_PUBLIC = 'pairwatch:public';
/** Marks a handler or controller as open even when API_KEY is set. */
export const Public = () => SetMetadata(IS_PUBLIC, true);

const digest = (value: string) => createHash('sha256').update(value).digest();

/** The key a request carries: `X-API-Key`, else `Authorization: Bearer <key>` (Prometheus, fetch-based clients). */
export function requestApiKey(req: Pick<Request, 'header'>): string | undefined {
  const header = req.header('x-api-key');
  if (typeof header === 'string') return header;
  const match = /^Bearer[ ]+(\S+)[ ]*$/i.exec(req.header('authorization') ?? '');
  return match?.[1];
}

/** Methods that only read: the ones API_READ_KEY may call (GET covers the alert stream and /metrics). */
const READ_METHODS = new Set(['GET', 'HEAD']);

/**
 * When API_KEY is set, every route but the @Public() ones needs the key (`X-API-Key` or `Authorization:
 * Bearer`), compared in constant time. API_READ_KEY, when set, opens the reading calls (GET, HEAD) and
 * answers 403 to anything else.
 */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  private readonly expected: Buffer | undefined;
  private readonly readOnly: Buffer | undefined;

  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    private readonly reflector: Reflector,
  ) {
    this.expected = config.apiKey ? digest(config.apiKey) : undefined;
    this.readOnly = config.apiReadKey ? digest(config.apiReadKey) : undefined;
  }

  canActivate(context: ExecutionContext): boolean {
    if (!this.expected) return true;
    if (this.reflector.getAllAndOverride<boolean>(IS_PUBLIC, [context.getHandler(), context.getClass()]))
      return true;
    const request = context.switchToHttp().getRequest<Request>();
    const given = requestApiKey(request);
    // Hashing first gives both sides one length, so the comparison time says nothing about the key.
    const hashed = typeof given === 'string' ? digest(given) : undefined;
    if (hashed && timingSafeEqual(hashed, this.expected)) return true;
    if (hashed && this.readOnly && timingSafeEqual(hashed, this.readOnly)) {
      if (READ_METHODS.has(request.method)) return true;
      throw httpError(
        HttpStatus.FORBIDDEN,
        `the read-only key (API_READ_KEY) may not call ${request.method}: send API_KEY for changes`,
        'X-API-Key',
      );
    }
    throw httpError(
      HttpStatus.UNAUTHORIZED,
      'a valid X-API-Key header (or Authorization: Bearer) is required',
      'X-API-Key',
    );
  }
}
