import { Decimal, isValidPair, normalizePair } from '@pairwatch/contracts';
import type { FakeQuote } from './currency-list';

/** What the controls need of the server: its quotes. */
export interface QuoteBook {
  setQuote(pair: string, quote: FakeQuote): void;
  quote(pair: string): FakeQuote | undefined;
}

/** A series being replayed: point `index` of `points` was set last; the next comes `stepMs` later. */
export interface SeriesProgress {
  /** How many points the series has. */
  points: number;
  /** The index of the point in force (0 = the first, set when the series started). */
  index: number;
  stepMs: number;
  /** Epoch ms at which the first point was set, and at which the last one will be. */
  startedAt: number;
  endsAt: number;
  /** What happens after the last point: it holds (true) or the random walk goes on from it (false). */
  hold: boolean;
}

/** A pair's price and what is steering it, as `GET /__fake/prices/:pair` answers. */
export interface PriceControlState {
  pair: string;
  ask: string;
  bid: string;
  /** True while the random walk leaves the pair alone: held by a PUT, or a series is playing. */
  held: boolean;
  series: SeriesProgress | null;
}

/** A started series: when it ends, and a promise that says whether it played to its end. */
export interface SeriesRun {
  pair: string;
  points: number;
  stepMs: number;
  startedAt: number;
  endsAt: number;
  /** true when the last point was set; false when it was cut short (released, replaced, server stopped). */
  done: Promise<boolean>;
}

export const MAX_SERIES_POINTS = 10_000;
export const MIN_STEP_MS = 10;
export const MAX_STEP_MS = 3_600_000;
export const DEFAULT_STEP_MS = 1000;

interface Playing {
  progress: SeriesProgress;
  timer: NodeJS.Timeout | undefined;
  finish: (completed: boolean) => void;
}

/**
 * Steering a pair's price by hand, for demos and tests: a price set and held (or left to the random walk from
 * there), or a scripted series of quotes replayed one every `stepMs`. The random walk (main.ts) asks
 * {@link isHeld} before it moves a pair.
 */
export class PriceControls {
  private readonly held = new Set<string>();
  private readonly playing = new Map<string, Playing>();

  constructor(
    private readonly book: QuoteBook,
    private readonly now: () => number = () => Date.now(),
  ) {}

  /** Sets the quote now; with `hold` (the default) the walk leaves it there until {@link release}. Stops a series. */
  set(pair: string, quote: FakeQuote, hold = true): PriceControlState {
    const key = pair.toUpperCase();
    this.cancel(key);
    this.book.setQuote(key, quote);
    if (hold) this.held.add(key);
    else this.held.delete(key);
    return this.state(key)!;
  }

  /**
   * Sets `points[0]` now and each next point `stepMs` later (on a schedule from the start, so no drift adds
   * up); the pair is held meanwhile. After the last point it holds, or with `hold: false` the walk goes on
   * from it. A series started for a pair replaces the one playing.
   */
  play(pair: string, points: FakeQuote[], options: { stepMs?: number; hold?: boolean } = {}): SeriesRun {
    const key = pair.toUpperCase();
    const stepMs = options.stepMs ?? DEFAULT_STEP_MS;
    if (points.length < 1 || points.length > MAX_SERIES_POINTS) {
      throw new RangeError(`a series has 1 to ${MAX_SERIES_POINTS} points, got ${points.length}`);
    }
    if (!Number.isInteger(stepMs) || stepMs < MIN_STEP_MS || stepMs > MAX_STEP_MS) {
      throw new RangeError(
        `stepMs must be a whole number from ${MIN_STEP_MS} to ${MAX_STEP_MS}, got ${stepMs}`,
      );
    }
    this.cancel(key);
    const quotes = points.map((p) => ({ ask: p.ask, bid: p.bid }));
    const startedAt = this.now();
    const progress: SeriesProgress = {
      points: quotes.length,
      index: 0,
      stepMs,
      startedAt,
      endsAt: startedAt + (quotes.length - 1) * stepMs,
      hold: options.hold ?? true,
    };
    let finish: (completed: boolean) => void = () => undefined;
    const done = new Promise<boolean>((resolve) => (finish = resolve));
    const entry: Playing = { progress, timer: undefined, finish };
    this.book.setQuote(key, quotes[0]);
    this.held.add(key);
    this.playing.set(key, entry);

    const next = (): void => {
      entry.timer = undefined;
      progress.index += 1;
      this.book.setQuote(key, quotes[progress.index]);
      if (progress.index < quotes.length - 1) schedule();
      else this.end(key, entry, true);
    };
    const schedule = (): void => {
      const due = startedAt + (progress.index + 1) * stepMs;
      entry.timer = setTimeout(next, Math.max(0, due - this.now()));
    };
    if (quotes.length > 1) schedule();
    else this.end(key, entry, true);
    return { pair: key, points: quotes.length, stepMs, startedAt, endsAt: progress.endsAt, done };
  }

  /** Back to the random walk from where it stands; stops a series. False when nothing steered the pair. */
  release(pair: string): boolean {
    const key = pair.toUpperCase();
    const steered = this.held.has(key) || this.playing.has(key);
    this.cancel(key);
    this.held.delete(key);
    return steered;
  }

  /** True while the random walk must leave the pair alone. */
  isHeld(pair: string): boolean {
    return this.held.has(pair.toUpperCase());
  }

  /** The pair's quote and what steers it; undefined when the server has no quote for it. */
  state(pair: string): PriceControlState | undefined {
    const key = pair.toUpperCase();
    const quote = this.book.quote(key);
    if (!quote) return undefined;
    const playing = this.playing.get(key);
    return {
      pair: key,
      ask: quote.ask,
      bid: quote.bid,
      held: this.held.has(key),
      series: playing ? { ...playing.progress } : null,
    };
  }

  /** Stops every series and forgets every hold (the server's stop()). */
  reset(): void {
    for (const key of [...this.playing.keys()]) this.cancel(key);
    this.held.clear();
  }

  private cancel(key: string): void {
    const playing = this.playing.get(key);
    if (!playing) return;
    if (playing.timer) clearTimeout(playing.timer);
    this.playing.delete(key);
    playing.finish(false);
  }

  private end(key: string, entry: Playing, completed: boolean): void {
    this.playing.delete(key);
    if (!entry.progress.hold) this.held.delete(key);
    entry.finish(completed);
  }
}

/** A refused control request: the field path and what was wrong with it. */
export class ControlInputError extends Error {
  override readonly name = 'ControlInputError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field} ${message}`);
  }
}

/** A positive decimal price: digits, optional fraction, at most 30 of each; a JSON number is taken as written. */
const PRICE_PATTERN = /^\d{1,30}(\.\d{1,30})?$/;

/** `PUT /__fake/prices/:pair`'s body: `{ask, bid?, hold?}` (bid defaults to 0.01 % under ask). */
export function parsePriceBody(
  body: unknown,
  bidDefault: (ask: string) => string,
): { quote: FakeQuote; hold: boolean } {
  const fields = requireObject(body, 'body', ['ask', 'bid', 'hold']);
  const { quote } = parseQuote(fields, '', bidDefault);
  return { quote, hold: parseHold(fields.hold, 'hold') };
}

/** `POST /__fake/series/:pair`'s body: `{points: [{ask, bid?}], stepMs?, hold?}`. */
export function parseSeriesBody(
  body: unknown,
  bidDefault: (ask: string) => string,
): { points: FakeQuote[]; stepMs: number; hold: boolean } {
  const fields = requireObject(body, 'body', ['points', 'stepMs', 'hold']);
  const points = fields.points;
  if (!Array.isArray(points))
    throw new ControlInputError('points', `must be an array of {ask, bid}, got ${kind(points)}`);
  if (points.length < 1 || points.length > MAX_SERIES_POINTS) {
    throw new ControlInputError('points', `must hold 1 to ${MAX_SERIES_POINTS} points, got ${points.length}`);
  }
  const quotes = points.map((point, i) => {
    const path = `points[${i}]`;
    return parseQuote(requireObject(point, path, ['ask', 'bid']), `${path}.`, bidDefault).quote;
  });
  let stepMs = DEFAULT_STEP_MS;
  if (fields.stepMs !== undefined) {
    const value = fields.stepMs;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < MIN_STEP_MS || value > MAX_STEP_MS) {
      throw new ControlInputError(
        'stepMs',
        `must be a whole number of milliseconds from ${MIN_STEP_MS} to ${MAX_STEP_MS}, got ${show(value)}`,
      );
    }
    stepMs = value;
  }
  return { points: quotes, stepMs, hold: parseHold(fields.hold, 'hold') };
}

/** The pair of a control path: two codes joined by a dash, any case. */
export function parseControlPair(raw: string): string {
  let decoded: string;
  try {
    decoded = decodeURIComponent(raw);
  } catch {
    decoded = raw;
  }
  const pair = normalizePair(decoded);
  if (!isValidPair(pair)) {
    throw new ControlInputError(
      'pair',
      `must be two codes of 2 to 12 letters or digits joined by a dash, got ${show(decoded)}`,
    );
  }
  return pair;
}

function parseQuote(
  fields: Record<string, unknown>,
  prefix: string,
  bidDefault: (ask: string) => string,
): { quote: FakeQuote } {
  const ask = parsePrice(fields.ask, `${prefix}ask`);
  const bid = fields.bid === undefined ? bidDefault(ask) : parsePrice(fields.bid, `${prefix}bid`);
  if (new Decimal(bid).greaterThan(ask)) {
    throw new ControlInputError(`${prefix}bid`, `must not be above ask (${ask}), got ${show(bid)}`);
  }
  return { quote: { ask, bid } };
}

function parsePrice(value: unknown, field: string): string {
  const text = typeof value === 'number' && Number.isFinite(value) ? String(value) : value;
  if (typeof text !== 'string' || !PRICE_PATTERN.test(text) || new Decimal(text).isZero()) {
    throw new ControlInputError(
      field,
      `must be a positive decimal (a string such as "63120.45"), got ${show(value)}`,
    );
  }
  return text;
}

function parseHold(value: unknown, field: string): boolean {
  if (value === undefined) return true;
  if (typeof value !== 'boolean')
    throw new ControlInputError(field, `must be true or false, got ${show(value)}`);
  return value;
}

function requireObject(value: unknown, path: string, allowed: string[]): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ControlInputError(path, `must be a JSON object, got ${kind(value)}`);
  }
  const fields = value as Record<string, unknown>;
  for (const name of Object.keys(fields)) {
    if (!allowed.includes(name)) {
      const field = path === 'body' ? name : `${path}.${name}`;
      throw new ControlInputError(field, `is not a field here (allowed: ${allowed.join(', ')})`);
    }
  }
  return fields;
}

function kind(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : show(value);
}

function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value) ?? typeof value;
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}
