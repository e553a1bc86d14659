import { IsIn, IsOptional } from 'class-validator';
import { IsInstant } from '../../common/validators';
import { CANDLE_FIELDS, CANDLE_INTERVALS, CandleField, CandleInterval } from '../candle-intervals';

export class QueryCandlesDto {
  /** The candle's length: 1m, 5m, 1h or 1d (UTC buckets). */
  @IsIn(Object.keys(CANDLE_INTERVALS), { message: 'interval must be one of 1m, 5m, 1h, 1d' })
  interval!: CandleInterval;

  /** The price the candles follow: ask (default), bid or mid = (ask + bid) / 2. */
  @IsOptional()
  @IsIn(CANDLE_FIELDS, { message: 'field must be one of ask, bid, mid' })
  field?: CandleField;

  /**
   * Candles from the one holding this instant (ISO-8601 with an offset, or a date: UTC midnight); default:
   * 1,000 intervals before `until`.
   */
  @IsOptional()
  @IsInstant({ message: 'since must be an ISO-8601 date-time with an offset, e.g. 2025-01-02T03:04:05Z' })
  since?: string;

  /** Candles starting before this instant; default: now. */
  @IsOptional()
  @IsInstant({ message: 'until must be an ISO-8601 date-time with an offset, e.g. 2025-01-02T03:04:05Z' })
  until?: string;
}
