import { Inject, Injectable, OnModuleDestroy } from '@nestjs/common';
import * as http from 'node:http';
import * as https from 'node:https';
import { APP_CONFIG, AppConfig } from '../config/app.config';
import type { SendResult } from './channel-types';
import { WEBHOOK_LIMITS } from './webhook-events';

/** Telegram's answer (Bot API): `{ok, result}` or `{ok: false, error_code, description, parameters}`. */
interface TelegramAnswer {
  ok?: boolean;
  error_code?: number;
  description?: string;
  parameters?: { retry_after?: number };
}

/** Descriptions that say the chat will never take a message from this bot. */
const FOR_GOOD = [/bot was blocked/i, /chat not found/i, /bot was kicked/i, /user is deactivated/i];

/**
 * The one door to Telegram's Bot API (TELEGRAM_API_URL): `sendMessage` in HTML parse mode. A 429's
 * `parameters.retry_after` is handed back for the outbox to honour; a blocked bot or a chat not found is for
 * good. The bot token is in the request's path and never in what this returns.
 */
@Injectable()
export class TelegramClient implements OnModuleDestroy {
  private readonly base: string;
  /** Connections to the Bot API kept open between messages. */
  private readonly agents = {
    'http:': new http.Agent({ keepAlive: true, maxSockets: 64 }),
    'https:': new https.Agent({ keepAlive: true, maxSockets: 64 }),
  };

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.base = config.channels.telegramApiUrl;
  }

  onModuleDestroy(): void {
    this.agents['http:'].destroy();
    this.agents['https:'].destroy();
  }

  async sendMessage(botToken: string, chatId: string, html: string): Promise<SendResult> {
    const started = Date.now();
    const hide = (text: string) => text.split(botToken).join('<token>');
    try {
      const response = await this.post(
        `${this.base}/bot${botToken}/sendMessage`,
        JSON.stringify({
          chat_id: chatId,
          text: html,
          parse_mode: 'HTML',
          link_preview_options: { is_disabled: true },
        }),
      );
      let answer: TelegramAnswer = {};
      try {
        answer = JSON.parse(response.text) as TelegramAnswer;
      } catch {
        // Not Telegram's JSON: the status alone tells.
      }
      const durationMs = Date.now() - started;
      const ok = response.status >= 200 && response.status < 300;
      if (ok && answer.ok === true) return { ok: true, status: response.status, durationMs, error: null };
      const description = hide(answer.description ?? `HTTP ${response.status}`).slice(0, 300);
      const retryAfter = answer.parameters?.retry_after;
      const forGood = FOR_GOOD.some((pattern) => pattern.test(description));
      return {
        ok: false,
        status: response.status,
        durationMs,
        error: `Telegram: ${description}`,
        ...(retryAfter !== undefined ? { retryAfter: String(Math.ceil(retryAfter)) } : {}),
        ...(forGood ? { disable: `Telegram refused for good: ${description}` } : {}),
      };
    } catch (caught) {
      const error = caught as Error & { cause?: Error };
      const why = error.cause?.message ?? error.message;
      return { ok: false, status: null, durationMs: Date.now() - started, error: hide(`Telegram: ${why}`) };
    }
  }

  /**
   * One POST of JSON over a kept-alive connection (node:http: fetch cost several times the CPU per message):
   * redirects not followed, the whole exchange cut at WEBHOOK_LIMITS.timeoutMs, at most maxAnswerBytes of the
   * answer read. Rejects when no answer came.
   */
  private post(url: string, body: string): Promise<{ status: number; text: string }> {
    const target = new URL(url);
    const transport = target.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const req = transport.request(target, {
        method: 'POST',
        agent: this.agents[target.protocol === 'https:' ? 'https:' : 'http:'],
        headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) },
      });
      const timer = setTimeout(
        () => req.destroy(new Error(`timed out after ${WEBHOOK_LIMITS.timeoutMs} ms`)),
        WEBHOOK_LIMITS.timeoutMs,
      );
      const fail = (error: Error) => {
        clearTimeout(timer);
        reject(error);
      };
      req.on('error', fail);
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        let bytes = 0;
        let settled = false;
        const done = () => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') });
        };
        res.on('data', (chunk: Buffer) => {
          if (bytes >= WEBHOOK_LIMITS.maxAnswerBytes) return;
          chunks.push(chunk.subarray(0, WEBHOOK_LIMITS.maxAnswerBytes - bytes));
          bytes += chunk.length;
          if (bytes >= WEBHOOK_LIMITS.maxAnswerBytes) {
            done();
            res.destroy();
          }
        });
        res.on('end', done);
        res.on('error', (error) => (settled ? undefined : fail(error)));
        res.on('close', done);
      });
      req.end(body);
    });
  }
}
