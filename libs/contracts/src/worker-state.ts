import { z } from 'zod';
import { DECIMAL_PATTERN } from './decimal';
import { describeIssues } from './schema-issues';

/**
 * The state hash a worker keeps under workerStateKey(monitorId), renewed on every
 * tick with a TTL so a silent worker shows as stale. The worker writes it with {@link encodeWorkerState};
 * the API reads it with {@link parseWorkerState}. One schema, so the two cannot drift apart.
 */
export const WORKER_STATUSES = [
  /** polling; the last tick went well */
  'running',
  /** the last quote carried a price the detector refused */
  'degraded',
  /** backing off after a network error, a 5xx or an unusable answer */
  'retrying',
  /** waiting out a 429 */
  'rate-limited',
  /** Uphold does not know the pair: the worker is exiting */
  'unknown-pair',
  'stopped',
] as const;
export type WorkerStatus = (typeof WORKER_STATUSES)[number];

const count = z.number().int().nonnegative();

export const REPLICATION_STATES = ['off', 'confirmed', 'short'] as const;
export type ReplicationState = (typeof REPLICATION_STATES)[number];
const isoInstant = z.string().datetime({ offset: true });

export const workerStateSchema = z
  .object({
    status: z.enum(WORKER_STATUSES),
    /** When the last tick finished; absent before the first one. */
    lastTickAt: isoInstant.optional(),
    /** The watched price of the last valid quote. */
    lastPrice: z.string().regex(DECIMAL_PATTERN).optional(),
    /** The detector's current reference price. */
    referencePrice: z.string().regex(DECIMAL_PATTERN).optional(),
    consecutiveErrors: count,
    /** Absent when the last tick went well. */
    lastError: z.string().optional(),
    /** Alerts waiting in the worker's memory for Redis. */
    pendingAlerts: count,
    alertsSent: count,
    /** Alerts dropped from a full queue (MAX_PENDING_ALERTS). */
    droppedAlerts: count,
    /**
     * Alerts accepted by a Redis master that had fewer replicas than REDIS_WAIT_REPLICAS (a shard briefly
     * without one); absent from workers older than WAIT.
     */
    unreplicatedAlerts: count.optional(),
    /**
     * REDIS_WAIT_REPLICAS at work: `off` (0), `confirmed` (the last alert reached its replicas) or `short` (it
     * was sent while the master lacked replicas). Absent from workers older than WAIT.
     */
    replication: z.enum(REPLICATION_STATES).optional(),
    pid: count,
    startedAt: isoInstant,
  })
  .strict();

export type WorkerState = z.infer<typeof workerStateSchema>;

const NUMERIC_FIELDS = [
  'consecutiveErrors',
  'pendingAlerts',
  'alertsSent',
  'droppedAlerts',
  'unreplicatedAlerts',
  'pid',
] as const;

/** The hash fields for HSET: every field present, an absent optional one as the empty string. */
export function encodeWorkerState(state: WorkerState): Record<keyof WorkerState, string> {
  return {
    status: state.status,
    lastTickAt: state.lastTickAt ?? '',
    lastPrice: state.lastPrice ?? '',
    referencePrice: state.referencePrice ?? '',
    consecutiveErrors: String(state.consecutiveErrors),
    lastError: state.lastError ?? '',
    pendingAlerts: String(state.pendingAlerts),
    alertsSent: String(state.alertsSent),
    droppedAlerts: String(state.droppedAlerts),
    unreplicatedAlerts: state.unreplicatedAlerts === undefined ? '' : String(state.unreplicatedAlerts),
    replication: state.replication ?? '',
    pid: String(state.pid),
    startedAt: state.startedAt,
  };
}

export type ParsedWorkerState = { ok: true; state: WorkerState } | { ok: false; error: string };

/**
 * Reads a hash as HGETALL returns it. An empty hash (the key expired) and a hash that breaks the schema (a
 * worker of another version, a hand-edited key) are both refusals, with the reason; never throws.
 */
export function parseWorkerState(hash: Record<string, string> | null | undefined): ParsedWorkerState {
  if (!hash || Object.keys(hash).length === 0) return { ok: false, error: 'no state reported' };
  const raw: Record<string, unknown> = {};
  for (const [field, value] of Object.entries(hash)) {
    if (value === '') continue;
    raw[field] =
      (NUMERIC_FIELDS as readonly string[]).includes(field) && /^\d+$/.test(value) ? Number(value) : value;
  }
  const result = workerStateSchema.safeParse(raw);
  if (result.success) return { ok: true, state: result.data };
  return { ok: false, error: describeIssues(result.error, 'state') };
}
