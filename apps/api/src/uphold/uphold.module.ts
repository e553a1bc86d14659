import { Module } from '@nestjs/common';
import { UpholdClient } from './uphold.client';

/** The door to Uphold's ticker (through the relay when it is on). */
@Module({
  providers: [UpholdClient],
  exports: [UpholdClient],
})
export class UpholdModule {}
