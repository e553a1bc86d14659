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

/** The one class facing Uphold's public ticker. */
export class UpholdTickerClient implements TickerSource {
  private readonly defaultRetryAfterMs: number;
  private readonly maxRetryAfterMs: number;
  private readonly userAgent: string;

  constructor(private readonly options: UpholdTickerClientOptions) {
    this.defaultRetryAfterMs = options.defaultRetryAfterMs ?? DEFAULT_RETRY_AFTER_MS;
    this.maxRetryAfterMs = options.maxRetryAfterMs ?? MAX_RETRY_AFTER_MS;
    this.userAgent = options.userAgent ?? 'pairwatch-worker';
  }

  /** GET {baseUrl}/v0/ticker/{pair}. `signal` aborts the request early (e.g. on shutdown). */
  fetchTicker(pair: string, signal?: AbortSignal): Promise<TickerResult> {
    return this.request(tickerPath(pair), MAX_BODY_BYTES, parseQuote, signal);
  }

  /** GET {baseUrl}/v0/ticker/{currency}: every pair with that currency on either side. */
  fetchList(currency: string, signal?: AbortSignal): Promise<ListResult> {
    return this.request(tickerListPath(currency), MAX_LIST_BODY_BYTES, parseList, signal);
  }

  private async request<T>(
    path: string,
    maxBytes: number,
    parse: (text: string) => T | TickerFailure,
    signal?: AbortSignal,
  ): Promise<T | TickerFailure> {
    const timeout = AbortSignal.timeout(this.options.requestTimeoutMs);
    const combined = signal ? AbortSignal.any([timeout, signal]) : timeout;
    const headers: Record<string, string> = { accept: 'application/json', 'user-agent': this.userAgent };
    if (this.options.intervalMs !== undefined)
      headers[RELAY_INTERVAL_HEADER] = String(this.options.intervalMs);
    try {
      const response = await fetch(`${this.options.baseUrl}${path}`, {
        method: 'GET',
        headers,
        signal: combined,
      });
      if (response.status === 200) return parse(await readBody(response, maxBytes));
      if (response.status !== 404 && response.status !== 429) {
        const detail = await errorDetail(response);
        return { kind: 'server-error', status: response.status, ...(detail ? { detail } : {}) };
      }
      // Drain (or drop) the body of any other answer so the connection can be reused.
      await discardBody(response);
      if (response.status === 404) return { kind: 'unknown-pair' };
      return {
        kind: 'rate-limited',
        retryAfterMs: parseRetryAfter(response.headers.get('retry-after'), Date.now(), {
          defaultMs: this.defaultRetryAfterMs,
          maxMs: this.maxRetryAfterMs,
        }),
      };
    } catch (error) {
      if (error instanceof BodyTooLargeError) return { kind: 'bad-response', message: error.message };
      if (timeout.aborted) {
        return {
          kind: 'network-error',
          message: `request timed out after ${this.options.requestTimeoutMs} ms`,
        };
      }
      if (signal?.aborted) return { kind: 'network-error', message: 'request aborted' };
      return { kind: 'network-error', message: describeFetchError(error) };
    }
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

class BodyTooLargeError extends Error {}

async function readBody(response: Response, maxBytes: number): Promise<string> {
  const declared = Number(response.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > maxBytes) {
    await discardBody(response);
    throw new BodyTooLargeError(`ticker answer too large (${declared} bytes)`);
  }
  const reader = (response.body as ReadableStream<Uint8Array> | null)?.getReader();
  if (!reader) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw new BodyTooLargeError(`ticker answer too large (over ${maxBytes} bytes)`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Error bodies larger than this are not read for their message. */
const MAX_ERROR_BODY_BYTES = 4 * 1024;
/** The longest `detail` kept from an error body. */
const MAX_DETAIL_CHARS = 200;

/** The `message` string of a small JSON error body, on one line and cut short; undefined otherwise. */
async function errorDetail(response: Response): Promise<string | undefined> {
  let text: string;
  try {
    text = await readBody(response, MAX_ERROR_BODY_BYTES);
  } catch {
    return undefined;
  }
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

async function discardBody(response: Response): Promise<void> {
  try {
    await response.body?.cancel();
  } catch {
    // nothing to do: the connection is dropped instead of reused
  }
}

/**
 * undici hides the useful part ("ECONNREFUSED 127.0.0.1:8099") in `cause`. Duck-typed rather than
 * `instanceof Error`, since fetch's errors may come from another realm (e.g. under jest).
 */
function describeFetchError(error: unknown): string {
  const message = messageOf(error);
  if (message === undefined) return String(error);
  const cause = (error as { cause?: unknown }).cause;
  const causeMessage = messageOf(cause);
  if (causeMessage === undefined) return message;
  const code = (cause as { code?: unknown }).code;
  const prefix = typeof code === 'string' && !causeMessage.includes(code) ? `${code} ` : '';
  return `${message}: ${prefix}${causeMessage}`;
}

function messageOf(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const message = (value as { message?: unknown }).message;
  return typeof message === 'string' ? message : undefined;
}

function preview(text: string): string {
  const oneLine = text.replace(/\s+/g, ' ').trim();
  return JSON.stringify(oneLine.length > 80 ? `${oneLine.slice(0, 80)}…` : oneLine);
}
