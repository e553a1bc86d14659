import * as http from 'node:http';
import * as https from 'node:https';
import { RELAY_INTERVAL_HEADER, tickerListPath, tickerPath } from '@pairwatch/contracts';

/** How a request that did not bring a usable answer ended; shared by pair and list requests. */
export type TickerFailure =
  /** 404: Uphold does not know the pair (or the currency). */
  | { kind: 'unknown-pair' }
  /** 429: wait `retryAfterMs` before asking again. */
  | { kind: 'rate-limited'; retryAfterMs: number }
  /**
   * 5xx, or any other status we did not expect; `detail`: the `message` of a small JSON error body, when
   * there is one (the relay says there which upstream answer it could not serve, and why).
   */
  | { kind: 'server-error'; status: number; detail?: string }
  /** No answer: connection refused or reset, DNS, timeout, abort. */
  | { kind: 'network-error'; message: string }
  /** An answer we cannot use: not JSON, or not of the expected shape. */
  | { kind: 'bad-response'; message: string };

/** What one ticker request came to. The client never throws: every outcome is one of these. */
export type TickerResult =
  /** ask and bid exactly as Uphold sent them; the detector checks that they are valid prices. */
  { kind: 'quote'; ask: string; bid: string } | TickerFailure;

/**
 * One entry of a currency list as Uphold sent it. Entries whose `pair` or `currency` is not a string are
 * left out; ask and bid are kept only when they are strings (whoever serves them checks them).
 */
export interface ListEntry {
  pair: string;
  currency: string;
  ask?: string;
  bid?: string;
}

/** What one currency-list request came to. */
export type ListResult = { kind: 'list'; entries: ListEntry[] } | TickerFailure;

/** What the rest of the worker needs from a ticker (the unit tests give it a fake). */
export interface TickerSource {
  fetchTicker(pair: string, signal?: AbortSignal): Promise<TickerResult>;
}

export interface UpholdTickerClientOptions {
  /** UPHOLD_API_URL, without a trailing slash. */
  baseUrl: string;
  /** Whole-request timeout (headers and body). */
  requestTimeoutMs: number;
  /** Retry-After when Uphold sends a 429 without a usable one. */
  defaultRetryAfterMs?: number;
  /** Upper bound for any Retry-After, so a bogus header cannot park the worker for days. */
  maxRetryAfterMs?: number;
  userAgent?: string;
  /** Sent with every request (a worker's interval), so a relay in between knows how old a price may be. */
  intervalMs?: number;
}

export const DEFAULT_RETRY_AFTER_MS = 60_000;
export const MAX_RETRY_AFTER_MS = 300_000;
/** Answers larger than this are not read into memory; a ticker answer is a few hundred bytes. */
const MAX_BODY_BYTES = 64 * 1024;
/** A currency list holds every pair of a currency, both directions: a few hundred entries of ~100 bytes. */
const MAX_LIST_BODY_BYTES = 4 * 1024 * 1024;

/**
 * How long an idle keep-alive connection is kept at most; a server announcing a shorter keep-alive
 * (`Keep-Alive: timeout=N`) has its connections closed a second before it would.
 */
const IDLE_SOCKET_MS = 60_000;

/**
 * The one class facing Uphold's public ticker (the worker's door to it, and the relay's). Plain node:http(s)
 * with a keep-alive agent rather than fetch(): a worker starts under a quarter of a CPU, and fetch costs its
 * start ~40 ms of CPU (undici is loaded on first use) and every tick another millisecond.
 */
export class UpholdTickerClient implements TickerSource {
  private readonly defaultRetryAfterMs: number;
  private readonly maxRetryAfterMs: number;
  private readonly userAgent: string;
  private readonly agent: http.Agent;

  constructor(private readonly options: UpholdTickerClientOptions) {
    this.defaultRetryAfterMs = options.defaultRetryAfterMs ?? DEFAULT_RETRY_AFTER_MS;
    this.maxRetryAfterMs = options.maxRetryAfterMs ?? MAX_RETRY_AFTER_MS;
    this.userAgent = options.userAgent ?? 'pairwatch-worker';
    const agentOptions = { keepAlive: true, timeout: IDLE_SOCKET_MS };
    this.agent = isHttps(options.baseUrl) ? new https.Agent(agentOptions) : new http.Agent(agentOptions);
  }

  /** GET {baseUrl}/v0/ticker/{pair}. `signal` aborts the request early (e.g. on shutdown). */
  fetchTicker(pair: string, signal?: AbortSignal): Promise<TickerResult> {
    return this.request(tickerPath(pair), MAX_BODY_BYTES, parseQuote, signal);
  }

  /** GET {baseUrl}/v0/ticker/{currency}: every pair with that currency on either side. */
  fetchList(currency: string, signal?: AbortSignal): Promise<ListResult> {
    return this.request(tickerListPath(currency), MAX_LIST_BODY_BYTES, parseList, signal);
  }

  private request<T>(
    path: string,
    maxBytes: number,
    parse: (text: string) => T | TickerFailure,
    signal?: AbortSignal,
  ): Promise<T | TickerFailure> {
    const timeoutMs = this.options.requestTimeoutMs;
    const headers: Record<string, string> = { accept: 'application/json', 'user-agent': this.userAgent };
    if (this.options.intervalMs !== undefined)
      headers[RELAY_INTERVAL_HEADER] = String(this.options.intervalMs);
    let url: URL;
    try {
      url = new URL(`${this.options.baseUrl}${path}`);
    } catch (error) {
      return Promise.resolve({ kind: 'network-error', message: describeError(error) });
    }
    if (signal?.aborted) return Promise.resolve({ kind: 'network-error', message: 'request aborted' });

    return new Promise((resolve) => {
      let settled = false;
      let current: http.ClientRequest | undefined;
      // What the deadline or an abort comes to: a network error, except while an error answer's body is read
      // for its message (that answer stands, without the message).
      let interrupted = (message: string): T | TickerFailure => ({ kind: 'network-error', message });
      const settle = (result: T | TickerFailure): void => {
        if (settled) return;
        settled = true;
        resolve(result);
      };
      // The deadline covers the whole request (headers and body, and a retry); past it the socket goes too.
      const stop = (message: string): void => {
        settle(interrupted(message));
        current?.destroy();
      };
      const deadline = setTimeout(() => stop(`request timed out after ${timeoutMs} ms`), timeoutMs);
      const onAbort = (): void => stop('request aborted');
      signal?.addEventListener('abort', onAbort, { once: true });
      const done = (): void => {
        clearTimeout(deadline);
        signal?.removeEventListener('abort', onAbort);
      };

      const attempt = (retry: boolean): void => {
        const req = (url.protocol === 'https:' ? https : http).request(url, {
          method: 'GET',
          headers,
          agent: this.agent,
        });
        current = req;
        let answered = false;
        req.on('error', (error: NodeJS.ErrnoException) => {
          // A kept-alive connection the server closed just as it was reused: once more on a new one.
          if (!answered && retry && req.reusedSocket && isResetOnReuse(error) && !settled) {
            attempt(false);
            return;
          }
          done();
          settle({ kind: 'network-error', message: describeError(error) });
        });
        req.on('response', (res) => {
          answered = true;
          res.on('error', () => undefined); // a connection lost mid-body ends in 'close' below
          res.on('close', () => {
            done();
            if (!res.complete) settle(interrupted('connection closed before the answer was complete'));
          });
          const status = res.statusCode ?? 0;
          if (status === 200) {
            readBody(res, maxBytes, (body) => {
              if (typeof body === 'string') settle(parse(body));
              else settle({ kind: 'bad-response', message: body.tooLarge });
            });
            return;
          }
          if (status === 404 || status === 429) {
            // The body is drained (within the deadline) so the connection can be reused.
            res.resume();
            if (status === 404) settle({ kind: 'unknown-pair' });
            else
              settle({
                kind: 'rate-limited',
                retryAfterMs: parseRetryAfter(headerOf(res, 'retry-after'), Date.now(), {
                  defaultMs: this.defaultRetryAfterMs,
                  maxMs: this.maxRetryAfterMs,
                }),
              });
            return;
          }
          const failure: TickerFailure = { kind: 'server-error', status };
          interrupted = () => failure;
          readBody(res, MAX_ERROR_BODY_BYTES, (body) => {
            const detail = typeof body === 'string' ? errorDetail(body) : undefined;
            settle(detail ? { ...failure, detail } : failure);
          });
        });
        req.end();
      };
      attempt(true);
    });
  }
}

export interface RetryAfterOptions {
  /** Used when the header is missing or unreadable. */
  defaultMs: number;
  /** Upper bound of the result. */
  maxMs: number;
}

/**
 * Reads a Retry-After header: delay-seconds ("120") or an HTTP-date ("Wed, 21 Oct 2015 07:28:00 GMT"),
 * relative to `nowMs`. Missing or unreadable → `defaultMs`; a date in the past → 0; capped at `maxMs`.
 */
export function parseRetryAfter(
  header: string | null | undefined,
  nowMs: number,
  options: RetryAfterOptions,
): number {
  const cap = (ms: number): number => Math.min(options.maxMs, Math.max(0, Math.ceil(ms)));
  const value = header?.trim();
  if (!value) return cap(options.defaultMs);
  // RFC 9110 says a whole number; a fraction is read leniently rather than thrown away.
  if (/^\d+(\.\d+)?$/.test(value)) return cap(Number(value) * 1000);
  // Only something that looks like an HTTP-date, so that "-5" or "soon" fall back to the default.
  if (/[a-z]/i.test(value)) {
    const date = Date.parse(value);
    if (Number.isFinite(date)) return cap(date - nowMs);
  }
  return cap(options.defaultMs);
}

function parseQuote(text: string): TickerResult {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return { kind: 'bad-response', message: `ticker answer is not JSON: ${preview(text)}` };
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return { kind: 'bad-response', message: `ticker answer is not a JSON object: ${preview(text)}` };
  }
  const { ask, bid } = body as Record<string, unknown>;
  const missing = [typeof ask === 'string' ? '' : 'ask', typeof bid === 'string' ? '' : 'bid'].filter(
    Boolean,
  );
  if (missing.length > 0 || typeof ask !== 'string' || typeof bid !== 'string') {
    return {
      kind: 'bad-response',
      message: `ticker answer has no ${missing.join('/')} string: ${preview(text)}`,
    };
  }
  return { kind: 'quote', ask, bid };
}

function parseList(text: string): ListResult {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return { kind: 'bad-response', message: `currency list is not JSON: ${preview(text)}` };
  }
  if (!Array.isArray(body)) {
    return { kind: 'bad-response', message: `currency list is not a JSON array: ${preview(text)}` };
  }
  const entries: ListEntry[] = [];
  for (const item of body as unknown[]) {
    if (typeof item !== 'object' || item === null) continue;
    const { pair, currency, ask, bid } = item as Record<string, unknown>;
    if (typeof pair !== 'string' || typeof currency !== 'string') continue;
    entries.push({
      pair,
      currency,
      ...(typeof ask === 'string' ? { ask } : {}),
      ...(typeof bid === 'string' ? { bid } : {}),
    });
  }
  return { kind: 'list', entries };
}

/**
 * Reads the answer's body, at most `maxBytes` of it, into `then`: the text, or why it was not read (larger
 * than that: the connection is dropped rather than drained).
 */
function readBody(
  res: http.IncomingMessage,
  maxBytes: number,
  then: (body: string | { tooLarge: string }) => void,
): void {
  const declared = Number(res.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) {
    res.destroy();
    then({ tooLarge: `ticker answer too large (${declared} bytes)` });
    return;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  res.on('data', (chunk: Buffer) => {
    size += chunk.byteLength;
    if (size > maxBytes) {
      res.destroy();
      then({ tooLarge: `ticker answer too large (over ${maxBytes} bytes)` });
      return;
    }
    chunks.push(chunk);
  });
  res.on('end', () => {
    if (size <= maxBytes) then(Buffer.concat(chunks).toString('utf8'));
  });
}

/** Error bodies larger than this are not read for their message. */
const MAX_ERROR_BODY_BYTES = 4 * 1024;
/** The longest `detail` kept from an error body. */
const MAX_DETAIL_CHARS = 200;

/** The `message` string of a small JSON error body, on one line and cut short; undefined otherwise. */
function errorDetail(text: string): string | undefined {
  let message: unknown;
  try {
    message = (JSON.parse(text) as { message?: unknown } | null)?.message;
  } catch {
    return undefined;
  }
  if (typeof message !== 'string') return undefined;
  const oneLine = message.replace(/\s+/g, ' ').trim();
  if (!oneLine) return undefined;
  return oneLine.length > MAX_DETAIL_CHARS ? `${oneLine.slice(0, MAX_DETAIL_CHARS)}…` : oneLine;
}

function isHttps(baseUrl: string): boolean {
  return /^https:/i.test(baseUrl);
}

function headerOf(res: http.IncomingMessage, name: string): string | undefined {
  const value = res.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** The errors of a kept-alive connection that the server had closed when the request went out on it. */
function isResetOnReuse(error: NodeJS.ErrnoException): boolean {
  return error.code === 'ECONNRESET' || error.code === 'EPIPE';
}

/** The error's message, with its code when the message does not say it ("socket hang up (ECONNRESET)"). */
function describeError(error: unknown): string {
  if (typeof error !== 'object' || error === null) return String(error);
  const { message, code } = error as { message?: unknown; code?: unknown };
  const text = typeof message === 'string' ? message : JSON.stringify(error);
  return typeof code === 'string' && !text.includes(code) ? `${text} (${code})` : text;
}

function preview(text: string): string {
  const oneLine = text.replace(/\s+/g, ' ').trim();
  return JSON.stringify(oneLine.length > 80 ? `${oneLine.slice(0, 80)}…` : oneLine);
}
