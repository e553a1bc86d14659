import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AlertsModule } from '../alerts/alerts.module';
import { MonitorsModule } from '../monitors/monitors.module';
import { WebhookDeliveryEntity } from './webhook-delivery.entity';
import { WebhookDispatcher } from './webhook-dispatcher.service';
import { WebhookMonitorEvents } from './webhook-monitor-events.service';
import { WebhookOutboxModule } from './webhook-outbox.module';
import { WebhookSender } from '../notify/webhook-sender';
import { MailSender } from '../notify/mail-sender';
import { TelegramClient } from '../notify/telegram-client';
import { ChannelTransport } from './channel-transport';
import { ChannelsController } from './channels.controller';
import { MonitorMuteController } from './monitor-mute.controller';
import { ChannelsService } from './channels.service';
import { WebhookEntity } from './webhook.entity';
import { WebhooksController } from './webhooks.controller';
import { WebhooksRepository } from './webhooks.repository';
import { WebhooksService } from './webhooks.service';

@Module({
  imports: [
    TypeOrmModule.forFeature([WebhookEntity, WebhookDeliveryEntity]),
    AlertsModule,
    MonitorsModule,
    WebhookOutboxModule,
  ],
  controllers: [WebhooksController, ChannelsController, MonitorMuteController],
  providers: [
    WebhooksRepository,
    WebhooksService,
    ChannelsService,
    WebhookSender,
    MailSender,
    TelegramClient,
    ChannelTransport,
    WebhookDispatcher,
    WebhookMonitorEvents,
  ],
  exports: [WebhooksRepository, WebhookDispatcher],
})
export class WebhooksModule {}
