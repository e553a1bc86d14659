import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Decimal, formatDecimal, isDecimalString } from '@pairwatch/contracts';

export interface FakeQuote {
  ask: string;
  bid: string;
}

/** A fault a pair's next requests run into instead of (or before) the normal answer. */
export type FakeFault =
  /** 429 with `Retry-After: <retryAfterSeconds>`, or the raw `retryAfter` header value; no header when neither is given */
  | { status: 429; retryAfterSeconds?: number; retryAfter?: string }
  /** any other status (500, 503, 400...) with a small JSON body, or `body` as given */
  | { status: number; body?: string }
  /** answers normally, but only after `hangMs` (longer than the client's timeout: a hang) */
  | { hangMs: number }
  /** 200 with this raw body (malformed JSON, missing fields...) */
  | { body: string; contentType?: string };

export interface FakeRequest {
  pair: string;
  /** Epoch milliseconds at which the request arrived. */
  at: number;
  /** What was answered; undefined while the answer is pending (or when the client went away). */
  status?: number;
}

interface ArmedFault {
  fault: FakeFault;
  remaining: number;
}

const TICKER_ROUTE = /^\/v0\/ticker\/([^/]+)$/;

/**
 * An Uphold-compatible ticker for tests and demos: `GET /v0/ticker/:pair` answers
 * `{"ask","bid","currency"}` for the pairs it was given, 404 for any other, and per-pair faults can be
 * injected. Only node:http; it listens on loopback unless told otherwise.
 */
export class FakeUpholdServer {
  private readonly quotes = new Map<string, FakeQuote>();
  private readonly faults = new Map<string, ArmedFault[]>();
  private readonly log: FakeRequest[] = [];
  private readonly hanging = new Set<NodeJS.Timeout>();
  private server: Server | undefined;
  private baseUrl: string | undefined;

  /** Listens (port 0: any free port); resolves with the base URL to give as UPHOLD_API_URL. */
  async start(port = 0, host = '127.0.0.1'): Promise<{ url: string; port: number }> {
    if (this.server) throw new Error('FakeUpholdServer already started');
    const server = createServer((req, res) => this.handle(req, res));
    server.keepAliveTimeout = 1000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    const address = server.address() as AddressInfo;
    const hostPart = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    this.baseUrl = `http://${hostPart}:${address.port}`;
    return { url: this.baseUrl, port: address.port };
  }

  /** The base URL; throws before start(). */
  get url(): string {
    if (!this.baseUrl) throw new Error('FakeUpholdServer not started');
    return this.baseUrl;
  }

  /** Stops listening and drops every open connection, hanging answers included. */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    this.baseUrl = undefined;
    for (const timer of this.hanging) clearTimeout(timer);
    this.hanging.clear();
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  }

  /** Sets a pair's answer. Any strings are served as given (bad prices included, for tests). */
  setQuote(pair: string, quote: FakeQuote): void {
    this.quotes.set(pair.toUpperCase(), { ask: quote.ask, bid: quote.bid });
  }

  /** ask = price; bid slightly lower (0.01 % under, exact). A price that is not a positive decimal is served as both. */
  setPrice(pair: string, price: string): void {
    this.setQuote(pair, { ask: price, bid: bidBelow(price) });
  }

  quote(pair: string): FakeQuote | undefined {
    const quote = this.quotes.get(pair.toUpperCase());
    return quote && { ...quote };
  }

  pairs(): string[] {
    return [...this.quotes.keys()];
  }

  /** The pair answers 404 from now on. */
  removePair(pair: string): void {
    this.quotes.delete(pair.toUpperCase());
  }

  /**
   * The pair's next `times` requests (default 1; Infinity: until {@link clearFaults}) run into `fault`.
   * Faults armed one after the other apply in that order.
   */
  failNext(pair: string, fault: FakeFault, times = 1): void {
    if (!(times > 0)) throw new RangeError(`times must be positive, got ${times}`);
    const key = pair.toUpperCase();
    const armed = this.faults.get(key) ?? [];
    armed.push({ fault, remaining: times });
    this.faults.set(key, armed);
  }

  /** Clears the faults of one pair, or of all. */
  clearFaults(pair?: string): void {
    if (pair === undefined) this.faults.clear();
    else this.faults.delete(pair.toUpperCase());
  }

  /** Ticker requests received for `pair` (any pair when omitted), known or not. */
  requestCount(pair?: string): number {
    return pair === undefined ? this.log.length : this.requestLog(pair).length;
  }

  /** Ticker requests received, oldest first, with arrival time and answer status. */
  requestLog(pair?: string): FakeRequest[] {
    const key = pair?.toUpperCase();
    return this.log.filter((r) => key === undefined || r.pair === key).map((r) => ({ ...r }));
  }

  clearRequestLog(): void {
    this.log.length = 0;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0];
    const match = TICKER_ROUTE.exec(path);
    if (!match) {
      sendJson(res, 404, { code: 'not_found', message: 'Not found' });
      return;
    }
    if (req.method !== 'GET') {
      res.setHeader('allow', 'GET');
      sendJson(res, 405, { code: 'method_not_allowed', message: `${req.method ?? ''} is not allowed` });
      return;
    }
    let pair: string;
    try {
      pair = decodeURIComponent(match[1]).toUpperCase();
    } catch {
      sendJson(res, 404, { code: 'not_found', message: 'Not found' });
      return;
    }
    const record: FakeRequest = { pair, at: Date.now() };
    this.log.push(record);
    const respond = (status: number, send: () => void): void => {
      record.status = status;
      send();
    };

    const fault = this.takeFault(pair);
    if (fault === undefined) {
      this.answerQuote(pair, respond, res);
    } else if ('hangMs' in fault) {
      const timer = setTimeout(() => {
        this.hanging.delete(timer);
        if (!res.destroyed) this.answerQuote(pair, respond, res);
      }, fault.hangMs);
      this.hanging.add(timer);
      res.on('close', () => {
        clearTimeout(timer);
        this.hanging.delete(timer);
      });
    } else if ('status' in fault) {
      respond(fault.status, () => {
        if (fault.status === 429) {
          const { retryAfter, retryAfterSeconds } = fault as {
            retryAfter?: string;
            retryAfterSeconds?: number;
          };
          const header =
            retryAfter ?? (retryAfterSeconds === undefined ? undefined : String(retryAfterSeconds));
          if (header !== undefined) res.setHeader('retry-after', header);
        }
        const body = (fault as { body?: string }).body;
        if (body !== undefined) sendRaw(res, fault.status, body, 'application/json');
        else sendJson(res, fault.status, errorBody(fault.status));
      });
    } else {
      respond(200, () => sendRaw(res, 200, fault.body, fault.contentType ?? 'application/json'));
    }
  }

  private answerQuote(
    pair: string,
    respond: (status: number, send: () => void) => void,
    res: ServerResponse,
  ): void {
    const quote = this.quotes.get(pair);
    if (!quote) {
      respond(404, () => sendJson(res, 404, { code: 'not_found', message: `Pair ${pair} not found` }));
      return;
    }
    const currency = pair.includes('-') ? pair.slice(pair.indexOf('-') + 1) : pair.slice(-3);
    respond(200, () => sendJson(res, 200, { ask: quote.ask, bid: quote.bid, currency }));
  }

  private takeFault(pair: string): FakeFault | undefined {
    const armed = this.faults.get(pair);
    const head = armed?.[0];
    if (!armed || !head) return undefined;
    head.remaining -= 1;
    if (head.remaining <= 0) armed.shift();
    if (armed.length === 0) this.faults.delete(pair);
    return head.fault;
  }
}

/** 0.01 % under `price`, exactly, with up to four more decimals than it (at most 30). */
export function bidBelow(price: string): string {
  if (!isDecimalString(price)) return price;
  const ask = new Decimal(price);
  if (!ask.isPositive() || ask.isZero()) return price;
  const decimals = Math.min(30, ask.decimalPlaces() + 4);
  const bid = ask.times('0.9999').toDecimalPlaces(decimals, Decimal.ROUND_DOWN);
  return bid.isZero() ? price : formatDecimal(bid);
}

function errorBody(status: number): Record<string, string> {
  if (status === 429) return { code: 'too_many_requests', message: 'Too many requests' };
  if (status >= 500) return { code: 'internal_server_error', message: 'Internal server error' };
  return { code: 'error', message: `HTTP ${status}` };
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  sendRaw(res, status, JSON.stringify(body), 'application/json; charset=utf-8');
}

function sendRaw(res: ServerResponse, status: number, body: string, contentType: string): void {
  res.statusCode = status;
  res.setHeader('content-type', contentType);
  res.setHeader('content-length', Buffer.byteLength(body));
  res.end(body);
}
