import { Global, Module } from '@nestjs/common';
import { AlertStreamRepository } from './alert-stream.repository';
import { TickStreamRepository } from './tick-stream.repository';
import { WorkerStateReader } from './worker-state.reader';

/** The API's doors to Redis (the alerts and ticks streams, worker state); nothing else in the API speaks to it. */
@Global()
@Module({
  providers: [AlertStreamRepository, TickStreamRepository, WorkerStateReader],
  exports: [AlertStreamRepository, TickStreamRepository, WorkerStateReader],
})
export class RedisModule {}
