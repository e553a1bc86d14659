import { Decimal } from '@pairwatch/contracts';
import type { WebhookEvent, WebhookFormat } from './webhook-events';

/** What a delivery carries, whatever the format. */
export interface WebhookMessage {
  type: WebhookEvent;
  occurredAt: Date;
  data: Record<string, unknown>;
}

/** A decimal string with thousands separators, its digits kept exactly: 63120.45 → 63,120.45. */
export function groupDigits(value: string): string {
  const match = /^(-?)(\d+)(\.\d+)?$/.exec(value);
  if (!match) return value;
  return `${match[1]}${match[2].replace(/\B(?=(\d{3})+(?!\d))/g, ',')}${match[3] ?? ''}`;
}

/** `12:01:05 UTC` of an ISO instant. */
const utcTime = (iso: unknown) =>
  typeof iso === 'string' && !Number.isNaN(Date.parse(iso))
    ? `${new Date(iso).toISOString().slice(11, 19)} UTC`
    : '';

const text = (value: unknown) => (typeof value === 'string' ? value : JSON.stringify(value ?? null));

/**
 * The one-line human message of an event, e.g.
 * "BTC-USD up 1.02 % — 63,120.45 → 63,764.10 (ask), 12:01:05 UTC".
 */
export function humanMessage(message: WebhookMessage): string {
  const d = message.data;
  switch (message.type) {
    case 'alert.created': {
      const change = new Decimal(text(d.changePercent)).abs().toFixed(2);
      return (
        `${text(d.pair)} ${text(d.direction)} ${change} % — ${groupDigits(text(d.referencePrice))} → ` +
        `${groupDigits(text(d.price))} (${text(d.priceField)}), ${utcTime(d.observedAt)}`
      );
    }
    case 'monitor.failed':
      return `${text(d.pair)} monitor failed: ${text(d.reason)}`;
    case 'monitor.stale':
      return `${text(d.pair)} monitor is stale: its worker stopped reporting`;
    case 'monitor.recovered':
      return `${text(d.pair)} monitor recovered: running and reporting again`;
    case 'monitor.stopped':
      return `${text(d.pair)} monitor stopped${d.reason ? `: ${text(d.reason)}` : ''}`;
    case 'webhook.test':
      return 'pairwatch test event: this webhook receives deliveries';
    case 'channel.test':
      return 'pairwatch test message: this channel receives deliveries';
    case 'digest': {
      const alerts = digestAlerts(message);
      const pairs = [...new Set(alerts.map((a) => text(a.pair)))];
      return `pairwatch digest: ${alerts.length} alert${alerts.length === 1 ? '' : 's'} (${pairs.join(', ')})`;
    }
  }
}

/** The alerts a digest carries, as their `alert.created` data. */
export function digestAlerts(message: WebhookMessage): Record<string, unknown>[] {
  const alerts = message.data.alerts;
  return Array.isArray(alerts) ? (alerts as Record<string, unknown>[]) : [];
}

/** The lines of a message: its own for one event, one per alert for a digest. */
export function messageLines(message: WebhookMessage): string[] {
  if (message.type !== 'digest') return [humanMessage(message)];
  return digestAlerts(message).map((data) =>
    humanMessage({ type: 'alert.created', occurredAt: message.occurredAt, data }),
  );
}

/** A digest's alert lines, each with a bullet; none for other events. */
const digestLines = (message: WebhookMessage) =>
  message.type === 'digest' ? messageLines(message).map((line) => `• ${line}`) : [];

/** The event's fields as label/value pairs, for Slack blocks and Discord embeds (none for a digest). */
export function fieldsOf(message: WebhookMessage): { name: string; value: string }[] {
  if (message.type === 'digest') return [];
  return Object.entries(message.data)
    .filter(([, value]) => value !== null && value !== undefined)
    .slice(0, 25)
    .map(([name, value]) => ({ name, value: text(value).slice(0, 1000) }));
}

/** The body of a delivery in a webhook's format (the HTTP-JSON types; the others render in channel-formats). */
export function renderBody(
  format: Extract<WebhookFormat, 'standard' | 'slack' | 'discord'>,
  message: WebhookMessage,
): string {
  const timestamp = message.occurredAt.toISOString();
  switch (format) {
    case 'standard':
      return JSON.stringify({ type: message.type, timestamp, data: message.data });
    case 'slack': {
      const summary = [humanMessage(message), ...digestLines(message)].join('\n');
      return JSON.stringify({
        text: summary,
        blocks: [
          { type: 'section', text: { type: 'mrkdwn', text: summary } },
          // A section holds at most 10 fields.
          ...chunk(fieldsOf(message), 10).map((fields) => ({
            type: 'section',
            fields: fields.map((f) => ({ type: 'mrkdwn', text: `*${f.name}*\n${f.value}` })),
          })),
          { type: 'context', elements: [{ type: 'mrkdwn', text: `${message.type} · ${timestamp}` }] },
        ],
      });
    }
    case 'discord':
      return JSON.stringify({
        content: [humanMessage(message), ...digestLines(message)].join('\n').slice(0, 2000),
        embeds: [
          {
            title: message.type,
            timestamp,
            fields: fieldsOf(message).map((f) => ({ name: f.name, value: f.value, inline: true })),
          },
        ],
      });
  }
}

function chunk<T>(items: T[], size: number): T[][] {
  const chunks: T[][] = [];
  for (let i = 0; i < items.length; i += size) chunks.push(items.slice(i, i + size));
  return chunks;
}
