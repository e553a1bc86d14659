import { describeDecimalInput, InvalidDecimalError } from './decimal';

/**
 * Exact decimals as scaled integers, for the detectors' per-tick decisions (rule-detectors.ts): a price is parsed
 * once per tick into a BigInt at one common scale, so comparing two prices is comparing two integers, and a
 * decision such as "(price − min) × 100 ≥ threshold × min" is two BigInt products compared — exact like the
 * decimal.js arithmetic it replaces, without its per-operation objects. (Safe-integer doubles would be faster
 * where the digits fit, but a product of two prices outgrows 2^53 at once, and a second code path for the rest
 * would have to be kept equal to this one; measured, BigInt alone keeps the backtest well within its goal.)
 */

/**
 * Fraction digits of every scaled price. DECIMAL_PATTERN allows 30; one more keeps a mid, (ask + bid) / 2, exact:
 * a price of at most 30 fraction digits scaled to 31 ends in a 0, so the sum of two is even.
 */
export const PRICE_SCALE = 31;

const POW10: bigint[] = [];
for (let i = 0, p = 1n; i <= 2 * PRICE_SCALE; i++, p *= 10n) POW10.push(p);

/** 10^n for 0 ≤ n ≤ 62. */
export function pow10(n: number): bigint {
  return POW10[n];
}

/** Most digits a double holds exactly as an integer (2^53 ≈ 9.007 × 10^15). */
const SAFE_DIGITS = 15;

/**
 * The digits and the scale of a plain decimal literal (DECIMAL_PATTERN: optional sign, 1–30 digits, optional
 * fraction of 1–30, or of up to `maxScale`), read in one pass; undefined when `text` is not one.
 * "-12.50" → { units: -1250n, scale: 2 }.
 */
export function parseDecimalUnits(text: string, maxScale = 30): { units: bigint; scale: number } | undefined {
  const length = text.length;
  let i = 0;
  const negative = length > 0 && text.charCodeAt(0) === 45;
  if (negative) i = 1;
  const intStart = i;
  while (i < length && isDigit(text.charCodeAt(i))) i++;
  const intDigits = i - intStart;
  if (intDigits < 1 || intDigits > 30) return undefined;
  let scale = 0;
  if (i < length) {
    if (text.charCodeAt(i) !== 46) return undefined;
    const fracStart = ++i;
    while (i < length && isDigit(text.charCodeAt(i))) i++;
    scale = i - fracStart;
    if (scale < 1 || scale > maxScale || i !== length) return undefined;
  }
  const digits = intDigits + scale;
  let units: bigint;
  if (digits <= SAFE_DIGITS) {
    // Few digits (every usual price): a double accumulates them exactly, one BigInt made at the end.
    let n = 0;
    for (let k = intStart; k < length; k++) {
      const c = text.charCodeAt(k);
      if (c !== 46) n = n * 10 + (c - 48);
    }
    units = BigInt(n);
  } else {
    units = BigInt(
      scale === 0
        ? text.slice(intStart)
        : text.slice(intStart, length - scale - 1) + text.slice(length - scale),
    );
  }
  return { units: negative ? -units : units, scale };
}

function isDigit(code: number): boolean {
  return code >= 48 && code <= 57;
}

/**
 * A price at {@link PRICE_SCALE}: throws an InvalidDecimalError naming `field` when it is not a positive plain
 * decimal (the messages of parsePositiveDecimal).
 */
export function parsePositivePrice(value: unknown, field: string): bigint {
  const parsed = typeof value === 'string' ? parseDecimalUnits(value) : undefined;
  if (parsed === undefined) {
    throw new InvalidDecimalError(`${field} must be a decimal string, got ${describeDecimalInput(value)}`);
  }
  if (parsed.units <= 0n)
    throw new InvalidDecimalError(`${field} must be greater than 0, got "${String(value)}"`);
  return parsed.scale === PRICE_SCALE ? parsed.units : parsed.units * POW10[PRICE_SCALE - parsed.scale];
}

/**
 * A price this module's own prices were written as (a ticker's text, or a mid {@link formatScaled} wrote, which
 * may have PRICE_SCALE fraction digits) at {@link PRICE_SCALE}; a window keeps its prices as such texts.
 */
export function scaledPriceOf(text: string): bigint {
  const parsed = parseDecimalUnits(text, PRICE_SCALE);
  if (parsed === undefined) throw new InvalidDecimalError(`not a price: ${describeDecimalInput(text)}`);
  return parsed.units * POW10[PRICE_SCALE - parsed.scale];
}

/**
 * A percentage a rule was built with (validated: a plain decimal, ≥ 0), as `units / unit`: "0.25" → 25n / 100n,
 * so that "x ≥ p % of y" is decided as x × 100 × unit ≥ units × y.
 */
export interface ScaledPercent {
  units: bigint;
  /** 10^(its fraction digits). */
  unit: bigint;
  /** 100 × unit: what the left side of such a comparison is multiplied by. */
  hundredUnit: bigint;
}

/** Throws an InvalidDecimalError naming `field` when `text` is not a plain decimal above 0 (or at least 0). */
export function parsePercent(
  text: string,
  field: string,
  min: 'positive' | 'non-negative' = 'positive',
): ScaledPercent {
  const parsed = parseDecimalUnits(text);
  if (parsed === undefined) {
    throw new InvalidDecimalError(`${field} must be a decimal string, got ${describeDecimalInput(text)}`);
  }
  if (parsed.units < 0n || (min === 'positive' && parsed.units === 0n)) {
    const bound = min === 'positive' ? 'greater than 0' : '0 or more';
    throw new InvalidDecimalError(`${field} must be ${bound}, got "${text}"`);
  }
  const unit = POW10[parsed.scale];
  return { units: parsed.units, unit, hundredUnit: 100n * unit };
}

/** A scaled integer written as a plain decimal without trailing zeros (as decimal.js's toFixed()): "60000.5", "0", "-1.25". */
export function formatScaled(value: bigint, scale: number = PRICE_SCALE): string {
  if (value === 0n) return '0';
  const negative = value < 0n;
  const digits = (negative ? -value : value).toString();
  let text: string;
  if (scale === 0) text = digits;
  else {
    const padded = digits.length <= scale ? '0'.repeat(scale - digits.length + 1) + digits : digits;
    const cut = padded.length - scale;
    let end = padded.length;
    while (end > cut && padded.charCodeAt(end - 1) === 48) end--;
    text = end === cut ? padded.slice(0, cut) : `${padded.slice(0, cut)}.${padded.slice(cut, end)}`;
  }
  return negative ? `-${text}` : text;
}

/**
 * `numerator / denominator` (denominator > 0) rounded half-even to `places` decimals and written as
 * {@link formatScaled} does; for the `changePercent` an alert shows (never for a decision).
 */
export function formatRatio(numerator: bigint, denominator: bigint, places: number): string {
  const scaled = numerator * POW10[places];
  let quotient = scaled / denominator;
  const remainder = scaled % denominator;
  if (remainder !== 0n) {
    const twice = 2n * (remainder < 0n ? -remainder : remainder);
    if (twice > denominator || (twice === denominator && quotient % 2n !== 0n))
      quotient += scaled < 0n ? -1n : 1n;
  }
  return formatScaled(quotient, places);
}
