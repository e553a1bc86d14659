/**
 * Every Redis key and channel pairwatch uses, one scheme for standalone, Sentinel and Cluster (docs/REDIS.md).
 *
 * Cluster-safe: each key carries a hash tag (the part in braces), and Redis Cluster places a key by its tag
 * alone. Keys written in one MULTI share a tag, so a transaction never spans two hash slots:
 * - `{alerts}`: the alert stream, its dead-letter stream, the live channels and each monitor's rule state (the
 *   worker's XADD + PUBLISH + HSET of one alert, the API's dead-letter move);
 * - `{m:<monitorId>}`: one monitor's worker state hash and price stream (the worker's state report);
 * - `{ticks}`: the tick archive's stream and its dead-letter stream (the worker's tick events, the API's
 *   dead-letter move).
 * A new key gets the tag of the keys it is written with, or a tag of its own when it is written alone; a read
 * of many keys (the worker states) is one command per key, never one pipeline or MULTI across tags.
 * {@link keyHashSlot} tells the slot of a key, for checks.
 */

/** The hash tag of the alert stream and everything written in the same MULTI as it. */
const ALERTS_TAG = '{alerts}';

/** The durable path: every alert is appended here and read by the API's consumer group. */
export const ALERTS_STREAM = `pairwatch:${ALERTS_TAG}`;
/** Consumer group through which the API reads {@link ALERTS_STREAM}. */
export const ALERTS_CONSUMER_GROUP = 'pairwatch-api';
/** Events that could not be parsed end up here, with the reason, instead of being retried forever. */
export const ALERTS_DEAD_LETTER_STREAM = `pairwatch:${ALERTS_TAG}:dead-letter`;
/** The field of a stream entry that holds the JSON event. */
export const ALERT_EVENT_FIELD = 'event';

/**
 * The alert stream's name before the cluster-safe scheme. An API upgraded from it drains what is left there
 * (pending entries first) through the same consumer group, and deletes it once it is empty; a worker of the
 * old image that still writes there is read too, until it is replaced.
 */
export const LEGACY_ALERTS_STREAM = 'pairwatch:alerts';

/**
 * The live path: a best-effort channel per pair, published in the same MULTI as the stream entry. Standalone
 * and Sentinel: PUBLISH (SUBSCRIBE to it); Cluster: SPUBLISH, a sharded channel served by the shard that holds
 * the stream (SSUBSCRIBE to it), so a message is not broadcast to every node of the cluster.
 */
export function alertsChannel(pair: string): string {
  return `pairwatch:${ALERTS_TAG}:live:${pair}`;
}

/**
 * A monitor's rule state: per rule id, its fires, its last alert's time and that alert's quote (rule-state.ts).
 * Written by the worker in the MULTI that puts the alert on {@link ALERTS_STREAM}, hence in the `{alerts}` slot
 * and not beside the monitor's own keys: an alert is on the stream exactly when it is counted here, on a Redis
 * that fails over too (a MULTI reaches a replica whole or not at all). Read by a worker when it starts.
 */
export function ruleStateKey(monitorId: string): string {
  return `pairwatch:${ALERTS_TAG}:rules:${monitorId}`;
}

/**
 * Set with an alert's stream entry, in the same atomic step, by the worker (alert-publisher.ts): a send of the same
 * alert that finds it writes nothing again. A worker that could not tell whether a send ran (its answer lost: a
 * command timeout on a starved event loop, a connection cut) sends again, and the alert is on the stream once.
 */
export function alertSentKey(alertId: string): string {
  return `pairwatch:${ALERTS_TAG}:sent:${alertId}`;
}

/** The hash tag of one monitor's keys. */
function monitorTag(monitorId: string): string {
  return `{m:${monitorId}}`;
}

/** Hash where a worker reports its state; it carries a TTL so a silent worker shows. */
export function workerStateKey(monitorId: string): string {
  return `pairwatch:${monitorTag(monitorId)}:worker`;
}

/**
 * A worker's rule snapshot (rule-snapshot.ts): a string, written in the MULTI that stores a tick, beside the monitor's
 * other keys (one slot); it carries the price stream's TTL.
 */
export function workerSnapshotKey(monitorId: string): string {
  return `pairwatch:${monitorTag(monitorId)}:snapshot`;
}

/** Capped stream of a worker's recent ticks (schema: worker-prices.ts); it carries a TTL too. */
export function workerPricesKey(monitorId: string): string {
  return `pairwatch:${monitorTag(monitorId)}:prices`;
}

/** Redis Cluster's 16,384 hash slots. */
export const CLUSTER_SLOTS = 16_384;

/** CRC16-CCITT (XMODEM), the checksum Redis Cluster places keys by. */
function crc16(bytes: Uint8Array): number {
  let crc = 0;
  for (const byte of bytes) {
    crc ^= byte << 8;
    for (let bit = 0; bit < 8; bit += 1) {
      crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    }
  }
  return crc;
}

/**
 * The hash slot of a key as Redis Cluster computes it: of the part between the first `{` and the next `}`
 * when that part is not empty, of the whole key otherwise.
 */
export function keyHashSlot(key: string): number {
  const open = key.indexOf('{');
  let hashed = key;
  if (open !== -1) {
    const close = key.indexOf('}', open + 1);
    if (close > open + 1) hashed = key.slice(open + 1, close);
  }
  return crc16(new TextEncoder().encode(hashed)) % CLUSTER_SLOTS;
}

/** The hash tag of the ticks stream and its dead-letter stream (a worker's tick XADDs are a MULTI of their own). */
const TICKS_TAG = '{ticks}';

/** Every tick a worker evaluates (schema: tick-event.ts), read by the API's tick archive through its group. */
export const TICKS_STREAM = `pairwatch:${TICKS_TAG}`;
/** Consumer group through which the API's tick archive reads {@link TICKS_STREAM}. */
export const TICKS_CONSUMER_GROUP = 'pairwatch-archive';
/** Tick events that cannot be archived (a bad price, a malformed entry), with the reason. */
export const TICKS_DEAD_LETTER_STREAM = `pairwatch:${TICKS_TAG}:dead-letter`;
/** The field of a tick stream entry that holds the JSON event. */
export const TICK_EVENT_FIELD = 'event';
