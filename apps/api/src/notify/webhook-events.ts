/** The events a webhook can subscribe to (the contract's list). */
export const WEBHOOK_EVENTS = [
  'alert.created',
  'monitor.failed',
  'monitor.stale',
  'monitor.recovered',
  'webhook.test',
] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

/** How a delivery's body is written: Standard Webhooks JSON, or a message for Slack or Discord. */
export const WEBHOOK_FORMATS = ['standard', 'slack', 'discord'] as const;
export type WebhookFormat = (typeof WEBHOOK_FORMATS)[number];

export const DELIVERY_STATUSES = ['pending', 'delivered', 'failed'] as const;
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
