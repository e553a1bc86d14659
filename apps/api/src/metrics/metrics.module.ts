import { Module } from '@nestjs/common';
import { MonitorsModule } from '../monitors/monitors.module';
import { WebhooksModule } from '../channels/webhooks.module';
import { MetricsCollector } from './metrics.collector';
import { MetricsController } from './metrics.controller';

/** GET /metrics: the instruments (telemetry/, global) and what is gathered at scrape time. */
@Module({
  imports: [MonitorsModule, WebhooksModule],
  controllers: [MetricsController],
  providers: [MetricsCollector],
})
export class MetricsModule {}
