/** The settings of a channel that are not secret, by type (the secret ones are sealed in `secret`). */
export interface ChannelConfig {
  /** email: the recipients. */
  to?: string[];
  /** telegram: the chat (a number, or @channelname). */
  chatId?: string;
}

export const QUIET_DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
export type QuietDay = (typeof QUIET_DAYS)[number];

/** One quiet window: starts on each of `days` at `from` (HH:MM, local), ends at `to` (the next day when ≤ from). */
export interface QuietWindow {
  days: QuietDay[];
  from: string;
  to: string;
}

export interface QuietHours {
  /** An IANA zone, e.g. Europe/Lisbon. */
  timeZone: string;
  windows: QuietWindow[];
}

export const CHANNEL_LIMITS = {
  nameLength: 100,
  recipients: 20,
  digestMinMs: 1000,
  digestMaxMs: 3_600_000,
  quietWindows: 14,
  /** Alerts one digest carries at most; more held at once make several digests. */
  digestAlerts: 500,
} as const;

/** How one attempt at any channel went, whatever carried it. */
export interface SendResult {
  ok: boolean;
  /** The receiver's status (HTTP, or the SMTP reply code); null when no answer came. */
  status: number | null;
  durationMs: number;
  error: string | null;
  /** Seconds (or an HTTP date) before the receiver takes another request. */
  retryAfter?: string;
  /** The receiver refused for good (410 Gone, a blocked bot, an address refused): disable the channel, why. */
  disable?: string;
}
