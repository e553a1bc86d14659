import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Decimal, formatDecimal, isDecimalString } from '@pairwatch/contracts';
import {
  applyListEdits,
  CURRENCY_PATTERN,
  FakeListEdit,
  FakeQuote,
  inversePair,
  invertQuote,
  listEntry,
  ListEntry,
  pairHasCurrency,
  requireCurrency,
  requirePair,
} from './currency-list';
import {
  ControlInputError,
  parseControlPair,
  parsePriceBody,
  parseSeriesBody,
  PriceControls,
} from './price-controls';
import { SlidingWindowLimiter } from './sliding-window.limiter';

export type { FakeListEdit, FakeQuote, ListEntry, ListEntryPatch } from './currency-list';
export type { PriceControlState, SeriesProgress, SeriesRun } from './price-controls';

/** A fault a pair's (or a list's) next requests run into instead of (or before) the normal answer. */
export type FakeFault =
  /** 429 with `Retry-After: <retryAfterSeconds>`, or the raw `retryAfter` header value; no header when neither is given */
  | { status: 429; retryAfterSeconds?: number; retryAfter?: string }
  /** any other status (500, 503, 400...) with a small JSON body, or `body` as given */
  | { status: number; body?: string }
  /** answers normally, but only after `hangMs` (longer than the client's timeout: a hang) */
  | { hangMs: number }
  /** 200 with this raw body (malformed JSON, missing fields, a list that is not an array...) */
  | { body: string; contentType?: string };

/** Uphold's two ticker endpoints: `/v0/ticker/{PAIR}` and `/v0/ticker/{CURRENCY}` (a currency list). */
export type FakeEndpoint = 'pair' | 'list';

export interface FakeRequest {
  /**
   * The path's target, upper-cased, whatever the endpoint (`BTC-USD`, or `USD` for the USD list): what
   * `requestLog(pair)` and `requestCount(pair)` match, as they always have. Same as {@link target}.
   */
  pair: string;
  kind: FakeEndpoint;
  /** The pair, or the list's currency, upper-cased. */
  target: string;
  /** The client's address (an IPv4-mapped IPv6 address as plain IPv4): what the rate limit counts per. */
  client: string;
  /** Epoch milliseconds (of the server's clock) at which the request arrived. */
  at: number;
  /** What was answered; undefined while the answer is pending (or when the client went away). */
  status?: number;
  /** Set when the fake's own rate limit refused the request (an armed 429 fault leaves it unset). */
  rateLimited?: true;
}

/** Which logged requests to count: every given field must match. */
export interface FakeRequestFilter {
  kind?: FakeEndpoint;
  /** A pair or a currency, any case. */
  target?: string;
  /** Epoch milliseconds: only requests that arrived at or after it. */
  sinceMs?: number;
  /** Only requests answered with this status. */
  status?: number;
}

/** Request counts, and how many got each status (`pending`: not answered, or the client went away). */
export interface FakeCounts {
  requests: number;
  byStatus: Record<string, number>;
}

/** What `GET /__fake/stats` answers. */
export interface FakeStats {
  /** The server's clock now (epoch ms): pass it as `?sinceMs=` later to count from here. */
  now: number;
  sinceMs: number | null;
  requests: number;
  byEndpoint: Record<FakeEndpoint, FakeCounts>;
  byTarget: Record<string, FakeCounts & { kind: FakeEndpoint }>;
  rateLimit: { perMinute: number | null; refused: number };
}

export interface FakeUpholdOptions {
  /** Epoch milliseconds; the request log and the rate-limit window follow it (tests move it by hand). */
  now?: () => number;
}

interface Armed<T> {
  item: T;
  remaining: number;
}

const TICKER_ROUTE = /^\/v0\/ticker\/([^/]+)$/;
/** The fake's own paths, which Uphold does not have: never rate-limited, never logged. */
const ADMIN_PREFIX = '/__fake/';
const STATS_PATH = '/__fake/stats';
const PRICES_PATH = '/__fake/prices';
const PRICE_ROUTE = /^\/__fake\/prices\/([^/]+)$/;
const SERIES_ROUTE = /^\/__fake\/series\/([^/]+)$/;
/** A control request's body: a series of 10,000 points fits well under it. */
const MAX_BODY_BYTES = 2 * 1024 * 1024;
const RATE_LIMIT_WINDOW_MS = 60_000;

/**
 * An Uphold-compatible ticker for tests, benchmarks and demos. Only node:http; it listens on loopback unless
 * told otherwise.
 *
 * - `GET /v0/ticker/{PAIR}` → `{"ask","bid","currency"}` (currency: the second code) for the pairs it was
 *   given and their inverses (USD-BTC from BTC-USD, as in the lists); 404 `not_found` for any other.
 * - `GET /v0/ticker/{CURRENCY}` (2 to 12 letters or digits, no dash) → `[{"ask","bid","currency","pair"}]`:
 *   every pair with that currency on either side, in both directions, like Uphold: BTC-USD is
 *   `{"pair":"BTCUSD","currency":"USD"}` and `{"pair":"USDBTC","currency":"BTC"}` with ask = 1/bid and
 *   bid = 1/ask (see invertQuote). A price that is not a positive decimal is served as set, and that pair's
 *   inverse is left out, of the lists and of the pair endpoint. Each pair comes in the order it was first set,
 *   each direct entry followed by its inverse; a pair set in both directions is served as set both ways.
 *   Uphold's own `USDUSD` entry is not made up. A currency no pair has answers 404 `not_found`, as Uphold does
 *   for a currency it does not know (rather than `[]`: a relay treats both as "not in a list" and falls back
 *   to the pair endpoint, and a 404 tells a typo apart from an empty list).
 * - Faults per pair ({@link failNext}) and per list ({@link failNextList}), and list contents that differ
 *   from the truth ({@link editList}: an entry missing, garbage fields, a duplicate pair, any raw entry).
 * - A rate limit of its own, off by default ({@link setRateLimit}): N requests in any 60 s per client
 *   address, whatever the path; past it 429 `too_many_requests` with `Retry-After` = whole seconds until the
 *   oldest request in the window leaves it. Refused requests do not count in the window, consume no armed
 *   fault, and are logged with status 429 and `rateLimited`.
 * - `GET /__fake/stats[?sinceMs=<epoch ms>]` → {@link FakeStats}: ticker requests by endpoint, by target and
 *   by status, and the rate limit with how many it refused (a path Uphold does not have; not counted).
 * - Price controls ({@link controls}, also over HTTP): `PUT /__fake/prices/:pair {ask, bid?, hold?}` sets a
 *   price that holds until `DELETE /__fake/prices/:pair` (or, with `hold: false`, the random walk goes on from
 *   it); `POST /__fake/series/:pair {points: [{ask, bid?}], stepMs?, hold?}` replays a scripted series;
 *   `GET /__fake/prices[/:pair]` tells each pair's price and what steers it. A refused body is 400 naming the
 *   field (`points[2].ask must be a positive decimal…`).
 */
export class FakeUpholdServer {
  private readonly quotes = new Map<string, FakeQuote>();
  /** By target: a pair, or a list's currency. */
  private readonly faults = new Map<string, Armed<FakeFault>[]>();
  private readonly listEdits = new Map<string, Armed<FakeListEdit>[]>();
  private readonly log: FakeRequest[] = [];
  private readonly hanging = new Set<NodeJS.Timeout>();
  private readonly limiter = new SlidingWindowLimiter(RATE_LIMIT_WINDOW_MS);
  private limitPerMinute: number | null = null;
  private readonly now: () => number;
  private server: Server | undefined;
  private baseUrl: string | undefined;
  /** Prices set by hand (held, or left to the walk) and scripted series; what the `/__fake/prices` paths use. */
  readonly controls: PriceControls;

  constructor(options: FakeUpholdOptions = {}) {
    this.now = options.now ?? (() => Date.now());
    this.controls = new PriceControls(this);
  }

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
    this.controls.reset();
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

  /** The quote set for `pair` (an inverse it serves but was not set is not one). */
  quote(pair: string): FakeQuote | undefined {
    const quote = this.quotes.get(pair.toUpperCase());
    return quote && { ...quote };
  }

  /** The pairs set, in the order they were first set (not their inverses). */
  pairs(): string[] {
    return [...this.quotes.keys()];
  }

  /** The pair answers 404 from now on, and its inverse too unless that was set itself. */
  removePair(pair: string): void {
    this.quotes.delete(pair.toUpperCase());
  }

  /**
   * The list of `currency` as it stands, without faults or edits: what `GET /v0/ticker/{currency}` answers
   * when nothing is armed. Undefined when no pair has the currency (the endpoint answers 404).
   */
  list(currency: string): ListEntry[] | undefined {
    const code = requireCurrency(currency, 'currency');
    const entries: ListEntry[] = [];
    let known = false;
    for (const [pair, quote] of this.quotes) {
      if (!pairHasCurrency(pair, code)) continue;
      known = true;
      entries.push(listEntry(pair, quote));
      const inverse = inversePair(pair) ?? pair;
      if (this.quotes.has(inverse)) continue; // set itself: its own entry comes in its turn
      const inverted = invertQuote(quote);
      if (inverted) entries.push(listEntry(inverse, inverted));
    }
    return known ? entries : undefined;
  }

  /**
   * The pair's next `times` requests (default 1; Infinity: until {@link clearFaults}) run into `fault`.
   * Faults armed one after the other apply in that order.
   */
  failNext(pair: string, fault: FakeFault, times = 1): void {
    arm(this.faults, pair.toUpperCase(), fault, times);
  }

  /** Like {@link failNext}, for the next `times` requests of `currency`'s list. */
  failNextList(currency: string, fault: FakeFault, times = 1): void {
    arm(this.faults, requireCurrency(currency, 'currency'), fault, times);
  }

  /** Clears the faults of one pair or list (by its currency), or of all. */
  clearFaults(target?: string): void {
    if (target === undefined) this.faults.clear();
    else this.faults.delete(target.toUpperCase());
  }

  /**
   * The next `times` answers of `currency`'s list (default: every one until {@link clearListEdits}) carry
   * `edit`: a pair's entry left out (`{omit: 'BTC-USD'}`), fields replaced or left out
   * (`{pair: 'BTC-USD', set: {ask: '0'}}`, `{..., set: {ask: null}}`), a duplicate entry for a pair
   * (`{duplicate: 'BTC-USD', set: {ask: '1'}}`) or any raw entry (`{append: 'garbage'}`). A pair names one
   * direction: 'BTC-USD' is the entry `BTCUSD` of currency USD, 'USD-BTC' its inverse `USDBTC`. Edits apply in
   * the order they were made, to answers that would be the true list (not to faults, not to a 404); one that
   * names a pair the list does not hold changes nothing. The pair endpoint is not affected.
   */
  editList(currency: string, edit: FakeListEdit, times = Infinity): void {
    const code = requireCurrency(currency, 'currency');
    let checked: FakeListEdit;
    if ('append' in edit) checked = { append: edit.append };
    else if ('omit' in edit) checked = { omit: requirePair(edit.omit, 'omit') };
    else if ('duplicate' in edit)
      checked = { duplicate: requirePair(edit.duplicate, 'duplicate'), set: edit.set };
    else checked = { pair: requirePair(edit.pair, 'pair'), set: edit.set };
    arm(this.listEdits, code, checked, times);
  }

  /** The entry of `pair` (one direction, e.g. 'BTC-USD') is missing from `currency`'s next `times` lists. */
  omitFromList(currency: string, pair: string, times = Infinity): void {
    this.editList(currency, { omit: pair }, times);
  }

  /** Clears the list edits of one currency, or of all. */
  clearListEdits(currency?: string): void {
    if (currency === undefined) this.listEdits.clear();
    else this.listEdits.delete(currency.toUpperCase());
  }

  /**
   * At most `perMinute` requests from one client address in any 60 s, like Uphold's 250 a minute per IP;
   * null: no limit (the default). Changing the limit keeps the requests already counted; null forgets them.
   */
  setRateLimit(perMinute: number | null): void {
    if (perMinute !== null && !(Number.isInteger(perMinute) && perMinute > 0)) {
      throw new RangeError(`perMinute must be a positive whole number or null, got ${perMinute}`);
    }
    this.limitPerMinute = perMinute;
    if (perMinute === null) this.limiter.clear();
  }

  /** The rate limit in force (requests a minute per client), or null. */
  get rateLimit(): number | null {
    return this.limitPerMinute;
  }

  /**
   * Ticker requests received (both endpoints, known targets or not). A string counts those of that pair (or
   * list currency), any case, as it always has; a filter narrows by endpoint, target, arrival and status.
   */
  requestCount(filter?: string | FakeRequestFilter): number {
    return this.matching(filter).length;
  }

  /** Ticker requests received, oldest first, with arrival time and answer status (copies). */
  requestLog(filter?: string | FakeRequestFilter): FakeRequest[] {
    return this.matching(filter).map((r) => ({ ...r }));
  }

  clearRequestLog(): void {
    this.log.length = 0;
  }

  /** The counts `GET /__fake/stats` answers, over the requests that arrived at or after `sinceMs`. */
  stats(sinceMs?: number): FakeStats {
    const empty = (): FakeCounts => ({ requests: 0, byStatus: {} });
    const stats: FakeStats = {
      now: this.now(),
      sinceMs: sinceMs ?? null,
      requests: 0,
      byEndpoint: { pair: empty(), list: empty() },
      byTarget: {},
      rateLimit: { perMinute: this.limitPerMinute, refused: 0 },
    };
    for (const r of this.matching({ sinceMs })) {
      const status = r.status === undefined ? 'pending' : String(r.status);
      const target = (stats.byTarget[r.target] ??= { kind: r.kind, ...empty() });
      for (const counts of [stats.byEndpoint[r.kind], target]) {
        counts.requests += 1;
        counts.byStatus[status] = (counts.byStatus[status] ?? 0) + 1;
      }
      stats.requests += 1;
      if (r.rateLimited) stats.rateLimit.refused += 1;
    }
    return stats;
  }

  private matching(filter: string | FakeRequestFilter | undefined): FakeRequest[] {
    const { kind, target, sinceMs, status } =
      typeof filter === 'string' ? { target: filter } : (filter ?? {});
    const key = target?.toUpperCase();
    return this.log.filter(
      (r) =>
        (key === undefined || r.target === key) &&
        (kind === undefined || r.kind === kind) &&
        (sinceMs === undefined || r.at >= sinceMs) &&
        (status === undefined || r.status === status),
    );
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0];
    if (path.startsWith(ADMIN_PREFIX)) {
      this.handleAdmin(req, res);
      return;
    }
    const match = TICKER_ROUTE.exec(path);
    const target = match ? decodeTarget(match[1]) : undefined;
    const ticker = target !== undefined && req.method === 'GET' ? target : undefined;
    const client = clientAddress(req);

    const retryAfterMs = this.refusal(client);
    if (retryAfterMs !== undefined) {
      if (ticker !== undefined) this.record(ticker, client, { status: 429, rateLimited: true });
      res.setHeader('retry-after', String(Math.max(1, Math.ceil(retryAfterMs / 1000))));
      sendJson(res, 429, {
        code: 'too_many_requests',
        message: `Rate limit of ${this.limitPerMinute} requests a minute exceeded`,
      });
      return;
    }
    if (!match) {
      sendNotFound(res);
      return;
    }
    if (req.method !== 'GET') {
      sendMethodNotAllowed(req, res);
      return;
    }
    if (ticker === undefined) {
      sendNotFound(res);
      return;
    }
    const record = this.record(ticker, client, {});
    const respond = (status: number, send: () => void): void => {
      record.status = status;
      send();
    };
    const answer = (): void =>
      record.kind === 'list' ? this.answerList(ticker, respond, res) : this.answerQuote(ticker, respond, res);

    const fault = take(this.faults, ticker, 'head')[0];
    if (fault === undefined) {
      answer();
    } else if ('hangMs' in fault) {
      const timer = setTimeout(() => {
        this.hanging.delete(timer);
        if (!res.destroyed) answer();
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

  private handleAdmin(req: IncomingMessage, res: ServerResponse): void {
    const { pathname, searchParams } = new URL(req.url ?? '/', 'http://fake-uphold.invalid');
    const priceRoute = PRICE_ROUTE.exec(pathname);
    const seriesRoute = SERIES_ROUTE.exec(pathname);
    if (pathname === PRICES_PATH) {
      if (req.method !== 'GET') return sendMethodNotAllowed(req, res);
      const states = this.pairs().map((pair) => this.controls.state(pair));
      return sendJson(res, 200, { pairs: states });
    }
    if (priceRoute) {
      if (!['GET', 'PUT', 'DELETE'].includes(req.method ?? '')) {
        return sendMethodNotAllowed(req, res, 'GET, PUT, DELETE');
      }
      this.control(req, res, priceRoute[1]);
      return;
    }
    if (seriesRoute) {
      if (req.method !== 'POST') return sendMethodNotAllowed(req, res, 'POST');
      this.control(req, res, seriesRoute[1]);
      return;
    }
    if (pathname !== STATS_PATH) {
      sendNotFound(res);
      return;
    }
    if (req.method !== 'GET') {
      sendMethodNotAllowed(req, res);
      return;
    }
    const since = searchParams.get('sinceMs');
    if (since !== null && !/^\d{1,16}$/.test(since)) {
      sendJson(res, 400, {
        code: 'bad_request',
        message: `sinceMs must be epoch milliseconds (a whole number), got ${JSON.stringify(since)}`,
      });
      return;
    }
    sendJson(res, 200, this.stats(since === null ? undefined : Number(since)));
  }

  /** `GET|PUT|DELETE /__fake/prices/:pair` and `POST /__fake/series/:pair`. */
  private control(req: IncomingMessage, res: ServerResponse, rawPair: string): void {
    const refuse = (error: unknown): void => {
      if (error instanceof ControlInputError) {
        sendJson(res, 400, { code: 'bad_request', field: error.field, message: error.message });
      } else if (error instanceof BodyTooLargeError) {
        sendJson(res, 413, { code: 'payload_too_large', message: error.message });
      } else {
        sendJson(res, 500, { code: 'internal_server_error', message: String(error) });
      }
    };
    let pair: string;
    try {
      pair = parseControlPair(rawPair);
    } catch (error) {
      req.resume();
      return refuse(error);
    }
    const notFound = (): void => sendJson(res, 404, { code: 'not_found', message: `Pair ${pair} not found` });
    if (req.method === 'GET') {
      const state = this.controls.state(pair);
      return state ? sendJson(res, 200, state) : notFound();
    }
    if (req.method === 'DELETE') {
      if (!this.quotes.has(pair)) return notFound();
      this.controls.release(pair);
      res.statusCode = 204;
      res.end();
      return;
    }
    readJsonBody(req).then(
      (body) => {
        try {
          if (req.method === 'PUT') {
            const { quote, hold } = parsePriceBody(body, bidBelow);
            sendJson(res, 200, this.controls.set(pair, quote, hold));
          } else {
            const { points, stepMs, hold } = parseSeriesBody(body, bidBelow);
            const run = this.controls.play(pair, points, { stepMs, hold });
            sendJson(res, 202, {
              pair,
              points: run.points,
              stepMs,
              hold,
              startedAt: run.startedAt,
              endsAt: run.endsAt,
            });
          }
        } catch (error) {
          refuse(error);
        }
      },
      (error: unknown) => refuse(error),
    );
  }

  /** Undefined when the request may go on; else the milliseconds until the client may ask again. */
  private refusal(client: string): number | undefined {
    if (this.limitPerMinute === null) return undefined;
    const decision = this.limiter.take(client, this.now(), this.limitPerMinute);
    return decision.admitted ? undefined : decision.retryAfterMs;
  }

  private record(
    target: string,
    client: string,
    outcome: Pick<FakeRequest, 'status' | 'rateLimited'>,
  ): FakeRequest {
    const kind: FakeEndpoint = CURRENCY_PATTERN.test(target) ? 'list' : 'pair';
    const record: FakeRequest = { pair: target, kind, target, client, at: this.now(), ...outcome };
    this.log.push(record);
    return record;
  }

  /** A pair as set, else the inverse of a pair set the other way round (when its prices can be inverted). */
  private pairQuote(pair: string): FakeQuote | undefined {
    const own = this.quotes.get(pair);
    if (own) return own;
    const inverse = inversePair(pair);
    const direct = inverse === undefined ? undefined : this.quotes.get(inverse);
    return direct && invertQuote(direct);
  }

  private answerQuote(
    pair: string,
    respond: (status: number, send: () => void) => void,
    res: ServerResponse,
  ): void {
    const quote = this.pairQuote(pair);
    if (!quote) {
      respond(404, () => sendJson(res, 404, { code: 'not_found', message: `Pair ${pair} not found` }));
      return;
    }
    const currency = pair.includes('-') ? pair.slice(pair.indexOf('-') + 1) : pair.slice(-3);
    respond(200, () => sendJson(res, 200, { ask: quote.ask, bid: quote.bid, currency }));
  }

  private answerList(
    currency: string,
    respond: (status: number, send: () => void) => void,
    res: ServerResponse,
  ): void {
    const entries = this.list(currency);
    if (!entries) {
      respond(404, () =>
        sendJson(res, 404, { code: 'not_found', message: `Currency ${currency} not found` }),
      );
      return;
    }
    const body = applyListEdits(entries, take(this.listEdits, currency, 'all'));
    respond(200, () => sendJson(res, 200, body));
  }
}

/** Queues `item` for the next `times` uses of `key` (Infinity: until cleared). */
function arm<T>(armed: Map<string, Armed<T>[]>, key: string, item: T, times: number): void {
  if (!(times > 0)) throw new RangeError(`times must be positive, got ${times}`);
  const queue = armed.get(key) ?? [];
  queue.push({ item, remaining: times });
  armed.set(key, queue);
}

/**
 * Uses up one turn of what is queued for `key` and returns it: the head only (`'head'`: faults apply one at a
 * time, in order), or every item (`'all'`: list edits apply together).
 */
function take<T>(armed: Map<string, Armed<T>[]>, key: string, which: 'head' | 'all'): T[] {
  const queue = armed.get(key);
  if (!queue || queue.length === 0) return [];
  const used = which === 'all' ? queue : queue.slice(0, 1);
  for (const entry of used) entry.remaining -= 1;
  const left = queue.filter((entry) => entry.remaining > 0);
  if (left.length === 0) armed.delete(key);
  else armed.set(key, left);
  return used.map((entry) => entry.item);
}

function decodeTarget(raw: string): string | undefined {
  try {
    return decodeURIComponent(raw).toUpperCase();
  } catch {
    return undefined;
  }
}

function clientAddress(req: IncomingMessage): string {
  const address = req.socket.remoteAddress ?? 'unknown';
  return address.startsWith('::ffff:') ? address.slice('::ffff:'.length) : address;
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

function sendNotFound(res: ServerResponse): void {
  sendJson(res, 404, { code: 'not_found', message: 'Not found' });
}

/** 405 for a method the path does not take. */
function sendMethodNotAllowed(req: IncomingMessage, res: ServerResponse, allow = 'GET'): void {
  res.setHeader('allow', allow);
  sendJson(res, 405, { code: 'method_not_allowed', message: `${req.method ?? ''} is not allowed` });
}

class BodyTooLargeError extends Error {}

/** The request's JSON body; a body that is not JSON is a ControlInputError naming `body`. */
function readJsonBody(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    req.on('error', reject);
    req.on('end', () => {
      if (size > MAX_BODY_BYTES) {
        reject(new BodyTooLargeError(`the body is over ${MAX_BODY_BYTES} bytes`));
        return;
      }
      const text = Buffer.concat(chunks).toString('utf8');
      try {
        resolve(JSON.parse(text) as unknown);
      } catch {
        reject(new ControlInputError('body', `must be JSON, got ${JSON.stringify(text.slice(0, 40))}`));
      }
    });
  });
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
