import { Global, Module } from '@nestjs/common';
import { AlertStreamRepository } from './alert-stream.repository';
import { WorkerStateReader } from './worker-state.reader';

/** The API's two doors to Redis; nothing else in the API speaks to it. */
@Global()
@Module({
  providers: [AlertStreamRepository, WorkerStateReader],
  exports: [AlertStreamRepository, WorkerStateReader],
})
export class RedisModule {}
