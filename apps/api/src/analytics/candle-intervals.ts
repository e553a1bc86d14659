/** The candle intervals served, and their length in seconds (price_candles.interval_s). */
export const CANDLE_INTERVALS = { '1m': 60, '5m': 300, '1h': 3600, '1d': 86_400 } as const;
export type CandleInterval = keyof typeof CANDLE_INTERVALS;
export const CANDLE_FIELDS = ['ask', 'bid', 'mid'] as const;
export type CandleField = (typeof CANDLE_FIELDS)[number];
/** At most this many candles in one answer. */
export const MAX_CANDLES = 1000;
