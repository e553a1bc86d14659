import { Inject, Injectable, OnModuleDestroy } from '@nestjs/common';
import { createTransport, type Transporter } from 'nodemailer';
import { APP_CONFIG, AppConfig } from '../config/app.config';
import type { SendResult } from './channel-types';
import type { EmailMessage } from './channel-formats';
import { composeMime, parseMailFrom, type MailFrom } from './mime-message';
import { WEBHOOK_LIMITS } from './webhook-events';

/** The header carrying the delivery id: the same on every attempt, so a retry is recognisable. */
export const DELIVERY_ID_HEADER = 'X-Pairwatch-Delivery-Id';

/** SMTP connections this process keeps open to the installation's server, at most (messages queue for one). */
export const MAIL_CONNECTIONS = 8;

/** One message's SMTP exchange at most (in the pool's queue included); then it fails and is retried. */
const SEND_TIMEOUT_MS = WEBHOOK_LIMITS.timeoutMs;
/** An open session idle this long is closed by the pool (nodemailer's default, below RFC 5321's 5 minutes). */
const IDLE_SESSION_MS = 4 * 60_000;
/** How often keepWarm opens again the sessions closed since. */
const KEEP_WARM_EVERY_MS = 30_000;

/** What warm() uses of nodemailer's SMTP pool (10.x), which has no public call to open its sessions. */
interface SmtpPoolInternals {
  _closed: boolean;
  _connections: unknown[];
  _createConnection(): {
    available: boolean;
    connect(callback: (error?: Error | null) => void): void;
    _release(): void;
  };
}

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
          // An open session waits idle for the next alert: closed by the pool after IDLE_SESSION_MS (below the 5
          // minutes RFC 5321 asks servers to wait), not by the socket's timeout (10 s closed every session of a
          // quiet spell, and the next burst paid TCP, STARTTLS and AUTH for all of them on its first messages).
          // A message's own exchange is bounded by SEND_TIMEOUT_MS (its signal), as before by this timeout.
          idleTimeout: IDLE_SESSION_MS,
          socketTimeout: IDLE_SESSION_MS + 60_000,
        })
      : undefined;
  }

  /**
   * Opens the pool's sessions (up to MAIL_CONNECTIONS, connected and logged in) ahead of the first message, and
   * keeps them open while email may be sent: each `keepEveryMs` those the pool closed for idleness or the
   * server dropped are opened again. Called by the dispatcher when an email channel exists: a burst of alerts
   * after a start or a quiet spell then finds its sessions ready instead of opening eight at once under it.
   * Failures are only logged by the pool: a message opens a session as before.
   */
  keepWarm(keepEveryMs = KEEP_WARM_EVERY_MS): void {
    if (!this.transport || this.warmTimer) return;
    this.warm();
    this.warmTimer = setInterval(() => this.warm(), keepEveryMs);
    this.warmTimer.unref();
  }

  private warmTimer: NodeJS.Timeout | undefined;

  /**
   * Tops the pool up to MAIL_CONNECTIONS sessions. nodemailer's pool has no public call for it: a session is
   * made as its pool makes one (_createConnection), kept from taking a message while it connects, and handed
   * over as a pooled session freed after a message is (_release: available, idle timer, the queue looked at).
   * A session that fails is removed by the pool's own error and close handlers.
   */
  private warm(): void {
    const pool = this.pool();
    if (!pool || pool._closed) return;
    for (let n = pool._connections.length; n < MAIL_CONNECTIONS; n += 1) {
      const session = pool._createConnection();
      session.available = false;
      session.connect((error) => {
        if (!error) session._release();
      });
    }
  }

  /** The transport's pool, when nodemailer's internals are as warm() expects (else warming is skipped). */
  private pool(): SmtpPoolInternals | undefined {
    const pool = (this.transport as unknown as { transporter?: Partial<SmtpPoolInternals> } | undefined)
      ?.transporter;
    return pool && typeof pool._createConnection === 'function' && Array.isArray(pool._connections)
      ? (pool as SmtpPoolInternals)
      : undefined;
  }

  get configured(): boolean {
    return this.transport !== undefined;
  }

  onModuleDestroy(): void {
    clearInterval(this.warmTimer);
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
              signal: AbortSignal.timeout(SEND_TIMEOUT_MS),
            }
          : {
              signal: AbortSignal.timeout(SEND_TIMEOUT_MS),
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
