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

/** A decimal written with at least `places` decimals (zeros added, never rounded): 100000, 2 → 100000.00. */
function atLeastPlaces(value: string, places: number): string {
  if (!/^\d+(\.\d+)?$/.test(value)) return value;
  const [whole, fraction = ''] = value.split('.');
  const padded = fraction.padEnd(places, '0');
  return padded === '' ? whole : `${whole}.${padded}`;
}

const placesOf = (value: string) => /\.(\d+)$/.exec(value)?.[1].length ?? 0;

/** 900000 → "15 min", 3600000 → "1 h", 90000 → "90 s". */
function duration(ms: unknown): string {
  const n = Number(ms);
  if (!Number.isInteger(n) || n <= 0) return text(ms);
  if (n % 3_600_000 === 0) return `${n / 3_600_000} h`;
  if (n % 60_000 === 0) return `${n / 60_000} min`;
  return `${n / 1000} s`;
}

/**
 * What an alert says happened, by its rule's kind (alerts from before rules are `move`):
 * - move: "BTC-USD up 1.02 % — 63,120.45 → 63,764.10 (ask)"
 * - cross: "BTC-USD crossed above 100,000.00 — 100,012.50 (ask)" (the level with the price's decimals)
 * - window: "BTC-USD up 3.05 % within 15 min — 97,000.00 → 99,958.50 (ask)" (from the window's min or max)
 * - trailing: "BTC-USD 2.00 % below its peak — 100,000.00 → 98,000.00 (bid)" (or above its trough)
 * - spread: "BTC-USD spread 0.52 % — ask 100,260.00 / bid 99,740.00"
 */
export function alertHeadline(d: Record<string, unknown>): string {
  const pair = text(d.pair);
  const details = (typeof d.details === 'object' && d.details !== null ? d.details : {}) as Record<
    string,
    unknown
  >;
  const price = text(d.price);
  const change = () => new Decimal(text(d.changePercent)).abs().toFixed(2);
  const fromTo = `${groupDigits(text(d.referencePrice))} → ${groupDigits(price)} (${text(d.priceField)})`;
  switch (d.kind) {
    case 'cross': {
      const level = atLeastPlaces(text(details.level ?? d.referencePrice), placesOf(price));
      const way = d.direction === 'down' ? 'below' : 'above';
      return `${pair} crossed ${way} ${groupDigits(level)} — ${groupDigits(price)} (${text(d.priceField)})`;
    }
    case 'window':
      return `${pair} ${text(d.direction)} ${change()} % within ${duration(details.windowMs)} — ${fromTo}`;
    case 'trailing':
      return d.direction === 'up'
        ? `${pair} ${change()} % above its trough — ${fromTo}`
        : `${pair} ${change()} % below its peak — ${fromTo}`;
    case 'spread':
      return (
        `${pair} spread ${change()} % — ask ${groupDigits(text(details.ask))} / ` +
        `bid ${groupDigits(text(details.bid))}`
      );
    default:
      return `${pair} ${text(d.direction)} ${change()} % — ${fromTo}`;
  }
}

/**
 * The one-line human message of an event, e.g.
 * "BTC-USD up 1.02 % — 63,120.45 → 63,764.10 (ask), 12:01:05 UTC".
 */
export function humanMessage(message: WebhookMessage): string {
  const d = message.data;
  switch (message.type) {
    case 'alert.created':
      return `${alertHeadline(d)}, ${utcTime(d.observedAt)}`;
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
