import { Global, Module } from '@nestjs/common';
import { ALERT_OUTBOX, type AlertOutbox } from '../alerts/alert-outbox';
import { queueAlertDeliveriesSql } from './webhooks.repository';

/** The webhooks' share of the ingestion statement: one delivery per stored alert and webhook that wants it. */
export const WEBHOOK_ALERT_OUTBOX: AlertOutbox = { queueSql: queueAlertDeliveriesSql };

/**
 * Provides the alerts feature with the webhooks' outbox ({@link ALERT_OUTBOX}). Global, because the alerts
 * feature sits below webhooks and cannot import it: the owner of the outbox SQL hands it down.
 */
@Global()
@Module({
  providers: [{ provide: ALERT_OUTBOX, useValue: WEBHOOK_ALERT_OUTBOX }],
  exports: [ALERT_OUTBOX],
})
export class WebhookOutboxModule {}
