import { Global, Module } from '@nestjs/common';
import { MonitorsModule } from '../monitors/monitors.module';
import { WebhooksModule } from '../channels/webhooks.module';
import { MetricsCollector } from './metrics.collector';
import { MetricsController } from './metrics.controller';
import { PairwatchMetrics } from './pairwatch-metrics';

/** GET /metrics. The instruments (PairwatchMetrics) are global: the parts that move a counter inject them. */
@Global()
@Module({
  imports: [MonitorsModule, WebhooksModule],
  controllers: [MetricsController],
  providers: [PairwatchMetrics, MetricsCollector],
  exports: [PairwatchMetrics],
})
export class MetricsModule {}
