/** `Date#toISOString()`'s format (milliseconds, UTC), written by Postgres: for rows served as they come. */
export const isoText = (column: string): string =>
  `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
