import { Decimal, formatDecimal, isDecimalString, isValidPair, normalizePair } from '@pairwatch/contracts';

/** A currency code as `GET /v0/ticker/{CURRENCY}` takes it: no dash (a dash makes it a pair). */
export const CURRENCY_PATTERN = /^[A-Z0-9]{2,12}$/;

/** Significant digits of an inverse price (1/bid, 1/ask). */
export const INVERSE_SIGNIFICANT_DIGITS = 12;

/** The most decimals a price may have and still be a valid ticker price (DECIMAL_PATTERN). */
const MAX_DECIMALS = 30;

export interface FakeQuote {
  ask: string;
  bid: string;
}

/** One entry of a currency list, in Uphold's shape: `pair` without its dash, `currency` its second code. */
export interface ListEntry {
  ask: string;
  bid: string;
  currency: string;
  pair: string;
}

/** Fields of a list entry replaced (a string) or left out (null): `{ ask: null }` is an entry with no ask. */
export type ListEntryPatch = Partial<Record<keyof ListEntry, string | null>>;

/** How one currency's list answers differ from the true list (see FakeUpholdServer.editList). */
export type FakeListEdit =
  /** The entry of this pair (e.g. 'BTC-USD': the entry `BTCUSD` of currency USD) is left out. */
  | { omit: string }
  /** The entry of `pair` carries these fields instead (e.g. `{ ask: '0' }`, `{ ask: null }`, `{ bid: 'abc' }`). */
  | { pair: string; set: ListEntryPatch }
  /** A second entry for the pair after the list, a copy of its entry with `set` applied (a duplicate pair). */
  | { duplicate: string; set?: ListEntryPatch }
  /** This raw value appended as one more entry (any garbage: a number, null, an object with other fields). */
  | { append: unknown };

/** The currency code of a path target, or undefined when the target is not one (a pair, or anything else). */
export function asCurrency(value: string): string | undefined {
  const code = normalizePair(value);
  return CURRENCY_PATTERN.test(code) ? code : undefined;
}

/** 'BTC-USD' → 'USD-BTC'; undefined for anything that is not a valid pair. */
export function inversePair(pair: string): string | undefined {
  if (!isValidPair(pair)) return undefined;
  const [base, quote] = pair.split('-');
  return `${quote}-${base}`;
}

/** Whether the pair has `currency` on either side. */
export function pairHasCurrency(pair: string, currency: string): boolean {
  return isValidPair(pair) && pair.split('-').includes(currency);
}

/** The list entry of a pair direction: BASE-QUOTE → `{ask, bid, currency: QUOTE, pair: BASEQUOTE}`. */
export function listEntry(pair: string, quote: FakeQuote): ListEntry {
  const [base, currency] = pair.split('-');
  return { ask: quote.ask, bid: quote.bid, currency, pair: `${base}${currency}` };
}

/**
 * The quote of the other direction: ask = 1/bid and bid = 1/ask, exact decimals rounded to
 * {@link INVERSE_SIGNIFICANT_DIGITS} significant digits, outwards (the ask up, the bid down: the spread never
 * narrows). Undefined when either price is not a positive decimal, or when an inverse would not be a valid
 * ticker price (more than 30 digits either side of the point, or zero at 30 decimals).
 */
export function invertQuote(quote: FakeQuote): FakeQuote | undefined {
  const ask = positiveDecimal(quote.ask);
  const bid = positiveDecimal(quote.bid);
  if (!ask || !bid) return undefined;
  const inverseAsk = reciprocal(bid, Decimal.ROUND_UP);
  const inverseBid = reciprocal(ask, Decimal.ROUND_DOWN);
  if (inverseAsk === undefined || inverseBid === undefined) return undefined;
  return { ask: inverseAsk, bid: inverseBid };
}

/**
 * Applies `edits`, in order, to a copy of `entries`. An edit naming a pair the list does not hold changes
 * nothing; the pair of an edit is matched on both fields of an entry (`pair` and `currency`), as codes have
 * different lengths.
 */
export function applyListEdits(entries: readonly ListEntry[], edits: readonly FakeListEdit[]): unknown[] {
  const out: unknown[] = entries.map((entry) => ({ ...entry }));
  for (const edit of edits) {
    if ('append' in edit) {
      out.push(edit.append);
      continue;
    }
    const pair = 'omit' in edit ? edit.omit : 'duplicate' in edit ? edit.duplicate : edit.pair;
    const index = out.findIndex((entry) => isEntryOf(entry, pair));
    if (index < 0) continue;
    const entry = out[index] as Record<string, unknown>;
    if ('omit' in edit) out.splice(index, 1);
    else if ('duplicate' in edit) out.push(patched(entry, edit.set ?? {}));
    else out[index] = patched(entry, edit.set);
  }
  return out;
}

/** Throws a RangeError naming `field` unless `value` is a valid pair (any case); returns it upper-cased. */
export function requirePair(value: string, field: string): string {
  const pair = normalizePair(value);
  if (!isValidPair(pair)) {
    throw new RangeError(`${field} must be a pair such as BTC-USD, got ${JSON.stringify(value)}`);
  }
  return pair;
}

/** Throws a RangeError naming `field` unless `value` is a currency code (any case); returns it upper-cased. */
export function requireCurrency(value: string, field: string): string {
  const currency = asCurrency(value);
  if (currency === undefined) {
    throw new RangeError(
      `${field} must be a currency code of 2 to 12 letters or digits such as USD, got ${JSON.stringify(value)}`,
    );
  }
  return currency;
}

function isEntryOf(entry: unknown, pair: string): boolean {
  if (typeof entry !== 'object' || entry === null) return false;
  const { pair: compact, currency } = listEntry(pair, { ask: '', bid: '' });
  const fields = entry as Record<string, unknown>;
  return fields.pair === compact && fields.currency === currency;
}

function patched(entry: Record<string, unknown>, patch: ListEntryPatch): Record<string, unknown> {
  const copy = { ...entry };
  for (const [field, value] of Object.entries(patch)) {
    if (value === null) delete copy[field];
    else if (value !== undefined) copy[field] = value;
  }
  return copy;
}

function positiveDecimal(value: string): Decimal | undefined {
  if (!isDecimalString(value)) return undefined;
  const parsed = new Decimal(value);
  return parsed.isPositive() && !parsed.isZero() ? parsed : undefined;
}

function reciprocal(
  value: Decimal,
  rounding: typeof Decimal.ROUND_UP | typeof Decimal.ROUND_DOWN,
): string | undefined {
  let inverse = new Decimal(1).dividedBy(value).toSignificantDigits(INVERSE_SIGNIFICANT_DIGITS, rounding);
  if (inverse.decimalPlaces() > MAX_DECIMALS) inverse = inverse.toDecimalPlaces(MAX_DECIMALS, rounding);
  const text = formatDecimal(inverse);
  return !inverse.isZero() && isDecimalString(text) ? text : undefined;
}
