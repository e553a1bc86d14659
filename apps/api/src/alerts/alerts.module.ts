import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AlertIngestionService } from './alert-ingestion.service';
import { AlertEntity } from './alert.entity';
import { AlertsController } from './alerts.controller';
import { AlertsRepository } from './alerts.repository';
import { AlertsService } from './alerts.service';
import { WebhooksModule } from '../webhooks/webhooks.module';

@Module({
  imports: [TypeOrmModule.forFeature([AlertEntity]), WebhooksModule],
  controllers: [AlertsController],
  providers: [AlertsRepository, AlertsService, AlertIngestionService],
  exports: [AlertsRepository, AlertIngestionService],
})
export class AlertsModule {}
