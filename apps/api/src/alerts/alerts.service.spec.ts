import { HttpException } from '@nestjs/common';
import type { AlertsRepository } from './alerts.repository';
import { AlertsService } from './alerts.service';
import { QueryAlertStatsDto } from './dto/query-alert-stats.dto';
import { QueryAlertsDto } from './dto/query-alerts.dto';

const query = (values: Partial<QueryAlertsDto>) => Object.assign(new QueryAlertsDto(), values);

describe(AlertsService.name, () => {
  const history = jest.fn().mockResolvedValue([]);
  const sut = new AlertsService({ history } as unknown as AlertsRepository);

  beforeEach(() => history.mockClear());

  // GET /alerts?since=2026-12-08&until=2026-12-07 answered 200 with no alert, where statistics and candles
  // answer 400: a user who swapped the two saw an empty history.
  it('answers 400 naming since when since is after until, reading nothing', async () => {
    const error: unknown = await sut
      .history(query({ since: '2026-12-08', until: '2026-12-07T23:59:59Z' }))
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(HttpException);
    expect((error as HttpException).getStatus()).toBe(400);
    expect((error as HttpException).getResponse()).toMatchObject({
      message: ['since must not be after until'],
      errors: [{ field: 'since', messages: ['since must not be after until'] }],
    });
    expect(history).not.toHaveBeenCalled();
  });

  it.each([
    ['equal bounds (an empty range)', { since: '2026-12-07T00:00:00Z', until: '2026-12-07' }],
    ['since alone', { since: '2026-12-08' }],
    ['until alone', { until: '2026-12-07' }],
  ])('reads the history for %s', async (_label, range) => {
    await expect(sut.history(query(range))).resolves.toEqual({ items: [], nextCursor: null });
    expect(history).toHaveBeenCalledTimes(1);
  });

  // "…; narrow it or take a longer interval": /alerts/stats has no interval, its parameter is bucket.
  it.each([
    ['hour', /more than 1000; narrow it or take longer buckets \(bucket=day\)$/],
    ['day', /more than 1000; narrow it$/],
  ] as const)('a stats range of too many %s buckets names what to change', async (bucket, message) => {
    const error: unknown = await sut
      .stats(
        Object.assign(new QueryAlertStatsDto(), { bucket, since: '2020-01-01' }),
        Date.parse('2026-12-07'),
      )
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(HttpException);
    expect(((error as HttpException).getResponse() as { message: string[] }).message[0]).toMatch(message);
  });
});
