import { HttpException } from '@nestjs/common';
import { CandlesService } from './candles.service';
import { QueryCandlesDto } from './dto/query-candles.dto';
import type { TickArchiveRepository } from './tick-archive.repository';

describe(CandlesService.name, () => {
  const candles = jest.fn().mockResolvedValue([]);
  const sut = new CandlesService({ candles } as unknown as TickArchiveRepository);

  it.each([
    ['1m', /more than 1000; narrow it or take longer buckets \(interval=5m, 1h or 1d\)$/],
    ['1h', /more than 1000; narrow it or take longer buckets \(interval=1d\)$/],
    ['1d', /more than 1000; narrow it$/],
  ] as const)(
    'a range of too many %s candles names the longer intervals there are',
    async (interval, message) => {
      const query = Object.assign(new QueryCandlesDto(), { interval, since: '2020-01-01' });
      const error: unknown = await sut
        .candles('BTC-USD', query, Date.parse('2026-12-07'))
        .catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(HttpException);
      expect(((error as HttpException).getResponse() as { message: string[] }).message[0]).toMatch(message);
      expect(candles).not.toHaveBeenCalled();
    },
  );
});
