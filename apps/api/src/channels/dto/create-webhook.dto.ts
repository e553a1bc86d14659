import { applyDecorators } from '@nestjs/common';
import { Transform } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  ArrayUnique,
  IsArray,
  IsIn,
  IsString,
  Matches,
  MaxLength,
} from 'class-validator';
import { PAIR_PATTERN, PAIR_RULE_MESSAGE } from '@pairwatch/contracts';
import { upperCasePair } from '../../common/transforms';
import { IsOptionalNotNull } from '../../common/validators';
import {
  WEBHOOK_EVENTS,
  WEBHOOK_FORMATS,
  WEBHOOK_LIMITS,
  WebhookEvent,
  WebhookFormat,
} from '../../notify/webhook-events';
import { IsWebhookUrl } from './webhook-url.validator';

/** Upper-cases each string of an array of pairs; anything else is left for the validators. */
export const upperCasePairs = ({ value }: { value: unknown }): unknown =>
  Array.isArray(value) ? value.map((pair: unknown) => upperCasePair({ value: pair })) : value;

const EVENTS_MESSAGE = `each of events must be one of ${WEBHOOK_EVENTS.join(', ')}`;
const FORMAT_MESSAGE = `format must be one of ${WEBHOOK_FORMATS.join(', ')}`;

/** The rules of each field, shared by CreateWebhookDto and UpdateWebhookDto (which has no defaults). */
export const WebhookRules = {
  url: () => IsWebhookUrl(),
  events: () =>
    applyDecorators(
      IsOptionalNotNull(),
      IsArray({ message: 'events must be an array' }),
      // An empty list would match no event: a webhook that never receives anything.
      ArrayMinSize(1, { message: 'events must name at least one event' }),
      ArrayUnique({ message: 'events must not repeat an event' }),
      IsIn(WEBHOOK_EVENTS, { each: true, message: EVENTS_MESSAGE }),
    ),
  pairs: () =>
    applyDecorators(
      IsOptionalNotNull(),
      Transform(upperCasePairs),
      IsArray({ message: 'pairs must be an array' }),
      ArrayMaxSize(WEBHOOK_LIMITS.pairs, {
        message: `pairs must hold at most ${WEBHOOK_LIMITS.pairs} pairs`,
      }),
      ArrayUnique({ message: 'pairs must not repeat a pair' }),
      IsString({ each: true, message: 'each of pairs must be a string' }),
      Matches(PAIR_PATTERN, {
        each: true,
        message: `each of ${PAIR_RULE_MESSAGE.replace(/^pair/, 'pairs')}`,
      }),
    ),
  description: () =>
    applyDecorators(
      IsOptionalNotNull(),
      IsString({ message: 'description must be a string' }),
      // Postgres text cannot hold NUL; other control characters but tab and newline have no place in a note.
      // eslint-disable-next-line no-control-regex
      Matches(/^[^\u0000-\u0008\u000b-\u001f\u007f]*$/, {
        message: 'description must not contain control characters',
      }),
      MaxLength(WEBHOOK_LIMITS.descriptionLength, {
        message: `description must be at most ${WEBHOOK_LIMITS.descriptionLength} characters`,
      }),
    ),
};

export class CreateWebhookDto {
  /**
   * Where deliveries are POSTed: http or https, at most 2,048 characters, no credentials. Internal addresses
   * are refused (422) unless CHANNEL_ALLOWED_HOSTS (or WEBHOOK_ALLOWED_HOSTS) lists their host:port.
   * @example https://example.com/hooks/pairwatch
   */
  @WebhookRules.url()
  url: string;

  /** The events to deliver, at least one. Default ["alert.created"]. */
  @WebhookRules.events()
  events?: WebhookEvent[] = ['alert.created'];

  /** Only these pairs (at most 100; case-insensitive); empty or absent: every pair. */
  @WebhookRules.pairs()
  pairs?: string[] = [];

  /** The body: standard (Standard Webhooks JSON, the default), slack ({text, blocks}) or discord ({content, embeds}). */
  @IsOptionalNotNull()
  @IsIn(WEBHOOK_FORMATS, { message: FORMAT_MESSAGE })
  format?: WebhookFormat = 'standard';

  /** A note for people, at most 200 characters. */
  @WebhookRules.description()
  description?: string;
}
