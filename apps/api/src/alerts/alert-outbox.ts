/**
 * What else the ingestion statement writes for the alerts it stored, in that same statement (so in the same
 * transaction): the outbox of the features that deliver alerts (webhooks today). The alerts feature knows only
 * this interface; the feature that owns the deliveries provides it under {@link ALERT_OUTBOX}, so the outbox's
 * SQL has one owner and no import runs from alerts up to it.
 */
export interface AlertOutbox {
  /** An INSERT … SELECT over the common table expression named `stored` (the rows just inserted, RETURNING *). */
  queueSql(stored: string): string;
}

/** The injection token of the {@link AlertOutbox}; without one, storing an alert queues nothing else. */
export const ALERT_OUTBOX = Symbol('AlertOutbox');
