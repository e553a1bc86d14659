import { Global, Module } from '@nestjs/common';
import { PairwatchMetrics } from './pairwatch-metrics';

/**
 * The metrics instruments, low in the order so that every part that moves a counter may inject them;
 * GET /metrics (metrics/) reads them with what it gathers at scrape time.
 */
@Global()
@Module({
  providers: [PairwatchMetrics],
  exports: [PairwatchMetrics],
})
export class TelemetryModule {}
