import { BadRequestException } from '@nestjs/common';

/** Position in the newest-first history: the last row of the previous page. */
export interface AlertCursor {
  observedAt: Date;
  id: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * Earliest instant a cursor may hold: Postgres's timestamptz starts in 4714 BC (a JS Date goes back to
 * 271821 BC, which reached the query as "timestamp out of range", a 500). Every stored alert is later anyway;
 * the latest JS date, +275760, is within Postgres's range.
 */
const EARLIEST_MS = Date.UTC(-4712, 0, 1);

/** Cursors are opaque to clients: base64url of a small versioned JSON. */
export function encodeCursor(cursor: AlertCursor): string {
  return Buffer.from(JSON.stringify({ v: 1, t: cursor.observedAt.toISOString(), id: cursor.id })).toString(
    'base64url',
  );
}

/**
 * Refuses anything that is not a cursor this API made, with a 400 naming the field (`cursor`, or where else the
 * cursor came from: the stream's `after` or `Last-Event-ID`).
 */
export function decodeCursor(text: string, field = 'cursor'): AlertCursor {
  const invalid = () =>
    new BadRequestException({
      message: [`${field} is not valid`],
      errors: [{ field, messages: [`${field} is not valid`] }],
    });
  if (!/^[A-Za-z0-9_-]{1,200}$/.test(text)) throw invalid();
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    throw invalid();
  }
  const candidate = parsed as { v?: unknown; t?: unknown; id?: unknown } | null;
  if (
    typeof candidate !== 'object' ||
    candidate === null ||
    candidate.v !== 1 ||
    typeof candidate.t !== 'string' ||
    typeof candidate.id !== 'string' ||
    !UUID.test(candidate.id)
  ) {
    throw invalid();
  }
  const observedAt = new Date(candidate.t);
  if (
    Number.isNaN(observedAt.getTime()) ||
    observedAt.toISOString() !== candidate.t ||
    observedAt.getTime() < EARLIEST_MS
  ) {
    throw invalid();
  }
  return { observedAt, id: candidate.id };
}
