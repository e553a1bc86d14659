import { Module } from '@nestjs/common';
import { CandlesController } from './candles.controller';
import { CandlesService } from './candles.service';
import { TickArchiveRepository } from './tick-archive.repository';
import { TickArchiveService } from './tick-archive.service';
import { TickPartitionsRepository } from './tick-partitions.repository';
import { TickPartitionsService } from './tick-partitions.service';

/** The tick archive (price_ticks, its partitions, its candles) and what is read from it. docs/STORAGE.md. */
@Module({
  controllers: [CandlesController],
  providers: [
    TickArchiveRepository,
    TickArchiveService,
    TickPartitionsRepository,
    TickPartitionsService,
    CandlesService,
  ],
  exports: [TickArchiveRepository, TickArchiveService, TickPartitionsService],
})
export class AnalyticsModule {}
