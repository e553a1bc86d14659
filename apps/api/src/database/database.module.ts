import { Global, Module } from '@nestjs/common';
import { DatabaseRepository } from './database.repository';

/** Postgres itself (liveness, advisory locks), for every module; the tables have repositories of their own. */
@Global()
@Module({
  providers: [DatabaseRepository],
  exports: [DatabaseRepository],
})
export class DatabaseModule {}
