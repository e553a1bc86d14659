import { Type } from 'class-transformer';
import {
  Allow,
  ArrayMaxSize,
  ArrayMinSize,
  ArrayUnique,
  IsArray,
  IsBoolean,
  IsIn,
  IsInt,
  IsObject,
  IsOptional,
  IsString,
  IsUUID,
  Max,
  MaxLength,
  Min,
  ValidateNested,
} from 'class-validator';
import { RULE_KINDS } from '@pairwatch/contracts';
import { IsInstant, IsOptionalNotNull } from '../../common/validators';
import { CHANNEL_LIMITS } from '../../notify/channel-types';
import { CHANNEL_EVENTS, CHANNEL_TYPES, type ChannelType, WEBHOOK_LIMITS } from '../../notify/webhook-events';
import { WebhookRules } from './create-webhook.dto';

/** An alert moves one way or the other (a monitor's `both` is not an alert's). */
const DIRECTIONS = ['up', 'down'] as const;

/** Which events reach the channel; every list empty or absent: all. */
export class ChannelFilterDto {
  /** Only these pairs (case-insensitive). */
  @WebhookRules.pairs()
  pairs?: string[];

  /** Only these monitors. */
  @IsOptionalNotNull()
  @IsArray({ message: 'filter.monitorIds must be an array' })
  @ArrayMaxSize(WEBHOOK_LIMITS.pairs, {
    message: `filter.monitorIds must hold at most ${WEBHOOK_LIMITS.pairs} ids`,
  })
  @IsUUID('all', { each: true, message: 'each of filter.monitorIds must be a UUID' })
  monitorIds?: string[];

  /** Only these rule kinds. */
  @IsOptionalNotNull()
  @IsArray({ message: 'filter.kinds must be an array' })
  @ArrayUnique({ message: 'filter.kinds must not repeat a kind' })
  @IsIn(RULE_KINDS, { each: true, message: `each of filter.kinds must be one of ${RULE_KINDS.join(', ')}` })
  kinds?: string[];

  /** Only this direction. */
  @IsOptionalNotNull()
  @IsArray({ message: 'filter.directions must be an array' })
  @ArrayUnique({ message: 'filter.directions must not repeat a direction' })
  @IsIn(DIRECTIONS, { each: true, message: 'each of filter.directions must be up or down' })
  directions?: string[];
}

export class DigestDto {
  /** Alerts within this time of the first one go out as one message: 1,000 (1 s) to 3,600,000 (1 h). */
  @IsInt({ message: 'digest.windowMs must be an integer number of milliseconds' })
  @Min(CHANNEL_LIMITS.digestMinMs, { message: 'digest.windowMs must be at least 1000 (1 s)' })
  @Max(CHANNEL_LIMITS.digestMaxMs, { message: 'digest.windowMs must be at most 3600000 (1 h)' })
  windowMs: number;
}

/** The settings create and update share (update has no defaults). */
export class ChannelSettingsDto {
  /** A name for people, at most 100 characters. */
  @IsOptionalNotNull()
  @IsString({ message: 'name must be a string' })
  @MaxLength(CHANNEL_LIMITS.nameLength, {
    message: `name must be at most ${CHANNEL_LIMITS.nameLength} characters`,
  })
  name?: string;

  /** The events to deliver, at least one. Default ["alert.created"]. */
  @IsOptionalNotNull()
  @IsArray({ message: 'events must be an array' })
  // An empty list would match no event: a channel that never receives anything.
  @ArrayMinSize(1, { message: 'events must name at least one event' })
  @ArrayUnique({ message: 'events must not repeat an event' })
  @IsIn(CHANNEL_EVENTS, { each: true, message: `each of events must be one of ${CHANNEL_EVENTS.join(', ')}` })
  events?: string[];

  @IsOptionalNotNull()
  @IsObject({ message: 'filter must be an object' })
  @ValidateNested()
  @Type(() => ChannelFilterDto)
  filter?: ChannelFilterDto;

  /** `{timeZone, windows: [{days, from, to}]}`: held in these windows, sent as one digest when one ends; null: none. */
  @Allow()
  quietHours?: unknown;

  /** null: no digest (clears one on PATCH). */
  @IsOptional()
  @IsObject({ message: 'digest must be an object {windowMs}' })
  @ValidateNested()
  @Type(() => DigestDto)
  digest?: DigestDto | null;

  /** Past this many messages an hour, that hour's alerts go out as one digest at its end; null: no limit. */
  @IsOptional()
  @IsInt({ message: 'maxPerHour must be an integer' })
  @Min(1, { message: 'maxPerHour must be at least 1' })
  @Max(10_000, { message: 'maxPerHour must be at most 10000' })
  maxPerHour?: number | null;
}

export class CreateChannelDto extends ChannelSettingsDto {
  /** webhook, slack, discord, email, telegram, ntfy or alertmanager. */
  @IsIn(CHANNEL_TYPES, { message: `type must be one of ${CHANNEL_TYPES.join(', ')}` })
  type: ChannelType;

  /**
   * By type: webhook/slack/discord {url}; email {to: [addresses]}; telegram {botToken, chatId}; ntfy {url,
   * token?}; alertmanager {url}.
   */
  @IsObject({ message: 'config must be an object' })
  config: Record<string, unknown>;
}

export class UpdateChannelDto extends ChannelSettingsDto {
  /** The type's config, whole (the same rules as at creation). */
  @IsOptionalNotNull()
  @IsObject({ message: 'config must be an object' })
  config?: Record<string, unknown>;

  /** false: deliver nothing (pending deliveries fail); true: deliver again. */
  @IsOptionalNotNull()
  @IsBoolean({ message: 'enabled must be true or false' })
  enabled?: boolean;
}

export class SnoozeDto {
  /** Until when nothing is sent (deliveries are logged `suppressed`), ISO-8601 with an offset. */
  @IsInstant()
  until: string;
}
