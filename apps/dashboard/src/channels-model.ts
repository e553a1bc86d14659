/**
 * The channels section's model (DESIGN.md "Channels"): each type's config fields, the body a form sends, quiet
 * hours as days and times in a zone, and where the API's field errors (`config.to[0]`,
 * `quietHours.windows[1].from`) go. Pure; the API judges the input.
 */
import { QUIET_DAYS } from '../../api/src/notify/channel-types';
import { CHANNEL_EVENTS, CHANNEL_TYPES, type ChannelType } from '../../api/src/notify/webhook-events';
import type { FieldErrors } from './api';
import { readsAsNumber } from './format';

export { CHANNEL_EVENTS, CHANNEL_TYPES, type ChannelType };
export const DAYS = QUIET_DAYS;
export type Day = (typeof DAYS)[number];

export interface ConfigField {
  name: string;
  label: string;
  placeholder: string;
  /** A list (email's `to`): typed comma- or space-separated, sent as an array. */
  list?: boolean;
  secret?: boolean;
  optional?: boolean;
}

export const CONFIG_FIELDS: Record<ChannelType, ConfigField[]> = {
  webhook: [{ name: 'url', label: 'URL', placeholder: 'https://example.com/hook' }],
  slack: [{ name: 'url', label: 'Incoming webhook URL', placeholder: 'https://hooks.slack.com/services/…' }],
  discord: [{ name: 'url', label: 'Webhook URL', placeholder: 'https://discord.com/api/webhooks/…' }],
  email: [{ name: 'to', label: 'To', placeholder: 'ops@example.com, me@example.com', list: true }],
  telegram: [
    { name: 'botToken', label: 'Bot token', placeholder: '123456:ABC-…', secret: true },
    { name: 'chatId', label: 'Chat id', placeholder: '-1001234567890 or @channel' },
  ],
  ntfy: [
    { name: 'url', label: 'Topic URL', placeholder: 'https://ntfy.sh/my-topic' },
    { name: 'token', label: 'Token', placeholder: 'optional', secret: true, optional: true },
  ],
  alertmanager: [{ name: 'url', label: 'Alertmanager URL', placeholder: 'http://alertmanager:9093' }],
};

export interface QuietWindowDraft {
  key: number;
  days: Day[];
  from: string;
  to: string;
}

export interface ChannelDraft {
  type: ChannelType;
  name: string;
  config: Record<string, string>;
  events: string[];
  pairs: string;
  kinds: string[];
  quietZone: string;
  quiet: QuietWindowDraft[];
  digestSeconds: string;
  maxPerHour: string;
}

let nextKey = 1;

export function emptyWindow(): QuietWindowDraft {
  return { key: nextKey++, days: [...DAYS], from: '22:00', to: '07:00' };
}

export function emptyChannel(type: ChannelType = 'webhook', timeZone = 'UTC'): ChannelDraft {
  return {
    type,
    name: '',
    config: {},
    events: ['alert.created'],
    pairs: '',
    kinds: [],
    quietZone: timeZone,
    quiet: [],
    digestSeconds: '',
    maxPerHour: '',
  };
}

const splitList = (text: string) =>
  text
    .split(/[\s,;]+/)
    .map((item) => item.trim())
    .filter(Boolean);

/** POST /channels's body: only what is filled in; numbers as numbers when they read as one. */
export function channelBody(draft: ChannelDraft): Record<string, unknown> {
  const config: Record<string, unknown> = {};
  for (const field of CONFIG_FIELDS[draft.type]) {
    const text = (draft.config[field.name] ?? '').trim();
    if (text === '' && field.optional) continue;
    config[field.name] = field.list ? splitList(text) : text;
  }
  const body: Record<string, unknown> = { type: draft.type, config, events: draft.events };
  if (draft.name.trim()) body.name = draft.name.trim();
  const pairs = splitList(draft.pairs);
  if (pairs.length || draft.kinds.length) {
    body.filter = {
      ...(pairs.length ? { pairs } : {}),
      ...(draft.kinds.length ? { kinds: draft.kinds } : {}),
    };
  }
  if (draft.quiet.length) {
    body.quietHours = {
      timeZone: draft.quietZone.trim(),
      windows: draft.quiet.map(({ days, from, to }) => ({ days, from, to })),
    };
  }
  const digest = draft.digestSeconds.trim();
  if (digest) body.digest = { windowMs: readsAsNumber(digest) ? Math.round(Number(digest) * 1000) : digest };
  const max = draft.maxPerHour.trim();
  if (max) body.maxPerHour = readsAsNumber(max) ? Number(max) : max;
  return body;
}

/**
 * The messages of the API's field errors at `path` or under it: `config.to` gathers `config.to` and
 * `config.to[2]`; `quietHours.windows[0]` gathers that window's `days`, `from` and `to`.
 */
export function errorsAt(fields: FieldErrors, path: string): string[] {
  return Object.entries(fields)
    .filter(([field]) => field === path || field.startsWith(`${path}.`) || field.startsWith(`${path}[`))
    .flatMap(([, messages]) => messages);
}

/**
 * The messages at `path` or under it that none of `shown` (paths the form shows beside their own fields)
 * gathers: what the catch-all line under `config` or under the quiet windows shows, so that no message shows
 * twice (`config.to[1]` beside To, not again under the config).
 */
export function errorsOutside(fields: FieldErrors, path: string, shown: string[]): string[] {
  const under = (field: string, at: string) =>
    field === at || field.startsWith(`${at}.`) || field.startsWith(`${at}[`);
  return Object.entries(fields)
    .filter(([field]) => under(field, path) && !shown.some((at) => under(field, at)))
    .flatMap(([, messages]) => messages);
}

/** The fields the form shows errors beside; anything else goes above its button. */
export function placedError(field: string): boolean {
  return /^(type|name|events|config|filter|quietHours|digest|maxPerHour)\b/.test(field);
}

/** A channel as GET /channels answers it (tolerant: fields the API may add later are optional). */
export interface Channel {
  id: string;
  type: ChannelType;
  name?: string | null;
  events: string[];
  filter?: { pairs?: string[]; monitorIds?: string[]; kinds?: string[]; directions?: string[] } | null;
  config: Record<string, unknown>;
  quietHours?: { timeZone: string; windows: { days: string[]; from: string; to: string }[] } | null;
  digest?: { windowMs: number } | null;
  maxPerHour?: number | null;
  enabled: boolean;
  disabledReason?: string | null;
  snoozedUntil?: string | null;
  createdAt?: string;
  /** The signing secret or token, only in the answer of create and rotate. */
  secret?: string;
}

/** One line saying where a channel delivers: its URL, addresses or chat, never a secret. */
export function channelTarget(channel: Channel): string {
  const config = channel.config ?? {};
  if (Array.isArray(config.to)) return (config.to as unknown[]).map(String).join(', ');
  if (typeof config.chatId === 'string' || typeof config.chatId === 'number')
    return `chat ${String(config.chatId)}`;
  return typeof config.url === 'string' ? config.url : '';
}

/** "weekdays 22:00–07:00 Europe/Lisbon" style summary of the noise settings. */
export function noiseSummary(channel: Channel): string[] {
  const parts: string[] = [];
  const quiet = channel.quietHours;
  if (quiet?.windows?.length) {
    const windows = quiet.windows.map((w) => `${daysText(w.days)} ${w.from}–${w.to}`).join(', ');
    parts.push(`quiet ${windows} (${quiet.timeZone})`);
  }
  if (channel.digest?.windowMs) parts.push(`digest ${channel.digest.windowMs / 1000} s`);
  if (channel.maxPerHour) parts.push(`at most ${channel.maxPerHour}/h`);
  return parts;
}

export function daysText(days: readonly string[]): string {
  const set = new Set(days.map((d) => d.toLowerCase().slice(0, 3)));
  if (DAYS.every((d) => set.has(d))) return 'every day';
  if (set.size === 5 && ['mon', 'tue', 'wed', 'thu', 'fri'].every((d) => set.has(d))) return 'weekdays';
  if (set.size === 2 && set.has('sat') && set.has('sun')) return 'weekends';
  return DAYS.filter((d) => set.has(d)).join(' ');
}

/** A delivery as the log shows it; a digest carries several alerts. */
export interface ChannelDelivery {
  id: string;
  eventType: string;
  eventId?: string | null;
  status: string;
  attempts?: { at: string; status: number | null; durationMs: number; error: string | null }[];
  nextAttemptAt?: string | null;
  lastStatus?: number | null;
  lastError?: string | null;
  createdAt: string;
  /** A digest: the alerts it carries (ids), or the alerts themselves. */
  alertIds?: string[];
  alerts?: { id: string; pair?: string; kind?: string; direction?: string; price?: string }[];
  /** For an alert carried by a digest: the digest's delivery. */
  digestId?: string | null;
  kind?: string;
}

/**
 * The delivery log's newest page, read again by its 5 s refresh, over what the log shows: the page's rows first
 * (new ones, and shown ones with their status now), then, when older pages were loaded, the shown rows past it
 * (every row not on the newest page is older than all of it). Without older pages loaded, the page alone.
 */
export function refreshedDeliveries<T extends { id: string }>(
  shown: T[],
  newest: T[],
  olderLoaded: boolean,
): T[] {
  if (!olderLoaded) return newest;
  const onPage = new Set(newest.map((d) => d.id));
  return [...newest, ...shown.filter((d) => !onPage.has(d.id))];
}

/** The alerts a delivery carries: one for an alert's own message, several for a digest. */
export function carriedAlerts(delivery: ChannelDelivery): string[] {
  if (delivery.alerts?.length) {
    return delivery.alerts.map(
      (a) => [a.pair, a.kind, a.direction, a.price].filter(Boolean).join(' ') || a.id.slice(0, 8),
    );
  }
  return (delivery.alertIds ?? []).map((id) => id.slice(0, 8));
}
