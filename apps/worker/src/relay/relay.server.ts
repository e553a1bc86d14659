import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import {
  CURRENCY_PATTERN,
  MONITOR_LIMITS,
  normalizePair,
  PAIR_PATTERN,
  RELAY_INTERVAL_HEADER,
  RELAY_SOURCE_HEADER,
} from '@pairwatch/contracts';
import type { RelayAnswer, TickerRelay } from './ticker-relay';

const TICKER_ROUTE = /^\/v0\/ticker\/([^/]+)$/;
/** The max age used for a client that does not say its interval (the API's pair check, curl). */
export const DEFAULT_MAX_AGE_MS = 1000;

/**
 * The relay's HTTP face, in Uphold's format: `GET /v0/ticker/{PAIR}` and `GET /v0/ticker/{CURRENCY}`, plus
 * `GET /healthz` and `GET /stats`. A client says how old a price may be with the interval header; without
 * it, {@link DEFAULT_MAX_AGE_MS}.
 */
export class RelayServer {
  private server: Server | undefined;

  constructor(
    private readonly relay: TickerRelay,
    private readonly logger: Logger,
  ) {}

  async listen(port: number, host: string): Promise<number> {
    const server = createServer((req, res) => {
      this.handle(req, res).catch((error: unknown) => {
        this.logger.error({ err: error instanceof Error ? error : String(error) }, 'relay request failed');
        if (!res.headersSent)
          send(res, { status: 500, body: { code: 'internal_error', message: 'relay error' } });
        else res.destroy();
      });
    });
    server.keepAliveTimeout = 65_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    return (server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    await closed;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET') {
      res.setHeader('allow', 'GET');
      send(res, {
        status: 405,
        body: { code: 'method_not_allowed', message: `${req.method ?? ''} is not allowed` },
      });
      return;
    }
    if (path === '/healthz') {
      send(res, { status: 200, body: { status: 'ok' } });
      return;
    }
    if (path === '/stats') {
      send(res, { status: 200, body: this.relay.stats() });
      return;
    }
    const match = TICKER_ROUTE.exec(path);
    let target = '';
    try {
      target = match ? normalizePair(decodeURIComponent(match[1])) : '';
    } catch {
      target = '';
    }
    const maxAgeMs = maxAgeOf(req.headers[RELAY_INTERVAL_HEADER]);
    if (PAIR_PATTERN.test(target)) send(res, await this.relay.pair(target, maxAgeMs));
    else if (CURRENCY_PATTERN.test(target)) send(res, await this.relay.list(target, maxAgeMs));
    else send(res, { status: 404, body: { code: 'not_found', message: 'Not found' } });
  }
}

/** The asker's interval, within the limits a monitor may have; anything else gets the default. */
export function maxAgeOf(header: string | string[] | undefined): number {
  const value = Array.isArray(header) ? header[0] : header;
  if (!value || !/^\d{1,9}$/.test(value)) return DEFAULT_MAX_AGE_MS;
  const ms = Number(value);
  return ms >= MONITOR_LIMITS.intervalMs.min && ms <= MONITOR_LIMITS.intervalMs.max ? ms : DEFAULT_MAX_AGE_MS;
}

function send(res: ServerResponse, answer: RelayAnswer): void {
  const body = JSON.stringify(answer.body);
  res.statusCode = answer.status;
  res.setHeader('content-type', 'application/json; charset=utf-8');
  res.setHeader('content-length', Buffer.byteLength(body));
  res.setHeader('cache-control', 'no-store');
  if (answer.retryAfterSeconds !== undefined) res.setHeader('retry-after', String(answer.retryAfterSeconds));
  if (answer.source !== undefined) res.setHeader(RELAY_SOURCE_HEADER, answer.source);
  if (answer.ageMs !== undefined) res.setHeader('age', String(Math.floor(answer.ageMs / 1000)));
  res.end(body);
}
