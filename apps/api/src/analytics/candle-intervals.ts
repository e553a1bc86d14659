/** The candle intervals served, and their length in seconds (price_candles.interval_s). */
export const CANDLE_INTERVALS = { '1m': 60, '5m': 300, '1h': 3600, '1d': 86_400 } as const;
export type CandleInterval = keyof typeof CANDLE_INTERVALS;
export const CANDLE_FIELDS = ['ask', 'bid', 'mid'] as const;
export type CandleField = (typeof CANDLE_FIELDS)[number];
/** At most this many candles in one answer. */
export const MAX_CANDLES = 1000;

/** The start of the bucket of `interval_s` seconds that holds `ms` (UTC; buckets start at the epoch). */
export function bucketStart(ms: number, intervalS: number): number {
  const size = intervalS * 1000;
  return Math.floor(ms / size) * size;
}

/** How many candles of `intervalS` the range [since, until) can give: buckets from since's to until's. */
export function candleCount(sinceMs: number, untilMs: number, intervalS: number): number {
  if (untilMs <= sinceMs) return 0;
  const size = intervalS * 1000;
  return Math.ceil((untilMs - bucketStart(sinceMs, intervalS)) / size);
}
