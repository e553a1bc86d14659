import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AlertIngestionService } from './alert-ingestion.service';
import { AlertNotificationsRepository } from './alert-notifications.repository';
import { AlertEntity } from './alert.entity';
import { AlertsController } from './alerts.controller';
import { AlertsRepository } from './alerts.repository';
import { AlertsService } from './alerts.service';
import { LiveAlertsService } from './live-alerts.service';

@Module({
  imports: [TypeOrmModule.forFeature([AlertEntity])],
  controllers: [AlertsController],
  providers: [
    AlertsRepository,
    AlertsService,
    AlertIngestionService,
    AlertNotificationsRepository,
    LiveAlertsService,
  ],
  exports: [AlertsRepository, AlertIngestionService, AlertNotificationsRepository],
})
export class AlertsModule {}
