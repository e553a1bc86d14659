import { HttpStatus, Inject, Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { httpError, type FieldError } from '../common/http-errors';
import { refusal } from '../common/validation';
import { APP_CONFIG, AppConfig } from '../config/app.config';
import { AddressPolicy } from '../notify/address-policy';
import { MailSender } from '../notify/mail-sender';
import { formatOfType, WEBHOOK_FORMATS, type WebhookEvent } from '../notify/webhook-events';
import { newWebhookSecret } from '../notify/webhook-signer';
import { checkChannelConfig, checkQuietHours, type ChannelTarget } from './channel-input';
import { ChannelDto, ChannelWithSecretDto } from './dto/channel.dto';
import { ChannelDeliveryDto, ChannelDeliveryPageDto } from './dto/channel-delivery.dto';
import { CreateChannelDto, UpdateChannelDto } from './dto/create-channel.dto';
import { QueryDeliveriesDto } from './dto/query-deliveries.dto';
import { QueuedDeliveryDto } from './dto/webhook.dto';
import type { QuietHours } from '../notify/channel-types';
import { WebhookEntity } from './webhook.entity';
import { WebhooksRepository } from './webhooks.repository';
import {
  assertEnabledForTest,
  assertReachable,
  deliveryPage,
  requeueDelivery,
  rotateSigningSecret,
} from './webhooks.service';

const isSigned = (entity: WebhookEntity) => (WEBHOOK_FORMATS as readonly string[]).includes(entity.format);

/**
 * `/channels`: every type on the one outbox (DESIGN.md "Channels"). The webhook, Slack and Discord channels
 * are the rows `/webhooks` shows too; a secret of any type is sealed by the repository and shown only in the
 * answer that made it (a signing secret) — tokens the user gave are never shown again.
 */
@Injectable()
export class ChannelsService {
  private readonly policy: AddressPolicy;

  constructor(
    private readonly channels: WebhooksRepository,
    private readonly mail: MailSender,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    this.policy = new AddressPolicy(config.webhooks.allowedHosts);
  }

  async create(dto: CreateChannelDto): Promise<ChannelWithSecretDto> {
    const { target, quietHours } = this.check(dto.type, dto.config, dto.quietHours);
    this.assertUsable(dto.type, target);
    const signing = isSigned({ format: formatOfType(dto.type) } as WebhookEntity)
      ? newWebhookSecret()
      : undefined;
    const channel = await this.channels.insert({
      url: target.url,
      name: dto.name ?? null,
      config: target.config,
      events: (dto.events ?? ['alert.created']) as WebhookEvent[],
      pairs: dto.filter?.pairs ?? [],
      monitorIds: dto.filter?.monitorIds ?? [],
      kinds: dto.filter?.kinds ?? [],
      directions: dto.filter?.directions ?? [],
      format: formatOfType(dto.type),
      description: null,
      secret: signing ?? target.secret,
      previousSecret: null,
      previousSecretUntil: null,
      quietHours: quietHours ?? null,
      digestWindowMs: dto.digest?.windowMs ?? null,
      maxPerHour: dto.maxPerHour ?? null,
      snoozedUntil: null,
      sendAfter: null,
      enabled: true,
      disabledReason: null,
    });
    // Its SMTP sessions opened now, not by its first alert (MailSender.keepWarm).
    if (channel.format === 'email') this.mail.keepWarm();
    return { ...ChannelDto.from(channel), ...(signing ? { secret: signing } : {}) };
  }

  async list(): Promise<ChannelDto[]> {
    return (await this.channels.list()).map((c) => ChannelDto.from(c));
  }

  async get(id: string): Promise<ChannelDto> {
    return ChannelDto.from(await this.find(id));
  }

  async update(id: string, dto: UpdateChannelDto): Promise<ChannelDto> {
    const channel = await this.find(id);
    const type = ChannelDto.from(channel).type;
    const { target, quietHours } = this.check(type, dto.config, dto.quietHours);
    const change: Partial<WebhookEntity> = {};
    if (dto.config !== undefined) {
      this.assertUsable(type, target);
      change.url = target.url;
      change.config = target.config;
      // The signing secret of the webhook types is the channel's own: a new URL keeps it.
      if (!isSigned(channel)) change.secret = target.secret;
    }
    if (dto.name !== undefined) change.name = dto.name;
    if (dto.events !== undefined) change.events = dto.events as WebhookEvent[];
    if (dto.filter !== undefined) {
      change.pairs = dto.filter.pairs ?? [];
      change.monitorIds = dto.filter.monitorIds ?? [];
      change.kinds = dto.filter.kinds ?? [];
      change.directions = dto.filter.directions ?? [];
    }
    if (dto.quietHours !== undefined) change.quietHours = quietHours ?? null;
    if (dto.digest !== undefined) change.digestWindowMs = dto.digest?.windowMs ?? null;
    if (dto.maxPerHour !== undefined) change.maxPerHour = dto.maxPerHour;
    if (dto.enabled !== undefined) {
      change.enabled = dto.enabled;
      if (dto.enabled) change.disabledReason = null;
    }
    if (Object.keys(change).length === 0) return ChannelDto.from(channel);
    return ChannelDto.from(await this.channels.update(channel, change));
  }

  async remove(id: string): Promise<void> {
    if (!(await this.channels.delete(id))) throw notFound();
  }

  /**
   * A new signing secret for a webhook, Slack or Discord channel (the rotation `/webhooks` makes, the same
   * code); the one it replaces keeps signing alongside for 24 h. Other types have no signing secret: 409.
   */
  async rotateSecret(id: string, now = new Date()): Promise<ChannelWithSecretDto> {
    const channel = await this.find(id);
    if (!isSigned(channel)) {
      const type = ChannelDto.from(channel).type;
      throw httpError(
        HttpStatus.CONFLICT,
        `a ${type} channel has no signing secret to rotate` +
          (type === 'telegram' || type === 'ntfy'
            ? ' (change its token with PATCH /channels/{id} config)'
            : ''),
        'id',
      );
    }
    const { updated, secret } = await rotateSigningSecret(this.channels, channel, now);
    return { ...ChannelDto.from(updated, now), secret };
  }

  /** Queues a `channel.test` message for this channel, whatever it subscribes to. */
  async test(id: string): Promise<QueuedDeliveryDto> {
    const channel = await this.find(id);
    assertEnabledForTest(channel, 'channel');
    const eventId = randomUUID();
    const delivery = await this.channels.queueFor(channel.id, {
      type: 'channel.test',
      id: eventId,
      occurredAt: new Date(),
      data: { id: eventId, channelId: channel.id, message: 'pairwatch test message' },
    });
    return { deliveryId: delivery.id };
  }

  async snooze(id: string, until: Date | null): Promise<ChannelDto> {
    const channel = await this.find(id);
    if (until !== null && until.getTime() <= Date.now())
      throw httpError(HttpStatus.BAD_REQUEST, 'until must be in the future', 'until');
    return ChannelDto.from(await this.channels.snooze(channel.id, until));
  }

  async deliveries(id: string, query: QueryDeliveriesDto): Promise<ChannelDeliveryPageDto> {
    await this.find(id);
    const { rows, nextCursor } = await deliveryPage(this.channels, id, query);
    return { items: rows.map((row) => ChannelDeliveryDto.fromChannel(row)), nextCursor };
  }

  async retry(id: string, deliveryId: string): Promise<QueuedDeliveryDto> {
    return requeueDelivery(this.channels, await this.find(id), deliveryId, 'channel');
  }

  private async find(id: string): Promise<WebhookEntity> {
    const channel = await this.channels.findById(id);
    if (!channel) throw notFound();
    return channel;
  }

  /** The config and quiet hours checked together: one 400 lists every problem of both. */
  private check(
    type: CreateChannelDto['type'],
    config: unknown,
    quiet: unknown,
  ): { target: ChannelTarget; quietHours: QuietHours | null | undefined } {
    const errors: FieldError[] = [];
    let target: ChannelTarget = { url: null, config: {}, secret: null };
    if (config !== undefined) {
      const checked = checkChannelConfig(type, config);
      errors.push(...checked.errors);
      if (checked.target) target = checked.target;
    }
    let quietHours: QuietHours | null | undefined = quiet === null ? null : undefined;
    if (quiet !== undefined && quiet !== null) {
      const checked = checkQuietHours(quiet);
      errors.push(...checked.errors);
      quietHours = checked.quiet;
    }
    if (errors.length) throw refusal(errors);
    return { target, quietHours };
  }

  /** 422 for a target this installation cannot use: an internal URL, or email without SMTP_URL. */
  private assertUsable(type: CreateChannelDto['type'], target: ChannelTarget): void {
    if (target.url !== null) assertReachable(this.policy, target.url, 'config.url');
    if (type === 'email' && !this.mail.configured) {
      throw httpError(
        HttpStatus.UNPROCESSABLE_ENTITY,
        'email channels need the installation to set SMTP_URL (and SMTP_FROM): see docs/CHANNELS.md',
        'type',
      );
    }
  }
}

const notFound = () => httpError(HttpStatus.NOT_FOUND, 'no channel with this id', 'id');
