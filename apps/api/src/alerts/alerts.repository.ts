import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import type { AlertEvent } from '@pairwatch/contracts';
import { Repository } from 'typeorm';
import { WebhooksRepository } from '../webhooks/webhooks.repository';
import type { AlertCursor } from './alert-cursor';
import { AlertEntity } from './alert.entity';

export interface AlertHistoryFilter {
  pair?: string;
  monitorId?: string;
  since?: Date;
  until?: Date;
  after?: AlertCursor;
  limit: number;
}

/** Alerts in Postgres. */
@Injectable()
export class AlertsRepository {
  constructor(
    @InjectRepository(AlertEntity) private readonly repository: Repository<AlertEntity>,
    private readonly webhooks: WebhooksRepository,
  ) {}

  /**
   * Inserts a batch in one statement, and in the same transaction the webhook deliveries of the alerts that
   * were new (the outbox), so a stored alert is a queued delivery and a duplicate queues nothing.
   * Idempotent: ids already stored are skipped. Returns the ids that were new.
   */
  async insertBatch(events: AlertEvent[]): Promise<Set<string>> {
    if (events.length === 0) return new Set();
    return this.repository.manager.transaction(async (manager) => {
      const inserted = await this.insertAlerts(manager.getRepository(AlertEntity), events);
      await this.webhooks.queueAlertDeliveries(manager, [...inserted]);
      return inserted;
    });
  }

  private async insertAlerts(
    repository: Repository<AlertEntity>,
    events: AlertEvent[],
  ): Promise<Set<string>> {
    const result = await repository
      .createQueryBuilder()
      .insert()
      .into(AlertEntity)
      .values(
        events.map((e) => ({
          id: e.id,
          monitorId: e.monitorId,
          pair: e.pair,
          direction: e.direction,
          priceField: e.priceField,
          referencePrice: e.referencePrice,
          price: e.price,
          changePercent: e.changePercent,
          thresholdPercent: e.thresholdPercent,
          intervalMs: e.intervalMs,
          observedAt: new Date(e.observedAt),
        })),
      )
      .orIgnore()
      .returning(['id'])
      .updateEntity(false)
      .execute();
    return new Set((result.raw as { id: string }[]).map((row) => row.id));
  }

  /** Newest first, keyset-paginated on (observed_at, id) so pages stay stable while rows arrive. */
  async history(filter: AlertHistoryFilter): Promise<AlertEntity[]> {
    const query = this.repository.createQueryBuilder('a');
    if (filter.pair) query.andWhere('a.pair = :pair', { pair: filter.pair });
    if (filter.monitorId) query.andWhere('a.monitor_id = :monitorId', { monitorId: filter.monitorId });
    if (filter.since) query.andWhere('a.observed_at >= :since', { since: filter.since });
    if (filter.until) query.andWhere('a.observed_at < :until', { until: filter.until });
    if (filter.after) {
      query.andWhere('(a.observed_at, a.id) < (:afterAt, :afterId)', {
        afterAt: filter.after.observedAt,
        afterId: filter.after.id,
      });
    }
    return query.orderBy('a.observed_at', 'DESC').addOrderBy('a.id', 'DESC').limit(filter.limit).getMany();
  }

  async count(): Promise<number> {
    return this.repository.count();
  }
}
