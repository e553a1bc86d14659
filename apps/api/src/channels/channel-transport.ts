import { Injectable } from '@nestjs/common';
import { renderAlertmanager, renderEmail, renderNtfy, renderTelegram } from '../notify/channel-formats';
import type { SendResult } from '../notify/channel-types';
import { MailSender } from '../notify/mail-sender';
import { TelegramClient } from '../notify/telegram-client';
import { renderBody, type WebhookMessage } from '../notify/webhook-formats';
import { WebhookSender, type WebhookResponse } from '../notify/webhook-sender';
import { signatureHeaders, signingSecrets } from '../notify/webhook-signer';
import type { WebhookFormat } from '../notify/webhook-events';
import type { ClaimedDelivery } from './webhooks.repository';

/**
 * Sends one claimed delivery through the door of its channel's type, and says how it went in one shape
 * (SendResult) whatever the door: the dispatcher's retry and disable rules are the same for all types.
 * Users' HTTP endpoints (webhook, Slack, Discord, ntfy, Alertmanager) all go through WebhookSender and its
 * address policy; the SMTP server and Telegram are the installation's own (MailSender, TelegramClient).
 */
@Injectable()
export class ChannelTransport {
  constructor(
    private readonly http: WebhookSender,
    private readonly mail: MailSender,
    private readonly telegram: TelegramClient,
  ) {}

  /**
   * Opens what the type sends through ahead of its first message and keeps it open (email: the SMTP pool's
   * sessions, MailSender.keepWarm); the dispatcher calls it for each type an enabled channel has. An HTTP
   * endpoint's keep-alive socket is opened by its first request, as any client's (a receiver closes idle ones
   * within seconds: one opened ahead would not last).
   */
  ready(format: WebhookFormat): void {
    if (format === 'email') this.mail.keepWarm();
  }

  async send(delivery: ClaimedDelivery, now: Date, sent: () => void = () => undefined): Promise<SendResult> {
    const message: WebhookMessage = {
      type: delivery.eventType,
      occurredAt: new Date(delivery.occurredAt),
      data: delivery.payload,
    };
    try {
      switch (delivery.format) {
        case 'standard':
        case 'slack':
        case 'discord': {
          const body = renderBody(delivery.format, message);
          const secrets =
            delivery.secret === null ? [] : signingSecrets({ ...delivery, secret: delivery.secret }, now);
          const headers = signatureHeaders(delivery.id, now, body, secrets);
          return httpResult(await this.http.send({ url: delivery.url ?? '', headers: { ...headers }, body }));
        }
        case 'ntfy': {
          const url = new URL(delivery.url ?? '');
          const topic = decodeURIComponent(url.pathname.replace(/\/+$/, '').split('/').pop() ?? '');
          const root = new URL(url.pathname.replace(/\/+$/, '').replace(/[^/]*$/, ''), url);
          const headers: Record<string, string> = { 'x-pairwatch-delivery-id': delivery.id };
          if (delivery.secret) headers.authorization = `Bearer ${delivery.secret}`;
          const body = JSON.stringify(renderNtfy(topic, message));
          return httpResult(await this.http.send({ url: root.toString(), headers, body }));
        }
        case 'alertmanager': {
          const url = `${(delivery.url ?? '').replace(/\/+$/, '')}/api/v2/alerts`;
          const body = JSON.stringify(renderAlertmanager(message));
          return httpResult(
            await this.http.send({ url, headers: { 'x-pairwatch-delivery-id': delivery.id }, body }),
          );
        }
        case 'email':
          // A channel made since this process started (or on another replica) is readied by its first message.
          this.mail.keepWarm();
          return await this.mail.send(delivery.id, delivery.config.to ?? [], renderEmail(message));
        case 'telegram':
          if (!delivery.secret || !delivery.config.chatId)
            return {
              ok: false,
              status: null,
              durationMs: 0,
              error: 'the channel has no bot token or chat id',
            };
          return await this.telegram.sendMessage(
            delivery.secret,
            delivery.config.chatId,
            renderTelegram(message),
          );
      }
    } finally {
      sent();
    }
  }
}

/** An HTTP answer as a SendResult: 2xx delivered, 410 Gone disables the channel, the rest is retried. */
function httpResult(response: WebhookResponse): SendResult {
  const ok = response.status !== null && response.status >= 200 && response.status < 300;
  return {
    ok,
    status: response.status,
    durationMs: response.durationMs,
    error: ok
      ? null
      : (response.error ?? (response.status !== null ? `HTTP ${response.status}` : 'no answer')),
    ...(response.retryAfter !== undefined ? { retryAfter: response.retryAfter } : {}),
    ...(response.status === 410 ? { disable: 'the endpoint answered 410 Gone' } : {}),
  };
}
