import { HttpStatus, Injectable } from '@nestjs/common';
import { httpError } from '../common/http-errors';
import { bucketStart, CANDLE_INTERVALS, candleCount, MAX_CANDLES } from './candle-intervals';
import type { CandleDto } from './dto/candle.dto';
import type { QueryCandlesDto } from './dto/query-candles.dto';
import { TickArchiveRepository } from './tick-archive.repository';

/** GET /pairs/:pair/candles: OHLC from the rollups the archive keeps (price_candles). */
@Injectable()
export class CandlesService {
  constructor(private readonly archive: TickArchiveRepository) {}

  /**
   * The candles of `pair` whose buckets start in [since's bucket, until), oldest first. A range that would give
   * more than 1,000 is refused (400, naming `since`); `since` after `until` too. No ticks: [].
   */
  async candles(pair: string, query: QueryCandlesDto, now = Date.now()): Promise<CandleDto[]> {
    const intervalS = CANDLE_INTERVALS[query.interval];
    const untilMs = query.until !== undefined ? Date.parse(query.until) : now;
    const sinceMs =
      query.since !== undefined
        ? Date.parse(query.since)
        : bucketStart(untilMs, intervalS) - (MAX_CANDLES - 1) * intervalS * 1000;
    if (sinceMs > untilMs) throw httpError(HttpStatus.BAD_REQUEST, 'since must not be after until', 'since');
    const count = candleCount(sinceMs, untilMs, intervalS);
    if (count > MAX_CANDLES) {
      throw httpError(
        HttpStatus.BAD_REQUEST,
        `since: the range gives ${count} ${query.interval} candles, more than ${MAX_CANDLES}; narrow it or take a longer interval`,
        'since',
      );
    }
    return this.archive.candles(
      pair,
      intervalS,
      query.field ?? 'ask',
      new Date(bucketStart(sinceMs, intervalS)),
      new Date(untilMs),
      MAX_CANDLES,
    );
  }
}
