import { IsIn, IsOptional } from 'class-validator';
import { TimeRangeQueryDto } from '../../common/dto/time-range-query.dto';
import { CANDLE_FIELDS, CANDLE_INTERVALS, CandleField, CandleInterval } from '../candle-intervals';

/**
 * GET /pairs/:pair/candles: the candles starting from the one holding `since` (default: 1,000 intervals before
 * `until`) and before `until` (default: now).
 */
export class QueryCandlesDto extends TimeRangeQueryDto {
  /** The candle's length: 1m, 5m, 1h or 1d (UTC buckets). */
  @IsIn(Object.keys(CANDLE_INTERVALS), { message: 'interval must be one of 1m, 5m, 1h, 1d' })
  interval!: CandleInterval;

  /** The price the candles follow: ask (default), bid or mid = (ask + bid) / 2. */
  @IsOptional()
  @IsIn(CANDLE_FIELDS, { message: 'field must be one of ask, bid, mid' })
  field?: CandleField;
}
