import { HttpStatus, Inject, Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { decodeCursor, encodeCursor } from '../alerts/alert-cursor';
import { httpError } from '../common/http-errors';
import { APP_CONFIG, AppConfig } from '../config/app.config';
import { AddressPolicy, internalRange, urlPort } from '../notify/address-policy';
import { CreateWebhookDto } from './dto/create-webhook.dto';
import { pageLimit } from '../common/dto/page-query.dto';
import { QueryDeliveriesDto } from './dto/query-deliveries.dto';
import { UpdateWebhookDto } from './dto/update-webhook.dto';
import {
  DeliveryDto,
  DeliveryPageDto,
  QueuedDeliveryDto,
  WebhookDto,
  WebhookWithSecretDto,
} from './dto/webhook.dto';
import { WEBHOOK_FORMATS, WEBHOOK_LIMITS, type WebhookFormat } from '../notify/webhook-events';
import { newWebhookSecret } from '../notify/webhook-signer';
import { WebhookEntity } from './webhook.entity';
import type { WebhookDeliveryEntity } from './webhook-delivery.entity';
import { WebhooksRepository } from './webhooks.repository';

@Injectable()
export class WebhooksService {
  private readonly policy: AddressPolicy;

  constructor(
    private readonly webhooks: WebhooksRepository,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    this.policy = new AddressPolicy(config.webhooks.allowedHosts);
  }

  async create(dto: CreateWebhookDto): Promise<WebhookWithSecretDto> {
    this.assertReachable(dto.url);
    const secret = newWebhookSecret();
    const webhook = await this.webhooks.insert({
      ...NO_CHANNEL_SETTINGS,
      monitorIds: [],
      kinds: [],
      directions: [],
      url: dto.url,
      events: dto.events ?? ['alert.created'],
      pairs: dto.pairs ?? [],
      format: dto.format ?? 'standard',
      description: dto.description ?? null,
      secret,
      previousSecret: null,
      previousSecretUntil: null,
      enabled: true,
      disabledReason: null,
    });
    return { ...WebhookDto.from(webhook), secret };
  }

  async list(): Promise<WebhookDto[]> {
    return (await this.webhooks.listOf(WEBHOOK_FORMATS)).map((w) => WebhookDto.from(w));
  }

  async get(id: string): Promise<WebhookDto> {
    return WebhookDto.from(await this.find(id));
  }

  async update(id: string, dto: UpdateWebhookDto): Promise<WebhookDto> {
    const webhook = await this.find(id);
    if (dto.url !== undefined) this.assertReachable(dto.url);
    const change: Partial<WebhookEntity> = {};
    if (dto.url !== undefined) change.url = dto.url;
    if (dto.events !== undefined) change.events = dto.events;
    if (dto.pairs !== undefined) change.pairs = dto.pairs;
    if (dto.description !== undefined) change.description = dto.description;
    if (dto.enabled !== undefined) {
      change.enabled = dto.enabled;
      if (dto.enabled) change.disabledReason = null;
    }
    if (Object.keys(change).length === 0) return WebhookDto.from(webhook);
    return WebhookDto.from(await this.webhooks.update(webhook, change));
  }

  async remove(id: string): Promise<void> {
    if (!(await this.webhooks.delete(id))) throw notFound();
  }

  /** A new secret; the one it replaces keeps signing alongside for 24 h. */
  async rotateSecret(id: string, now = new Date()): Promise<WebhookWithSecretDto> {
    const { updated, secret } = await rotateSigningSecret(this.webhooks, await this.find(id), now);
    return { ...WebhookDto.from(updated, now), secret };
  }

  /** Queues a `webhook.test` event for this webhook, whatever it subscribes to. */
  async test(id: string): Promise<QueuedDeliveryDto> {
    const webhook = await this.find(id);
    assertEnabledForTest(webhook, 'webhook');
    const eventId = randomUUID();
    const delivery = await this.webhooks.queueFor(webhook.id, {
      type: 'webhook.test',
      id: eventId,
      occurredAt: new Date(),
      data: { id: eventId, webhookId: webhook.id, message: 'pairwatch test event' },
    });
    return { deliveryId: delivery.id };
  }

  async deliveries(id: string, query: QueryDeliveriesDto): Promise<DeliveryPageDto> {
    await this.find(id);
    const { rows, nextCursor } = await deliveryPage(this.webhooks, id, query);
    return { items: rows.map((row) => DeliveryDto.from(row)), nextCursor };
  }

  /** Re-queues a delivery now, for one more attempt. */
  async retry(id: string, deliveryId: string): Promise<QueuedDeliveryDto> {
    return requeueDelivery(this.webhooks, await this.find(id), deliveryId, 'webhook');
  }

  private async find(id: string): Promise<WebhookEntity> {
    const webhook = await this.webhooks.findById(id);
    // The channels of other types (email, telegram…) are /channels' only.
    if (!webhook || !isWebhookFormat(webhook.format)) throw notFound();
    return webhook;
  }
  private assertReachable(text: string): void {
    assertReachable(this.policy, text, 'url');
  }
}

/**
 * 422 for a URL whose host is a literal internal address not listed in CHANNEL_ALLOWED_HOSTS (or the older
 * WEBHOOK_ALLOWED_HOSTS). Names are checked at every send instead (WebhookSender), where they resolve.
 */
export function assertReachable(policy: AddressPolicy, text: string, field: string): void {
  const url = new URL(text);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const range = internalRange(host);
  if (range !== undefined && !policy.isAllowed(host, urlPort(url))) {
    throw httpError(
      HttpStatus.UNPROCESSABLE_ENTITY,
      `${field} must not point at an internal address: ${host} is ${range} (CHANNEL_ALLOWED_HOSTS, or the older WEBHOOK_ALLOWED_HOSTS, can list host:port)`,
      field,
    );
  }
}

/** One page of a channel's delivery log, newest first (keyset on created_at, id). */
export async function deliveryPage(
  repository: WebhooksRepository,
  id: string,
  query: QueryDeliveriesDto,
): Promise<{ rows: WebhookDeliveryEntity[]; nextCursor: string | null }> {
  const limit = pageLimit(query);
  const after = query.cursor ? decodeCursor(query.cursor) : undefined;
  // One row more than asked tells whether another page exists.
  const rows = await repository.page({
    webhookId: id,
    status: query.status,
    after: after ? { createdAt: after.observedAt, id: after.id } : undefined,
    limit: limit + 1,
  });
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  return {
    rows: page,
    nextCursor:
      rows.length > limit && last ? encodeCursor({ observedAt: last.createdAt, id: last.id }) : null,
  };
}

/**
 * A test for a disabled channel would wait, pending, until someone enables it: 409 (as a retry answers), with
 * why it is disabled.
 */
export function assertEnabledForTest(channel: WebhookEntity, noun: 'webhook' | 'channel'): void {
  if (channel.enabled) return;
  const why = channel.disabledReason ? ` (${channel.disabledReason})` : '';
  throw httpError(
    HttpStatus.CONFLICT,
    `the ${noun} is disabled${why}: enable it with PATCH {"enabled": true} before testing`,
    'id',
  );
}

/** Makes a failed (or any) delivery of `channel` due now; 404 when it has none with this id, 409 when disabled. */
export async function requeueDelivery(
  repository: WebhooksRepository,
  channel: WebhookEntity,
  deliveryId: string,
  noun: 'webhook' | 'channel',
): Promise<QueuedDeliveryDto> {
  const delivery = await repository.findDelivery(channel.id, deliveryId);
  if (!delivery)
    throw httpError(HttpStatus.NOT_FOUND, `no delivery with this id at this ${noun}`, 'deliveryId');
  if (delivery.status === 'digested' || delivery.status === 'held') {
    const why =
      delivery.status === 'held' ? 'is held for a digest' : `went out in digest ${delivery.digestId}`;
    throw httpError(HttpStatus.CONFLICT, `this delivery ${why}: retry that instead`, 'deliveryId');
  }
  if (!channel.enabled) {
    throw httpError(HttpStatus.CONFLICT, `the ${noun} is disabled: enable it before retrying`, 'id');
  }
  await repository.requeue(delivery.id);
  return { deliveryId: delivery.id };
}

const isWebhookFormat = (format: WebhookFormat) => (WEBHOOK_FORMATS as readonly string[]).includes(format);

/** What a channel made through /webhooks has of the settings only /channels sets. */
export const NO_CHANNEL_SETTINGS: Pick<
  WebhookEntity,
  | 'name'
  | 'config'
  | 'monitorIds'
  | 'kinds'
  | 'directions'
  | 'quietHours'
  | 'digestWindowMs'
  | 'maxPerHour'
  | 'snoozedUntil'
  | 'sendAfter'
> = {
  name: null,
  config: {},
  monitorIds: [],
  kinds: [],
  directions: [],
  quietHours: null,
  digestWindowMs: null,
  maxPerHour: null,
  snoozedUntil: null,
  sendAfter: null,
};

/**
 * The one rotation of a signing secret, for `/webhooks` and `/channels` alike: a new `whsec_` secret, sealed
 * at rest by the repository; the one it replaces keeps signing alongside (two signatures per delivery) for
 * `WEBHOOK_LIMITS.rotationGraceMs` (24 h). The new secret in clear is for the answer only: never logged.
 */
export async function rotateSigningSecret(
  repository: WebhooksRepository,
  webhook: WebhookEntity,
  now: Date,
): Promise<{ updated: WebhookEntity; secret: string }> {
  const secret = newWebhookSecret();
  const updated = await repository.rotateSecret(
    webhook,
    secret,
    new Date(now.getTime() + WEBHOOK_LIMITS.rotationGraceMs),
  );
  return { updated, secret };
}

const notFound = () => httpError(HttpStatus.NOT_FOUND, 'no webhook with this id', 'id');
