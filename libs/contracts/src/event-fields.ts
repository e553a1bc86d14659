import { z } from 'zod';
import { DECIMAL_PATTERN } from './decimal';
import { describeIssues } from './schema-issues';

/** The field schemas the stream events share (alert-event.ts, tick-event.ts), each written once. */

/** A price or a percentage as an exact decimal string, e.g. "63120.45". */
export const decimalString = z.string().regex(DECIMAL_PATTERN, 'must be a decimal string');

/** Whether a decimal string (one {@link decimalString} takes) is greater than 0. */
export const isAboveZero = (v: string): boolean => !/^-|^0+(\.0+)?$/.test(v);

/** A decimal string greater than 0 (a price). */
export const positiveDecimalString = decimalString.refine(isAboveZero, 'must be greater than 0');

/**
 * An instant as RFC 3339 with its offset, at most millisecond precision (what a JS Date and the history
 * cursors carry: a finer time could repeat or skip at a page boundary), no earlier than `earliestMs`
 * (`earliestText` says it in the refusal).
 */
export function instantString(earliestMs: number, earliestText: string) {
  return z
    .string()
    .datetime({ offset: true })
    .refine((v) => !/\.\d{4,}/.test(v), 'must have at most millisecond precision')
    .refine((v) => Date.parse(v) >= earliestMs, `must be no earlier than ${earliestText}`);
}

/** What parsing a stream entry's JSON gives: the event, or why it was refused (which field, and what). */
export type ParsedEvent<T> = { ok: true; event: T } | { ok: false; error: string };

/** Parses the JSON text of a stream entry against `schema`; never throws. */
export function parseEventJson<S extends z.ZodTypeAny>(
  schema: S,
  json: string | undefined | null,
): ParsedEvent<z.infer<S>> {
  if (typeof json !== 'string') return { ok: false, error: 'entry has no event field' };
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (error) {
    return { ok: false, error: `event is not JSON: ${(error as Error).message}` };
  }
  const result = schema.safeParse(raw);
  if (result.success) return { ok: true, event: result.data as z.infer<S> };
  return { ok: false, error: describeIssues(result.error, 'event') };
}

/**
 * The hot path's reading of a stream entry: `plain` recognises only the shape workers publish, with plain checks
 * (it may accept less than the schema, never more); whatever it does not take goes to the schema, which accepts
 * it or says why not. Never throws.
 */
export function parseEventJsonFast<S extends z.ZodTypeAny>(
  schema: S,
  plain: (raw: unknown) => z.infer<S> | undefined,
  json: string | undefined | null,
): ParsedEvent<z.infer<S>> {
  if (typeof json === 'string') {
    let raw: unknown;
    try {
      raw = JSON.parse(json);
    } catch {
      raw = undefined;
    }
    const event = plain(raw);
    if (event) return { ok: true, event };
  }
  return parseEventJson(schema, json);
}
