import { Global, Module } from '@nestjs/common';
import { DatabaseRepository } from './database.repository';
import { PoolWarmup } from './pool-warmup';
import { ReadReplica } from './read-replica';

/**
 * Postgres itself (liveness, advisory locks) and the read replica's routing, for every module; the tables have
 * repositories of their own.
 */
@Global()
@Module({
  providers: [DatabaseRepository, ReadReplica, PoolWarmup],
  exports: [DatabaseRepository, ReadReplica],
})
export class DatabaseModule {}
