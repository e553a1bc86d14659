import { Inject, Injectable, OnModuleDestroy } from '@nestjs/common';
import { createTransport, type Transporter } from 'nodemailer';
import { APP_CONFIG, AppConfig } from '../config/app.config';
import type { SendResult } from './channel-types';
import type { EmailMessage } from './channel-formats';
import { composeMime, parseMailFrom, type MailFrom } from './mime-message';

/** The header carrying the delivery id: the same on every attempt, so a retry is recognisable. */
export const DELIVERY_ID_HEADER = 'X-Pairwatch-Delivery-Id';

/** SMTP connections this process keeps open to the installation's server, at most (messages queue for one). */
export const MAIL_CONNECTIONS = 8;

interface SmtpError extends Error {
  code?: string;
  responseCode?: number;
  rejected?: string[];
}

/**
 * The one door to the installation's SMTP server (SMTP_URL, SMTP_FROM; nodemailer, one pooled transport of MAIL_CONNECTIONS connections):
 * STARTTLS when the server offers it, TLS for smtps://, AUTH from the URL's credentials. A 5xx answer to the
 * recipients is for good (the channel is disabled with the server's words); anything else is retried.
 */
@Injectable()
export class MailSender implements OnModuleDestroy {
  private readonly transport: Transporter | undefined;
  private readonly from: string;
  /** SMTP_FROM parsed once; undefined when only nodemailer's composer can write it (a non-ASCII address). */
  private readonly parsedFrom: MailFrom | undefined;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.from = config.channels.smtpFrom;
    this.parsedFrom = parseMailFrom(this.from);
    this.transport = config.channels.smtpUrl
      ? createTransport({
          url: config.channels.smtpUrl,
          // A few connections kept open and reused: a message on an open connection is one MAIL/RCPT/DATA
          // exchange, where a new one pays TCP, STARTTLS and AUTH first (about 100 ms: the ceiling of an email
          // channel would be some 40 messages/s with the dispatcher's 4 in flight per channel).
          pool: true,
          maxConnections: MAIL_CONNECTIONS,
          // A connection is never closed for having sent many: a new one costs TCP, STARTTLS and AUTH again
          // (at 100 emails/s a channel, 1,000 a connection reopened one every few seconds, each a stall).
          maxMessages: Infinity,
          // Fail fast while the server is away: the outbox retries on its schedule.
          connectionTimeout: 5_000,
          greetingTimeout: 5_000,
          socketTimeout: 10_000,
        })
      : undefined;
  }

  get configured(): boolean {
    return this.transport !== undefined;
  }

  onModuleDestroy(): void {
    this.transport?.close();
  }

  async send(deliveryId: string, to: readonly string[], message: EmailMessage): Promise<SendResult> {
    const started = Date.now();
    if (!this.transport)
      return { ok: false, status: null, durationMs: 0, error: 'SMTP_URL is not set: no email can be sent' };
    try {
      const messageId = `<${deliveryId}@pairwatch>`;
      const headers = { [DELIVERY_ID_HEADER]: deliveryId };
      // The message composed here in one piece (composeMime) and handed over as it is: nodemailer then only
      // carries it (envelope, pipelined MAIL/RCPT/DATA, one write of the body).
      const info = (await this.transport.sendMail(
        this.parsedFrom
          ? {
              envelope: { from: this.parsedFrom.address, to: [...to] },
              raw: composeMime({
                from: this.parsedFrom,
                to,
                subject: message.subject,
                text: message.text,
                html: message.html,
                messageId,
                headers,
                date: new Date(),
              }),
            }
          : {
              from: this.from,
              to: [...to],
              subject: message.subject,
              text: message.text,
              html: message.html,
              messageId,
              headers,
            },
      )) as { response?: string; rejected?: unknown[] };
      const code = /^(\d{3})/.exec(info.response ?? '')?.[1];
      return { ok: true, status: code ? Number(code) : 250, durationMs: Date.now() - started, error: null };
    } catch (caught) {
      const error = caught as SmtpError;
      const code = error.responseCode ?? null;
      const text = (error.message ?? String(caught)).replace(/\s+/g, ' ').slice(0, 300);
      const forGood =
        code !== null && code >= 500 && (error.code === 'EENVELOPE' || (error.rejected?.length ?? 0) > 0);
      return {
        ok: false,
        status: code,
        durationMs: Date.now() - started,
        error: text,
        ...(forGood ? { disable: `the SMTP server refused the address for good: ${text}` } : {}),
      };
    }
  }
}
