/** The durable path: every alert is appended here and read by the API's consumer group. */
export const ALERTS_STREAM = 'pairwatch:alerts';
/** Consumer group through which the API reads {@link ALERTS_STREAM}. */
export const ALERTS_CONSUMER_GROUP = 'pairwatch-api';
/** Events that could not be parsed end up here, with the reason, instead of being retried forever. */
export const ALERTS_DEAD_LETTER_STREAM = 'pairwatch:alerts:dead-letter';
/** The field of a stream entry that holds the JSON event. */
export const ALERT_EVENT_FIELD = 'event';

/** The live path: best-effort pub/sub channel per pair. */
export function alertsChannel(pair: string): string {
  return `pairwatch:alerts:${pair}`;
}

/** Hash where a worker reports its state; it carries a TTL so a silent worker shows. */
export function workerStateKey(monitorId: string): string {
  return `pairwatch:worker:${monitorId}`;
}

/** Capped stream of a worker's recent ticks (schema: worker-prices.ts); it carries a TTL too. */
export function workerPricesKey(monitorId: string): string {
  return `pairwatch:prices:${monitorId}`;
}

/** Every tick a worker evaluates (schema: tick-event.ts), read by the API's tick archive through its group. */
export const TICKS_STREAM = 'pairwatch:ticks';
/** Consumer group through which the API's tick archive reads {@link TICKS_STREAM}. */
export const TICKS_CONSUMER_GROUP = 'pairwatch-archive';
/** Tick events that cannot be archived (a bad price, a malformed entry), with the reason. */
export const TICKS_DEAD_LETTER_STREAM = 'pairwatch:ticks:dead-letter';
/** The field of a tick stream entry that holds the JSON event. */
export const TICK_EVENT_FIELD = 'event';
