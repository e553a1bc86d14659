import { ApiProperty } from '@nestjs/swagger';

/** As `GET /alerts` serves it; the history query returns rows of exactly this shape. */
export class AlertDto {
  /** Made by the worker that saw the oscillation. */
  id: string;
  monitorId: string;
  /** @example BTC-USD */
  pair: string;
  /** The rule of the monitor that fired (`r1` for alerts from before rules existed). @example r1 */
  ruleId: string;
  /** The rule's kind. @example cross */
  kind: 'move' | 'cross' | 'window' | 'trailing' | 'spread';
  /**
   * Kind-specific facts: `level` (cross), `windowMs`, `min`, `max` (window), `peak`/`trough` (trailing),
   * `spreadPercent` (spread)…; `{}` for alerts from before rules existed.
   */
  details: Record<string, string | number>;
  /** Which way the price moved. */
  direction: 'up' | 'down';
  /** Which price of the ticker was watched. */
  priceField: 'ask' | 'bid' | 'mid';
  /** The price the change is measured from, as an exact decimal string. @example "63120.45" */
  referencePrice: string;
  /** The price that crossed the threshold. @example "63190.12" */
  price: string;
  /** Signed change in percent, exact decimal string. @example "0.11037634" */
  changePercent: string;
  /** The monitor's threshold when the alert fired. @example "0.01" */
  thresholdPercent: string;
  intervalMs: number;
  /** When the worker saw the price (ISO-8601). */
  observedAt: string;
  /** When the API stored the alert. */
  createdAt: string;
}

export class AlertPageDto {
  /** Newest first. */
  items: AlertDto[];
  /** Pass as `cursor` to read the next page; null on the last page. */
  nextCursor: string | null;
}

/** One bucket of GET /alerts/stats. */
export class AlertStatsBucketDto {
  /** The bucket's start (UTC), ISO-8601. */
  t: string;
  /** Alerts observed in the bucket. */
  total: number;
  /**
   * Counts by rule kind, then by direction: `{"move": {"up": 2, "down": 1}}`. Kinds and directions with no alert
   * in the bucket are left out.
   */
  @ApiProperty({
    type: 'object',
    additionalProperties: { type: 'object', additionalProperties: { type: 'integer' } },
    example: { move: { up: 2, down: 1 } },
  })
  byKind: Record<string, Record<string, number>>;
}
