/** One OHLC candle of a pair's archived ticks. Prices are exact decimal strings. */
export class CandleDto {
  /** The bucket's start (UTC), ISO-8601. */
  t!: string;
  /** The price of the bucket's first tick. */
  open!: string;
  high!: string;
  low!: string;
  /** The price of the bucket's last tick. */
  close!: string;
  /** Ticks in the bucket. */
  ticks!: number;
}
