import { BadRequestException, Type } from '@nestjs/common';
import { QueryAlertStatsDto } from '../../alerts/dto/query-alert-stats.dto';
import { QueryAlertsDto } from '../../alerts/dto/query-alerts.dto';
import { QueryCandlesDto } from '../../analytics/dto/query-candles.dto';
import { SnoozeDto } from '../../channels/dto/create-channel.dto';
import { BacktestDto } from '../../monitors/dto/backtest.dto';
import { QueryPricesDto } from '../../monitors/dto/query-prices.dto';
import type { FieldError } from '../http-errors';
import { createValidationPipe } from '../validation';

const pipe = createValidationPipe();

async function messagesOf(metatype: Type<unknown>, value: unknown, type: 'body' | 'query', field: string) {
  const error: unknown = await pipe.transform(value, { type, metatype }).then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(BadRequestException);
  const body = (error as BadRequestException).getResponse() as { errors: FieldError[] };
  return body.errors.find((e) => e.field === field)?.messages ?? [];
}

describe('since and until refused: the message names both forms accepted', () => {
  // GET /alerts?since=yesterday said "must be an ISO-8601 date-time with an offset", though 2026-12-07 (a plain
  // date, UTC midnight) is accepted as well.
  it.each<[string, Record<string, unknown>, string, Type<unknown>, 'body' | 'query']>([
    ['GET /alerts', { since: 'yesterday' }, 'since', QueryAlertsDto, 'query'],
    ['GET /alerts', { until: '2026-13-01' }, 'until', QueryAlertsDto, 'query'],
    ['GET /alerts/stats', { since: 'yesterday' }, 'since', QueryAlertStatsDto, 'query'],
    ['GET /pairs/:pair/candles', { interval: '1m', until: 'now' }, 'until', QueryCandlesDto, 'query'],
    ['GET /monitors/:id/prices', { since: '2026-12-07T10:00' }, 'since', QueryPricesDto, 'query'],
    ['POST /monitors/backtest', { pair: 'BTC-USD', rules: [], since: 'x' }, 'since', BacktestDto, 'body'],
    ['POST /monitors/backtest', { pair: 'BTC-USD', rules: [], until: 'x' }, 'until', BacktestDto, 'body'],
    ['POST /channels/:id/snooze (and /monitors/:id/mute)', { until: 'tomorrow' }, 'until', SnoozeDto, 'body'],
  ])('%s %j', async (_route, value, field, metatype, type) => {
    expect(await messagesOf(metatype, value, type, field)).toEqual([
      `${field} must be an ISO-8601 date-time with an offset (e.g. 2025-01-02T03:04:05Z) or a date (2025-01-02, UTC midnight)`,
    ]);
  });
});
