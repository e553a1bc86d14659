import { Global, Module } from '@nestjs/common';
import { AlertStreamRepository } from './alert-stream.repository';
import { CachingWorkerStateParser } from './caching-worker-state-parser';
import { CachingPriceStreamReader } from './price-cache';
import { PriceStreamReader } from './price-stream.reader';
import { RecentPrices } from './recent-prices';
import { TickStreamRepository } from './tick-stream.repository';
import { WorkerStateParser } from './worker-state-parser';
import { WorkerStateReader } from './worker-state.reader';

/**
 * The API's doors to Redis (the alerts and ticks streams, worker state, recent prices); nothing else in the API
 * speaks to it. The two speed-ups are chosen here, each a wrapper of the plain class that is the correctness:
 * `{ provide: WorkerStateParser, useClass: WorkerStateParser }` or `{ provide: RecentPrices, useExisting:
 * PriceStreamReader }` runs without one.
 */
@Global()
@Module({
  providers: [
    AlertStreamRepository,
    TickStreamRepository,
    WorkerStateReader,
    PriceStreamReader,
    {
      provide: WorkerStateParser,
      useFactory: (): WorkerStateParser => new CachingWorkerStateParser(new WorkerStateParser()),
    },
    {
      provide: RecentPrices,
      useFactory: (plain: PriceStreamReader): RecentPrices => new CachingPriceStreamReader(plain),
      inject: [PriceStreamReader],
    },
  ],
  exports: [AlertStreamRepository, TickStreamRepository, WorkerStateReader, RecentPrices],
})
export class RedisModule {}
