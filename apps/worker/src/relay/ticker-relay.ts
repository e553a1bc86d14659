import {
  cacheFreshness,
  InvalidDecimalError,
  pairCurrencies,
  parsePositiveDecimal,
  planUpstream,
  PlannedRequest,
  SlidingWindow,
  UpstreamPlan,
} from '@pairwatch/contracts';
import { systemClock } from '../clock';
import type { ListEntry, ListResult, TickerFailure, TickerResult } from '../uphold-ticker.client';

/** The relay's door to Uphold: the worker's own ticker client, pointed at Uphold. */
export interface RelayUpstream {
  fetchTicker(pair: string): Promise<TickerResult>;
  fetchList(currency: string): Promise<ListResult>;
}

/** What the relay answers a worker, in Uphold's format: the HTTP status, the JSON body and a few headers. */
export interface RelayAnswer {
  status: number;
  body: unknown;
  /** Seconds, for a 429. */
  retryAfterSeconds?: number;
  /** Which upstream request served the answer (`list:USD`, `pair:BTC-USD`). */
  source?: string;
  /** How old the upstream answer was, in ms. */
  ageMs?: number;
}

export interface TickerRelayOptions {
  upstream: RelayUpstream;
  /** Upstream requests allowed in any 60 s window. */
  rateLimitPerMin: number;
  now?: () => number;
  /** Waits `ms` (holding an asker for a refresh); the system clock's by default. */
  sleep?: (ms: number) => Promise<void>;
  /** A pair nobody asked for in this long leaves the plan (at least 3 of its intervals). */
  demandTtlMs?: number;
}

export interface RelayStats {
  /** Upstream requests made, by `kind:status` (`list:200`, `pair:404`, `list:network-error`…). */
  upstreamRequests: Record<string, number>;
  /** Upstream requests within the last 60 s, against the limit. */
  budget: { usedLastMinute: number; limitPerMin: number };
  /** Answers served from a cached upstream answer young enough for the asker. */
  cacheHits: number;
  /** Answers that waited for an upstream request already on its way instead of making one. */
  coalesced: number;
  /**
   * Answers held for a refresh: the cached answer was too old to serve the asker (within the headroom of its
   * interval) and too young to ask Uphold again, so the asker waited until it was an interval old.
   */
  heldForRefresh: number;
  /** Answers to workers, by status. */
  answers: Record<string, number>;
  /** ms left of a pause after Uphold answered 429; 0 when not paused. */
  pausedForMs: number;
  /** Pairs no currency list held, served by their own endpoint. */
  pairEndpointOnly: string[];
  /** The plan for the pairs asked for recently. */
  plan: UpstreamPlan;
}

type Upstream = ListResult | TickerResult;

interface Cached {
  /** When the request that brought it was sent: the answer is at least this fresh. */
  at: number;
  result: Upstream;
  /** For a list: its entries by pair code and quote currency. */
  index?: Map<string, ListEntry[]>;
}

const DEFAULT_DEMAND_TTL_MS = 60_000;

/**
 * The relay's logic, without HTTP: serves a pair from the currency list the upstream plan assigns it to
 * (or its own endpoint when no list holds it), shares concurrent upstream requests, serves a cached answer
 * only while it is younger than the asker allows, keeps every upstream request within one budget, and
 * after a 429 sends nothing upstream until Retry-After has passed. Every failure is an answer; nothing
 * Uphold sends makes it throw, and no price it could not parse is served.
 */
export class TickerRelay {
  private readonly upstream: RelayUpstream;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly budget = new SlidingWindow(60_000);
  private readonly limitPerMin: number;
  private readonly demandTtlMs: number;
  private readonly demand = new Map<string, { intervalMs: number; seenAt: number }>();
  private readonly pairOnly = new Set<string>();
  private readonly cache = new Map<string, Cached>();
  private readonly inflight = new Map<string, Promise<Cached>>();
  /** Askers held for a refresh share one timer per upstream key and instant. */
  private readonly holds = new Map<string, Promise<void>>();
  private readonly counts = { upstream: new Map<string, number>(), answers: new Map<string, number>() };
  private cacheHits = 0;
  private coalesced = 0;
  private heldForRefresh = 0;
  private pausedUntil = 0;
  private plan: UpstreamPlan = { requests: [], requestsPerMin: 0 };
  private servedBy = new Map<string, PlannedRequest>();
  private planStale = false;
  private lastExpiry = 0;

  constructor(options: TickerRelayOptions) {
    this.upstream = options.upstream;
    this.now = options.now ?? Date.now;
    this.sleep = options.sleep ?? ((ms) => systemClock.sleep(ms));
    this.limitPerMin = options.rateLimitPerMin;
    this.demandTtlMs = options.demandTtlMs ?? DEFAULT_DEMAND_TTL_MS;
  }

  /**
   * `GET /v0/ticker/{PAIR}` for a worker that reads it every `maxAgeMs`. `pair` must be a valid pair. The price
   * is served at most `maxAgeMs` less a headroom old; an asker may be held up to that headroom for the next
   * refresh ({@link cacheFreshness}).
   */
  async pair(pair: string, maxAgeMs: number): Promise<RelayAnswer> {
    this.ask(pair, maxAgeMs);
    const request = this.servedBy.get(pair)!;
    let answer: RelayAnswer;
    if (request.kind === 'list') {
      answer = await this.fromList(pair, request.target, maxAgeMs);
      if (answer.status === 404) {
        // Not in the list: from now on the pair has its own endpoint in the plan.
        this.pairOnly.add(pair);
        this.planStale = true;
        this.replan();
        answer = await this.fromPair(pair, maxAgeMs);
      }
    } else {
      answer = await this.fromPair(pair, maxAgeMs);
    }
    return this.count(answer);
  }

  /** `GET /v0/ticker/{CURRENCY}`: the list, passed on with the entries whose prices could not be read left out. */
  async list(currency: string, maxAgeMs: number): Promise<RelayAnswer> {
    const got = await this.fetch(`list:${currency}`, maxAgeMs, () => this.upstream.fetchList(currency));
    if ('status' in got) return this.count(got);
    const { cached, ageMs } = got;
    if (cached.result.kind !== 'list') return this.count(failureAnswer(cached.result as TickerFailure));
    const body = cached.result.entries.filter((entry) => validQuote(entry) === null);
    return this.count({ status: 200, body, source: `list:${currency}`, ageMs });
  }

  stats(): RelayStats {
    const now = this.now();
    this.replan();
    return {
      upstreamRequests: Object.fromEntries(this.counts.upstream),
      budget: { usedLastMinute: this.budget.count(now), limitPerMin: this.limitPerMin },
      cacheHits: this.cacheHits,
      coalesced: this.coalesced,
      heldForRefresh: this.heldForRefresh,
      answers: Object.fromEntries(this.counts.answers),
      pausedForMs: Math.max(0, this.pausedUntil - now),
      pairEndpointOnly: [...this.pairOnly].sort(),
      plan: this.plan,
    };
  }

  private async fromList(pair: string, currency: string, maxAgeMs: number): Promise<RelayAnswer> {
    const key = `list:${currency}`;
    const got = await this.fetch(key, maxAgeMs, () => this.upstream.fetchList(currency));
    if ('status' in got) return got;
    const { cached, ageMs } = got;
    if (cached.result.kind !== 'list') return failureAnswer(cached.result as TickerFailure);
    const [base, quote] = pairCurrencies(pair);
    const entries = cached.index?.get(`${base}${quote}|${quote}`) ?? [];
    if (entries.length === 0) return notFound(pair);
    if (entries.length > 1) {
      return badGateway(`the ${currency} list holds ${entries.length} entries for ${pair}; none is served`);
    }
    const problem = validQuote(entries[0]);
    if (problem) return badGateway(`the ${currency} list entry for ${pair}: ${problem}`);
    return {
      status: 200,
      body: { ask: entries[0].ask, bid: entries[0].bid, currency: quote },
      source: key,
      ageMs,
    };
  }

  private async fromPair(pair: string, maxAgeMs: number): Promise<RelayAnswer> {
    const key = `pair:${pair}`;
    const got = await this.fetch(key, maxAgeMs, () => this.upstream.fetchTicker(pair));
    if ('status' in got) return got;
    const { cached, ageMs } = got;
    const result = cached.result;
    if (result.kind === 'unknown-pair') return notFound(pair);
    if (result.kind !== 'quote') return failureAnswer(result as TickerFailure);
    const problem = validQuote(result);
    if (problem) return badGateway(`the ${pair} ticker: ${problem}`);
    return {
      status: 200,
      body: { ask: result.ask, bid: result.bid, currency: pairCurrencies(pair)[1] },
      source: key,
      ageMs,
    };
  }

  /**
   * The upstream answer for `key`, by the freshness rule of an asker that reads every `intervalMs`
   * ({@link cacheFreshness}): the cached answer while it is younger than the interval less its headroom; else
   * the request already on its way; else, while the cached answer is younger than the interval, a wait until
   * it is that old; else a new request — unless paused by a 429 or out of budget, which are answers of their own.
   */
  private async fetch(
    key: string,
    intervalMs: number,
    send: () => Promise<Upstream>,
  ): Promise<{ cached: Cached; ageMs: number } | RelayAnswer> {
    const { servedForMs, refreshAtMs } = cacheFreshness(intervalMs);
    let held = false;
    for (;;) {
      const now = this.now();
      const cached = this.cache.get(key);
      const ageMs = cached ? now - cached.at : Infinity;
      if (cached && ageMs < servedForMs) {
        if (!held) this.cacheHits += 1;
        return { cached, ageMs };
      }
      const pending = this.inflight.get(key);
      if (pending) {
        this.coalesced += 1;
        const shared = await pending;
        return { cached: shared, ageMs: this.now() - shared.at };
      }
      if (cached && ageMs < refreshAtMs) {
        // Too old for this asker, too young to ask Uphold again: wait for the refresh an interval after it.
        if (!held) this.heldForRefresh += 1;
        held = true;
        await this.hold(key, cached.at + refreshAtMs);
        continue;
      }
      if (now < this.pausedUntil) return tooMany(this.pausedUntil - now, 'Uphold asked the relay to wait');
      const place = this.budget.take(now, this.limitPerMin);
      if (!place.admitted)
        return tooMany(place.retryAfterMs, 'the relay has used its upstream budget for this minute');

      const request = this.send(key, now, send).finally(() => this.inflight.delete(key));
      this.inflight.set(key, request);
      const fresh = await request;
      return { cached: fresh, ageMs: this.now() - fresh.at };
    }
  }

  /** Resolves once the clock has reached `until` (never earlier: timers may fire a little early). */
  private hold(key: string, until: number): Promise<void> {
    const id = `${key}@${until}`;
    let held = this.holds.get(id);
    if (!held) {
      held = (async () => {
        for (let left = until - this.now(); left > 0; left = until - this.now()) await this.sleep(left);
      })().finally(() => this.holds.delete(id));
      this.holds.set(id, held);
    }
    return held;
  }

  private async send(key: string, at: number, send: () => Promise<Upstream>): Promise<Cached> {
    let result: Upstream;
    try {
      result = await send();
    } catch (error) {
      // The ticker client never throws; should it, the caller still gets an answer.
      result = { kind: 'network-error', message: (error as Error).message };
    }
    const kind = key.slice(0, key.indexOf(':'));
    const outcome = result.kind === 'list' || result.kind === 'quote' ? '200' : outcomeOf(result);
    this.counts.upstream.set(`${kind}:${outcome}`, (this.counts.upstream.get(`${kind}:${outcome}`) ?? 0) + 1);
    if (result.kind === 'rate-limited')
      this.pausedUntil = Math.max(this.pausedUntil, this.now() + result.retryAfterMs);

    const cached: Cached = { at, result };
    if (result.kind === 'list') cached.index = indexList(result.entries);
    // Only answers worth serving again are kept: quotes, lists, and "no such pair".
    if (result.kind === 'list' || result.kind === 'quote' || result.kind === 'unknown-pair')
      this.cache.set(key, cached);
    else this.cache.delete(key);
    return cached;
  }

  /** Notes that `pair` is watched at `intervalMs`, forgets pairs nobody asked for lately, and re-plans if need be. */
  private ask(pair: string, intervalMs: number): void {
    const now = this.now();
    const known = this.demand.get(pair);
    if (!known || known.intervalMs !== intervalMs) this.planStale = true;
    this.demand.set(pair, { intervalMs, seenAt: now });
    if (now - this.lastExpiry >= 1000) {
      this.lastExpiry = now;
      for (const [watched, { intervalMs: interval, seenAt }] of this.demand) {
        if (now - seenAt > Math.max(this.demandTtlMs, 3 * interval)) {
          this.demand.delete(watched);
          this.cache.delete(`pair:${watched}`);
          this.planStale = true;
        }
      }
    }
    this.replan();
  }

  private replan(): void {
    if (!this.planStale) return;
    this.planStale = false;
    const demand = [...this.demand].map(([pair, { intervalMs }]) => ({ pair, intervalMs }));
    this.plan = planUpstream(demand, { relay: true, pairEndpointOnly: this.pairOnly });
    this.servedBy = new Map(this.plan.requests.flatMap((request) => request.pairs.map((p) => [p, request])));
  }

  private count(answer: RelayAnswer): RelayAnswer {
    const status = String(answer.status);
    this.counts.answers.set(status, (this.counts.answers.get(status) ?? 0) + 1);
    return answer;
  }
}

function indexList(entries: ListEntry[]): Map<string, ListEntry[]> {
  const index = new Map<string, ListEntry[]>();
  for (const entry of entries) {
    const key = `${entry.pair}|${entry.currency}`;
    const same = index.get(key);
    if (same) same.push(entry);
    else index.set(key, [entry]);
  }
  return index;
}

/** Why a quote cannot be served (ask and bid must be positive decimal strings), or null. */
function validQuote(quote: { ask?: string; bid?: string }): string | null {
  try {
    parsePositiveDecimal(quote.ask, 'ask');
    parsePositiveDecimal(quote.bid, 'bid');
    return null;
  } catch (error) {
    if (error instanceof InvalidDecimalError) return error.message;
    throw error;
  }
}

function outcomeOf(failure: TickerFailure): string {
  switch (failure.kind) {
    case 'unknown-pair':
      return '404';
    case 'rate-limited':
      return '429';
    case 'server-error':
      return String(failure.status);
    default:
      return failure.kind;
  }
}

/** An upstream failure as the answer a worker already knows how to handle. */
function failureAnswer(failure: TickerFailure): RelayAnswer {
  switch (failure.kind) {
    case 'unknown-pair':
      return { status: 404, body: { code: 'not_found', message: 'Not found' } };
    case 'rate-limited':
      return tooMany(failure.retryAfterMs, 'Uphold asked the relay to wait');
    case 'server-error':
      // Uphold's 5xx are passed on as they are; anything else it should not have said is a bad gateway.
      return failure.status >= 500 && failure.status <= 599
        ? {
            status: failure.status,
            body: { code: 'upstream_error', message: `Uphold answered HTTP ${failure.status}` },
          }
        : badGateway(`Uphold answered HTTP ${failure.status}`);
    case 'network-error':
      return /timed out/.test(failure.message)
        ? { status: 504, body: { code: 'upstream_timeout', message: `Uphold: ${failure.message}` } }
        : badGateway(`Uphold could not be reached: ${failure.message}`);
    case 'bad-response':
      return badGateway(failure.message);
  }
}

function notFound(pair: string): RelayAnswer {
  return { status: 404, body: { code: 'not_found', message: `Pair ${pair} not found` } };
}

function badGateway(message: string): RelayAnswer {
  return { status: 502, body: { code: 'bad_upstream_answer', message } };
}

function tooMany(waitMs: number, message: string): RelayAnswer {
  const retryAfterSeconds = Math.max(1, Math.ceil(waitMs / 1000));
  return {
    status: 429,
    body: { code: 'too_many_requests', message: `${message}: retry in ${retryAfterSeconds} s` },
    retryAfterSeconds,
  };
}
