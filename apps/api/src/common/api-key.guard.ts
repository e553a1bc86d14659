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

/**
 * When API_KEY is set, every route but the @Public() ones needs the key (`X-API-Key` or `Authorization:
 * Bearer`), compared in constant time.
 */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  private readonly expected: Buffer | undefined;

  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    private readonly reflector: Reflector,
  ) {
    this.expected = config.apiKey ? digest(config.apiKey) : undefined;
  }

  canActivate(context: ExecutionContext): boolean {
    if (!this.expected) return true;
    if (this.reflector.getAllAndOverride<boolean>(IS_PUBLIC, [context.getHandler(), context.getClass()]))
      return true;
    const given = requestApiKey(context.switchToHttp().getRequest<Request>());
    // Hashing first gives both sides one length, so the comparison time says nothing about the key.
    if (typeof given === 'string' && timingSafeEqual(digest(given), this.expected)) return true;
    throw httpError(
      HttpStatus.UNAUTHORIZED,
      'a valid X-API-Key header (or Authorization: Bearer) is required',
      'X-API-Key',
    );
  }
}
