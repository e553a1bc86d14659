/** Two currency codes joined by a dash, upper-case letters and digits only. */
export const PAIR_PATTERN = /^[A-Z0-9]{2,12}-[A-Z0-9]{2,12}$/;

/** One currency code, as in Uphold's `GET /v0/ticker/{CURRENCY}`. */
export const CURRENCY_PATTERN = /^[A-Z0-9]{2,12}$/;

export const PAIR_RULE_MESSAGE =
  'pair must be two currency codes of 2 to 12 letters or digits joined by a dash, e.g. BTC-USD';

/**
 * Upper-cases the ASCII letters of a candidate pair, and nothing else: "ß" must not become "SS" and pass.
 * The result still has to pass {@link isValidPair}.
 */
export function normalizePair(value: string): string {
  return value.replace(/[a-z]+/g, (letters) => letters.toUpperCase());
}

export function isValidPair(value: unknown): value is string {
  return typeof value === 'string' && PAIR_PATTERN.test(value);
}
