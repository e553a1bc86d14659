/** The events a webhook can subscribe to (the contract's list). */
export const WEBHOOK_EVENTS = [
  'alert.created',
  'monitor.failed',
  'monitor.stale',
  'monitor.recovered',
  'webhook.test',
] as const;

/** The events a channel can subscribe to (`/channels`); `channel.test` comes with a test, whatever is chosen. */
export const CHANNEL_EVENTS = [
  'alert.created',
  'monitor.failed',
  'monitor.stale',
  'monitor.recovered',
  'monitor.stopped',
] as const;

/** Every event type a delivery can carry: `digest` is one message carrying several held alerts. */
export type WebhookEvent =
  (typeof WEBHOOK_EVENTS)[number] | (typeof CHANNEL_EVENTS)[number] | 'channel.test' | 'digest';

/** How a delivery's body is written: Standard Webhooks JSON, or a message for Slack or Discord. */
export const WEBHOOK_FORMATS = ['standard', 'slack', 'discord'] as const;

/** A channel's type as `/channels` names it; `webhook` is stored as the format `standard`. */
export const CHANNEL_TYPES = [
  'webhook',
  'slack',
  'discord',
  'email',
  'telegram',
  'ntfy',
  'alertmanager',
] as const;
export type ChannelType = (typeof CHANNEL_TYPES)[number];

/** How a channel's messages are written (the stored `format`): one per type. */
export type WebhookFormat =
  (typeof WEBHOOK_FORMATS)[number] | Exclude<ChannelType, 'webhook' | 'slack' | 'discord'>;

export const formatOfType = (type: ChannelType): WebhookFormat => (type === 'webhook' ? 'standard' : type);
export const typeOfFormat = (format: WebhookFormat): ChannelType =>
  format === 'standard' ? 'webhook' : format;

/**
 * pending → delivered | failed: a message of its own (or a digest). held: waiting for its quiet hours, digest
 * window or hour to end; digested: carried by a digest (`digest_id`); suppressed: not sent (snoozed or muted).
 */
export const DELIVERY_STATUSES = [
  'pending',
  'delivered',
  'failed',
  'held',
  'digested',
  'suppressed',
] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

export const WEBHOOK_LIMITS = {
  urlLength: 2048,
  descriptionLength: 200,
  pairs: 100,
  /** The previous secret keeps signing this long after a rotation. */
  rotationGraceMs: 24 * 60 * 60 * 1000,
  /** Requests one API process has in flight to one endpoint. */
  inFlightPerEndpoint: 4,
  timeoutMs: 10_000,
  /** Bytes of an endpoint's answer read (kept for the log as its first 256 characters). */
  maxAnswerBytes: 64 * 1024,
} as const;
