/**
 * Pieces for reading text exactly as this project's own writers make it (Date#toISOString's instants, compact
 * JSON in a fixed key order) with one anchored pattern instead of JSON.parse and a schema: the hot readers of
 * worker prices and tick events. A text that does not match goes to the schema, which names the reason.
 */

/** An instant as Date#toISOString writes it: UTC, milliseconds, 24 characters. */
export const CANONICAL_AT =
  /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:[0-5]\d\.\d{3}Z$/;

/**
 * A pattern's source without its anchors and with its groups made non-capturing, to build a larger anchored
 * pattern from it whose own groups are the only ones capturing.
 */
export function unanchored(pattern: RegExp): string {
  const source = pattern.source;
  if (!source.startsWith('^') || !source.endsWith('$')) throw new Error(`not anchored: ${source}`);
  return source.slice(1, -1).replace(/(?<!\\)\((?!\?)/g, '(?:');
}

/** The number written by `length` ASCII digits of `text` from `start`. */
function digitsAt(text: string, start: number, length: number): number {
  let value = 0;
  for (let i = start; i < start + length; i++) value = value * 10 + text.charCodeAt(i) - 48;
  return value;
}

/**
 * {@link CANONICAL_AT} allows any day up to 31 in any month; the schemas (zod's datetime) know the calendar.
 * Days past the 28th of a canonical instant (starting at `start` in `text`) are checked here the same way.
 */
export function dayExists(text: string, start: number): boolean {
  const day = digitsAt(text, start + 8, 2);
  if (day <= 28) return true;
  const year = digitsAt(text, start, 4);
  const month = digitsAt(text, start + 5, 2);
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  const days =
    month === 2 ? (leap ? 29 : 28) : month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
  return day <= days;
}

/**
 * Whether an instant a schema took (RFC 3339, at most millisecond precision) is in {@link CANONICAL_AT}'s form:
 * of those, only that form has 24 characters ending in Z. Canonical instants compare and key as text.
 */
export function isCanonicalAt(at: string): boolean {
  return at.length === 24 && at.endsWith('Z');
}
