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
import { WEBHOOK_LIMITS } from '../notify/webhook-events';
import { newWebhookSecret } from '../notify/webhook-signer';
import { WebhookEntity } from './webhook.entity';
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
    return (await this.webhooks.list()).map((w) => WebhookDto.from(w));
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
    const webhook = await this.find(id);
    const secret = newWebhookSecret();
    const updated = await this.webhooks.rotateSecret(
      webhook,
      secret,
      new Date(now.getTime() + WEBHOOK_LIMITS.rotationGraceMs),
    );
    return { ...WebhookDto.from(updated, now), secret };
  }

  /** Queues a `webhook.test` event for this webhook, whatever it subscribes to. */
  async test(id: string): Promise<QueuedDeliveryDto> {
    const webhook = await this.find(id);
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
    const limit = pageLimit(query);
    const after = query.cursor ? decodeCursor(query.cursor) : undefined;
    // One row more than asked tells whether another page exists.
    const rows = await this.webhooks.page({
      webhookId: id,
      status: query.status,
      after: after ? { createdAt: after.observedAt, id: after.id } : undefined,
      limit: limit + 1,
    });
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return {
      items: page.map((row) => DeliveryDto.from(row)),
      nextCursor:
        rows.length > limit && last ? encodeCursor({ observedAt: last.createdAt, id: last.id }) : null,
    };
  }

  /** Re-queues a delivery now, for one more attempt. */
  async retry(id: string, deliveryId: string): Promise<QueuedDeliveryDto> {
    const webhook = await this.find(id);
    const delivery = await this.webhooks.findDelivery(webhook.id, deliveryId);
    if (!delivery)
      throw httpError(HttpStatus.NOT_FOUND, 'no delivery with this id at this webhook', 'deliveryId');
    if (!webhook.enabled) {
      throw httpError(HttpStatus.CONFLICT, 'the webhook is disabled: enable it before retrying', 'id');
    }
    await this.webhooks.requeue(delivery.id);
    return { deliveryId: delivery.id };
  }

  private async find(id: string): Promise<WebhookEntity> {
    const webhook = await this.webhooks.findById(id);
    if (!webhook) throw notFound();
    return webhook;
  }

  /** 422 for a URL whose host is a literal internal address not listed in WEBHOOK_ALLOWED_HOSTS. */
  private assertReachable(text: string): void {
    const url = new URL(text);
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const range = internalRange(host);
    if (range !== undefined && !this.policy.isAllowed(host, urlPort(url))) {
      throw httpError(
        HttpStatus.UNPROCESSABLE_ENTITY,
        `url must not point at an internal address: ${host} is ${range} (WEBHOOK_ALLOWED_HOSTS can list host:port)`,
        'url',
      );
    }
  }
}

const notFound = () => httpError(HttpStatus.NOT_FOUND, 'no webhook with this id', 'id');
