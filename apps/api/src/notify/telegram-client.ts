import { Inject, Injectable, OnModuleDestroy } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '../config/app.config';
import type { SendResult } from './channel-types';
import { KeptAliveAgents, postOnce } from './http-post';
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
  private readonly agents = new KeptAliveAgents();

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.base = config.channels.telegramApiUrl;
  }

  onModuleDestroy(): void {
    this.agents.destroy();
  }

  async sendMessage(botToken: string, chatId: string, html: string): Promise<SendResult> {
    const started = Date.now();
    const hide = (text: string) => text.split(botToken).join('<token>');
    let target: URL;
    try {
      target = new URL(`${this.base}/bot${botToken}/sendMessage`);
    } catch {
      return { ok: false, status: null, durationMs: 0, error: 'Telegram: the Bot API URL is not valid' };
    }
    // node:http over kept-alive connections: fetch cost several times the CPU per message.
    const response = await postOnce(target, {
      agents: this.agents,
      timeoutMs: WEBHOOK_LIMITS.timeoutMs,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        chat_id: chatId,
        text: html,
        parse_mode: 'HTML',
        link_preview_options: { is_disabled: true },
      }),
      keepAnswer: true,
    });
    const durationMs = Date.now() - started;
    if (response.status === null) {
      return { ok: false, status: null, durationMs, error: hide(`Telegram: ${response.error}`) };
    }
    let answer: TelegramAnswer = {};
    try {
      answer = JSON.parse(response.answer ?? '') as TelegramAnswer;
    } catch {
      // Not Telegram's JSON: the status alone tells.
    }
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
  }
}
