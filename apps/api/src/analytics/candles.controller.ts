import { Controller, Get, HttpStatus, Param, Query } from '@nestjs/common';
import { ApiBadRequestResponse, ApiOkResponse, ApiSecurity, ApiTags } from '@nestjs/swagger';
import { PAIR_PATTERN, PAIR_RULE_MESSAGE } from '@pairwatch/contracts';
import { httpError } from '../common/http-errors';
import { CandlesService } from './candles.service';
import { CandleDto } from './dto/candle.dto';
import { QueryCandlesDto } from './dto/query-candles.dto';

@ApiTags('pairs')
@ApiSecurity('api-key')
@Controller('pairs')
export class CandlesController {
  constructor(private readonly candles: CandlesService) {}

  /**
   * OHLC candles of a pair from the tick archive, oldest first, at most 1,000: `[{t, open, high, low, close,
   * ticks}]`, prices as exact decimal strings. A pair with no archived ticks in the range answers [].
   */
  @Get(':pair/candles')
  @ApiOkResponse({ type: [CandleDto] })
  @ApiBadRequestResponse({
    description:
      'Bad pair, interval, field, since or until, or a range of more than 1,000 candles; `errors` names the parameter.',
  })
  list(@Param('pair') rawPair: string, @Query() query: QueryCandlesDto): Promise<CandleDto[]> {
    const pair = rawPair.toUpperCase();
    if (!PAIR_PATTERN.test(pair)) throw httpError(HttpStatus.BAD_REQUEST, PAIR_RULE_MESSAGE, 'pair');
    return this.candles.candles(pair, query);
  }
}
