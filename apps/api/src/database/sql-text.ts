/** `Date#toISOString()`'s format (milliseconds, UTC), written by Postgres: for rows served as they come. */
export const isoText = (column: string): string =>
  `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

const NEEDS_ESCAPE = /["\\]/;

/**
 * A Postgres array literal of text elements, `{"a","b"}`, for a `$n::type[]` parameter: what the pg driver
 * makes of a JS array, without its per-element work (a hot path passes eleven arrays of thousands). Every
 * element is quoted (so no value can read as NULL or be cut at a comma or space), and `"` and `\` escaped.
 */
export function pgArrayLiteral(values: readonly (string | number)[]): string {
  let text = '{';
  for (let i = 0; i < values.length; i++) {
    const value = String(values[i]);
    if (i > 0) text += ',';
    text += NEEDS_ESCAPE.test(value) ? `"${value.replace(/["\\]/g, '\\$&')}"` : `"${value}"`;
  }
  return `${text}}`;
}
