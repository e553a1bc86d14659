import type { FieldError } from '../common/http-errors';
import { CHANNEL_LIMITS, type ChannelConfig, QUIET_DAYS, type QuietHours } from '../notify/channel-types';
import type { ChannelType } from '../notify/webhook-events';
import { webhookUrlProblem } from './dto/webhook-url.validator';

/** A channel's config as given, split into where it is stored: the URL, the plain settings, the secret. */
export interface ChannelTarget {
  url: string | null;
  config: ChannelConfig;
  /** A secret the user gave (telegram bot token, ntfy token); the webhook types get one made. */
  secret: string | null;
}

/** The fields each type's config takes; `?` optional. */
const FIELDS: Record<ChannelType, string[]> = {
  webhook: ['url'],
  slack: ['url'],
  discord: ['url'],
  email: ['to'],
  telegram: ['botToken', 'chatId'],
  ntfy: ['url', 'token?'],
  alertmanager: ['url'],
};

/** A bot token as BotFather makes it: the bot's id, a colon, 35 characters of base64url. */
const BOT_TOKEN = /^\d{3,20}:[A-Za-z0-9_-]{30,100}$/;
/** A chat id: a (negative for groups) number, or @ and a public channel's name. */
const CHAT_ID = /^(-?\d{1,20}|@[A-Za-z][A-Za-z0-9_]{4,31})$/;
/** An ntfy access token (tk_…) or any printable token without spaces. */
const NTFY_TOKEN = /^[\x21-\x7e]{1,200}$/;
/** An address as mail servers take it: local@domain.tld, no spaces or brackets. */
const EMAIL =
  /^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$/;

/**
 * Checks `config` for `type`: every problem as a field error (`config.url`, `config.to[1]`), or the target.
 * A field of another type is an error, not ignored.
 */
export function checkChannelConfig(
  type: ChannelType,
  config: unknown,
): { errors: FieldError[]; target?: ChannelTarget } {
  const errors: FieldError[] = [];
  const fail = (field: string, message: string) => errors.push({ field, messages: [message] });
  if (typeof config !== 'object' || config === null || Array.isArray(config)) {
    fail('config', 'config must be an object');
    return { errors };
  }
  const given = config as Record<string, unknown>;
  const fields = FIELDS[type];
  const names = fields.map((f) => f.replace('?', ''));
  for (const key of Object.keys(given)) {
    if (!names.includes(key))
      fail(
        `config.${key}`,
        `config.${key} is not a field of ${type} channels (they take ${names.join(', ')})`,
      );
  }
  for (const field of fields) {
    const name = field.replace('?', '');
    if (given[name] === undefined && !field.endsWith('?'))
      fail(`config.${name}`, `config.${name} is required for ${type} channels`);
  }
  const target: ChannelTarget = { url: null, config: {}, secret: null };
  if (names.includes('url') && given.url !== undefined) {
    const problem = webhookUrlProblem(given.url);
    if (problem) fail('config.url', `config.${problem}`);
    else target.url = given.url as string;
  }
  if (type === 'email' && given.to !== undefined) {
    const to = given.to;
    if (!Array.isArray(to) || to.length === 0)
      fail('config.to', 'config.to must be a non-empty array of addresses');
    else if (to.length > CHANNEL_LIMITS.recipients)
      fail('config.to', `config.to must hold at most ${CHANNEL_LIMITS.recipients} addresses`);
    else {
      to.forEach((address: unknown, i) => {
        if (typeof address !== 'string' || address.length > 254 || !EMAIL.test(address))
          fail(`config.to[${i}]`, `config.to[${i}] must be an email address such as ops@example.com`);
      });
      if (new Set(to.map((a) => String(a).toLowerCase())).size !== to.length)
        fail('config.to', 'config.to must not repeat an address');
      target.config.to = to as string[];
    }
  }
  if (type === 'telegram') {
    if (given.botToken !== undefined) {
      if (typeof given.botToken !== 'string' || !BOT_TOKEN.test(given.botToken))
        fail('config.botToken', 'config.botToken must be a bot token as BotFather gives it (123456789:AA…)');
      else target.secret = given.botToken;
    }
    if (given.chatId !== undefined) {
      const chatId =
        typeof given.chatId === 'number' && Number.isInteger(given.chatId)
          ? String(given.chatId)
          : given.chatId;
      if (typeof chatId !== 'string' || !CHAT_ID.test(chatId))
        fail(
          'config.chatId',
          'config.chatId must be a chat id (-1001234567890) or a channel name (@mychannel)',
        );
      else target.config.chatId = chatId;
    }
  }
  if (type === 'ntfy' && given.token !== undefined) {
    if (typeof given.token !== 'string' || !NTFY_TOKEN.test(given.token))
      fail('config.token', 'config.token must be an access token without spaces, at most 200 characters');
    else target.secret = given.token;
  }
  if (
    type === 'ntfy' &&
    target.url !== null &&
    new URL(target.url).pathname.replace(/\/+$/, '').split('/').pop() === ''
  )
    fail('config.url', 'config.url must be a topic URL, e.g. https://ntfy.sh/my-topic');
  return errors.length ? { errors } : { errors, target };
}

const TIME = /^([01]\d|2[0-3]):[0-5]\d$/;

/** Whether `zone` is an IANA zone this runtime knows. */
export function isTimeZone(zone: unknown): zone is string {
  if (typeof zone !== 'string' || zone === '') return false;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/** Checks quiet hours: a known zone, 1..14 windows of known days and HH:MM times that differ. */
export function checkQuietHours(value: unknown): { errors: FieldError[]; quiet?: QuietHours } {
  const errors: FieldError[] = [];
  const fail = (field: string, message: string) => errors.push({ field, messages: [message] });
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    fail('quietHours', 'quietHours must be an object {timeZone, windows}');
    return { errors };
  }
  const given = value as Record<string, unknown>;
  for (const key of Object.keys(given))
    if (key !== 'timeZone' && key !== 'windows')
      fail(`quietHours.${key}`, `quietHours.${key} is not an accepted field`);
  if (!isTimeZone(given.timeZone))
    fail('quietHours.timeZone', 'quietHours.timeZone must be an IANA time zone such as Europe/Lisbon');
  const windows = given.windows;
  if (!Array.isArray(windows) || windows.length === 0 || windows.length > CHANNEL_LIMITS.quietWindows) {
    fail(
      'quietHours.windows',
      `quietHours.windows must be an array of 1 to ${CHANNEL_LIMITS.quietWindows} windows`,
    );
    return { errors };
  }
  windows.forEach((window: unknown, i) => {
    const path = `quietHours.windows[${i}]`;
    if (typeof window !== 'object' || window === null || Array.isArray(window)) {
      fail(path, `${path} must be an object {days, from, to}`);
      return;
    }
    const w = window as Record<string, unknown>;
    for (const key of Object.keys(w))
      if (!['days', 'from', 'to'].includes(key))
        fail(`${path}.${key}`, `${path}.${key} is not an accepted field`);
    if (!Array.isArray(w.days) || w.days.length === 0)
      fail(`${path}.days`, `${path}.days must be a non-empty array of ${QUIET_DAYS.join(', ')}`);
    else
      w.days.forEach((day: unknown, j) => {
        if (typeof day !== 'string' || !(QUIET_DAYS as readonly string[]).includes(day))
          fail(`${path}.days[${j}]`, `${path}.days[${j}] must be one of ${QUIET_DAYS.join(', ')}`);
      });
    for (const key of ['from', 'to'] as const)
      if (typeof w[key] !== 'string' || !TIME.test(w[key]))
        fail(`${path}.${key}`, `${path}.${key} must be a time HH:MM from 00:00 to 23:59`);
    if (typeof w.from === 'string' && w.from === w.to)
      fail(path, `${path} is empty: from and to are the same time`);
  });
  if (errors.length) return { errors };
  return { errors, quiet: { timeZone: given.timeZone as string, windows: windows as QuietHours['windows'] } };
}
