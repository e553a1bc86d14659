import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AlertsModule } from '../alerts/alerts.module';
import { AnalyticsModule } from '../analytics/analytics.module';
import { UpholdModule } from '../uphold/uphold.module';
import { MonitorLifecycle } from './monitor-lifecycle.service';
import { MonitorStalenessWatcher } from './monitor-staleness.watcher';
import { MonitorEntity } from './monitor.entity';
import { MonitorsController } from './monitors.controller';
import { MonitorsRepository } from './monitors.repository';
import { MonitorsService } from './monitors.service';
import { WorkerSpecFactory } from './worker-spec.factory';

@Module({
  imports: [TypeOrmModule.forFeature([MonitorEntity]), UpholdModule, AlertsModule, AnalyticsModule],
  controllers: [MonitorsController],
  providers: [
    MonitorsRepository,
    MonitorLifecycle,
    MonitorsService,
    WorkerSpecFactory,
    MonitorStalenessWatcher,
  ],
  exports: [MonitorsRepository, MonitorLifecycle, MonitorsService, WorkerSpecFactory, UpholdModule],
})
export class MonitorsModule {}
