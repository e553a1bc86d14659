import { Injectable } from '@nestjs/common';
import { bucketRange } from '../common/time-buckets';
import { CANDLE_INTERVALS, type CandleInterval, MAX_CANDLES } from './candle-intervals';
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
    const range = bucketRange(
      query,
      intervalS,
      {
        defaultBuckets: MAX_CANDLES,
        maxBuckets: MAX_CANDLES,
        label: `${query.interval} candles`,
        longer: longerIntervals(query.interval),
      },
      now,
    );
    return this.archive.candles(pair, intervalS, query.field ?? 'ask', range.first, range.until, MAX_CANDLES);
  }
}

/** The intervals longer than `interval`, as a hint: "interval=1h or 1d"; none past the longest. */
function longerIntervals(interval: CandleInterval): string | undefined {
  const names = Object.keys(CANDLE_INTERVALS) as CandleInterval[];
  const longer = names.slice(names.indexOf(interval) + 1);
  if (longer.length === 0) return undefined;
  return `interval=${longer.length === 1 ? longer[0] : `${longer.slice(0, -1).join(', ')} or ${longer[longer.length - 1]}`}`;
}
