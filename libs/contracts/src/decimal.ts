import DecimalJs from 'decimal.js';

/**
 * A Decimal constructor of its own so that no other user of decimal.js can change our precision.
 * 100 significant digits: products of two validated prices (at most 40 digits each) stay exact.
 */
export const Decimal = DecimalJs.clone({
  precision: 100,
  rounding: DecimalJs.ROUND_HALF_EVEN,
  toExpNeg: -100,
  toExpPos: 100,
});
export type Decimal = DecimalJs;

/** A plain decimal literal: optional sign, digits, optional fraction. No exponents, no hex, no spaces. */
export const DECIMAL_PATTERN = /^-?\d{1,30}(\.\d{1,30})?$/;

export function isDecimalString(value: unknown): value is string {
  return typeof value === 'string' && DECIMAL_PATTERN.test(value);
}

/** Parses a price as the ticker sends it; throws a message naming the field when it is not a positive decimal. */
export function parsePositiveDecimal(value: unknown, field: string): Decimal {
  if (!isDecimalString(value)) {
    throw new InvalidDecimalError(`${field} must be a decimal string, got ${describeDecimalInput(value)}`);
  }
  const parsed = new Decimal(value);
  if (!parsed.isPositive() || parsed.isZero()) {
    throw new InvalidDecimalError(`${field} must be greater than 0, got "${value}"`);
  }
  return parsed;
}

/** Renders a Decimal without exponent notation. */
export function formatDecimal(value: Decimal, decimalPlaces?: number): string {
  const rounded = decimalPlaces === undefined ? value : value.toDecimalPlaces(decimalPlaces);
  const text = rounded.toFixed();
  return text === '-0' ? '0' : text;
}

export class InvalidDecimalError extends Error {
  override readonly name = 'InvalidDecimalError';
}

/** A rejected value as an error message quotes it: a string (cut at 40 characters), `nothing`, or its type. */
export function describeDecimalInput(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (value === undefined) return 'nothing';
  return typeof value;
}

/**
 * Compares two non-negative plain decimal literals (DECIMAL_PATTERN, no sign) exactly, without building a
 * Decimal: -1, 0 or 1. "1.50" equals "1.5" and "01" equals "1". For code that compares many stored prices
 * (the window's monotonic queues), where a Decimal per entry would cost memory and allocation.
 */
export function compareDecimalText(a: string, b: string): number {
  const aDot = dotIndex(a);
  const bDot = dotIndex(b);
  // Digits aligned at the point and as many on each side (most pairs of prices): ordered as the strings are.
  if (aDot === bDot && a.length === b.length) return a < b ? -1 : a > b ? 1 : 0;
  let aStart = 0;
  while (aStart < aDot - 1 && a.charCodeAt(aStart) === 48) aStart++;
  let bStart = 0;
  while (bStart < bDot - 1 && b.charCodeAt(bStart) === 48) bStart++;
  const aInt = aDot - aStart;
  const bInt = bDot - bStart;
  if (aInt !== bInt) return aInt < bInt ? -1 : 1;
  for (let i = 0; i < aInt; i++) {
    const d = a.charCodeAt(aStart + i) - b.charCodeAt(bStart + i);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  const aFrac = a.length - aDot - 1;
  const bFrac = b.length - bDot - 1;
  const longest = Math.max(aFrac, bFrac);
  for (let i = 0; i < longest; i++) {
    const ca = i < aFrac ? a.charCodeAt(aDot + 1 + i) : 48;
    const cb = i < bFrac ? b.charCodeAt(bDot + 1 + i) : 48;
    if (ca !== cb) return ca < cb ? -1 : 1;
  }
  return 0;
}

function dotIndex(text: string): number {
  const dot = text.indexOf('.');
  return dot < 0 ? text.length : dot;
}
