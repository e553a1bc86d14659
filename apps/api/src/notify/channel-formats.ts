import {
  fieldsOf,
  groupDigits,
  humanMessage,
  messageLines,
  WebhookMessage,
  digestAlerts,
} from './webhook-formats';

/**
 * How the message types that are not plain JSON webhooks are written: email, Telegram, ntfy, Alertmanager.
 * Pure; the senders only carry what these return. The wording is the one of `humanMessage`.
 */

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' };
/** Text made safe for HTML (and for Telegram's HTML parse mode, which knows these entities). */
export const escapeHtml = (value: string): string => value.replace(/[&<>"]/g, (c) => HTML_ESCAPES[c]);

export interface EmailMessage {
  subject: string;
  text: string;
  html: string;
}

/** Subject, text and HTML body of an email; the subject says what happened. */
export function renderEmail(message: WebhookMessage): EmailMessage {
  const headline = humanMessage(message);
  const lines = message.type === 'digest' ? messageLines(message) : [];
  const fields = fieldsOf(message);
  const text = [
    headline,
    '',
    ...lines.map((line) => `- ${line}`),
    ...fields.map((f) => `${f.name}: ${f.value}`),
    '',
    `${message.type} · ${message.occurredAt.toISOString()}`,
  ].join('\n');
  const html = [
    `<p><strong>${escapeHtml(headline)}</strong></p>`,
    lines.length ? `<ul>${lines.map((line) => `<li>${escapeHtml(line)}</li>`).join('')}</ul>` : '',
    fields.length
      ? `<table>${fields.map((f) => `<tr><th align="left">${escapeHtml(f.name)}</th><td>${escapeHtml(f.value)}</td></tr>`).join('')}</table>`
      : '',
    `<p style="color:#666">${escapeHtml(message.type)} · ${message.occurredAt.toISOString()}</p>`,
  ].join('');
  return { subject: `[pairwatch] ${headline}`.slice(0, 250), text, html };
}

/** Telegram's sendMessage text in its HTML parse mode (every value escaped), at most 4,096 characters. */
export function renderTelegram(message: WebhookMessage): string {
  const headline = `<b>${escapeHtml(humanMessage(message))}</b>`;
  const lines =
    message.type === 'digest'
      ? messageLines(message).map((line) => `• ${escapeHtml(line)}`)
      : fieldsOf(message).map((f) => `<i>${escapeHtml(f.name)}</i>: ${escapeHtml(f.value)}`);
  const all = [headline, ...lines].join('\n');
  return all.length <= 4096 ? all : `${all.slice(0, 4000)}\n…`;
}

/** ntfy's JSON publish body (POSTed to the server's root, the topic named inside). */
export interface NtfyMessage {
  topic: string;
  title: string;
  message: string;
  /** 1 (min) … 5 (max). */
  priority: number;
  tags: string[];
}

/** Priority and tags by event: a failed monitor is urgent, an alert high, a test low. */
export function renderNtfy(topic: string, message: WebhookMessage): NtfyMessage {
  const d = message.data;
  const byEvent: Record<WebhookMessage['type'], { priority: number; tags: string[] }> = {
    'alert.created': {
      priority: 4,
      tags: [d.direction === 'down' ? 'chart_with_downwards_trend' : 'chart_with_upwards_trend'],
    },
    'monitor.failed': { priority: 5, tags: ['rotating_light'] },
    'monitor.stale': { priority: 4, tags: ['warning'] },
    'monitor.recovered': { priority: 3, tags: ['white_check_mark'] },
    'monitor.stopped': { priority: 3, tags: ['stop_sign'] },
    'webhook.test': { priority: 2, tags: ['bell'] },
    'channel.test': { priority: 2, tags: ['bell'] },
    digest: { priority: 4, tags: ['package'] },
  };
  const lines = messageLines(message);
  const body =
    message.type === 'digest'
      ? lines.join('\n')
      : fieldsOf(message)
          .map((f) => `${f.name}: ${f.value}`)
          .join('\n');
  return {
    topic,
    title: humanMessage(message),
    message: body || humanMessage(message),
    ...byEvent[message.type],
  };
}

/** One alert as Alertmanager's API v2 takes it (POST /api/v2/alerts: an array of these). */
export interface AlertmanagerAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
}

/** How long an alert stays firing in Alertmanager before it resolves by itself. */
export const ALERTMANAGER_RESOLVE_MS = 60 * 60 * 1000;

const str = (value: unknown) =>
  typeof value === 'string' ? value : value == null ? '' : JSON.stringify(value);

/** The alerts of a message: one for an event, one per carried alert for a digest. */
export function renderAlertmanager(message: WebhookMessage): AlertmanagerAlert[] {
  const one = (type: WebhookMessage['type'], data: Record<string, unknown>, at: Date): AlertmanagerAlert => {
    const startsAt = new Date(Date.parse(str(data.observedAt)) || at.getTime());
    const labels: Record<string, string> = {
      alertname: `pairwatch_${type.replace('.', '_')}`,
      pair: str(data.pair),
      kind: str(data.kind) || (type === 'alert.created' ? 'move' : (type.split('.')[1] ?? type)),
      direction: str(data.direction),
      monitor: str(data.monitorId),
    };
    const annotations: Record<string, string> = { summary: humanMessage({ type, occurredAt: at, data }) };
    for (const key of [
      'price',
      'referencePrice',
      'changePercent',
      'thresholdPercent',
      'priceField',
      'reason',
    ]) {
      if (data[key] !== undefined && data[key] !== null) annotations[key] = str(data[key]);
    }
    if (annotations.price) annotations.priceGrouped = groupDigits(annotations.price);
    return {
      labels: Object.fromEntries(Object.entries(labels).filter(([, v]) => v !== '')),
      annotations,
      startsAt: startsAt.toISOString(),
      endsAt: new Date(startsAt.getTime() + ALERTMANAGER_RESOLVE_MS).toISOString(),
    };
  };
  if (message.type === 'digest')
    return digestAlerts(message).map((data) => one('alert.created', data, message.occurredAt));
  return [one(message.type, message.data, message.occurredAt)];
}
