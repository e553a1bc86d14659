import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import type { AlertEvent } from '@pairwatch/contracts';
import { Repository } from 'typeorm';
import { isoText } from '../database/sql-text';
import { queueAlertDeliveriesSql } from '../webhooks/webhooks.repository';
import type { AlertCursor } from './alert-cursor';
import { AlertEntity } from './alert.entity';
import type { AlertDto } from './dto/alert.dto';

export interface AlertHistoryFilter {
  pair?: string;
  monitorId?: string;
  since?: Date;
  until?: Date;
  after?: AlertCursor;
  limit: number;
}

/**
 * One statement for any batch size, and one round trip: the batch travels as one array per column, so the text
 * (and its plan) never changes and Postgres parses eleven parameters instead of eleven per alert; the rows it
 * stored feed the webhook outbox in the same statement (so in the same transaction), and their ids come back.
 */
export const INSERT_ALERTS_SQL = `WITH stored AS (
  INSERT INTO alerts (id, monitor_id, pair, direction, price_field, reference_price,
    price, change_percent, threshold_percent, interval_ms, observed_at)
  SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::varchar[], $4::varchar[], $5::varchar[], $6::numeric[],
    $7::numeric[], $8::numeric[], $9::numeric[], $10::int[], $11::timestamptz[])
  ON CONFLICT (id) DO NOTHING
  RETURNING *
), queued AS (
${queueAlertDeliveriesSql('stored')}
)
SELECT id FROM stored`;

const HISTORY_COLUMNS = `id, monitor_id AS "monitorId", pair, direction, price_field AS "priceField",
  reference_price AS "referencePrice", price, change_percent AS "changePercent",
  threshold_percent AS "thresholdPercent", interval_ms AS "intervalMs", ${isoText('observed_at')} AS "observedAt",
  ${isoText('created_at')} AS "createdAt"`;

/**
 * The history query for a filter: a fixed text per set of filters given (the conditions always in this order),
 * every value a parameter. Newest first, keyset-paginated on (observed_at, id), which the
 * (pair | monitor_id |) observed_at, id indexes serve in order.
 */
export function historyQuery(filter: AlertHistoryFilter): { sql: string; params: unknown[] } {
  const conditions: string[] = [];
  const params: unknown[] = [];
  const add = (condition: (n: number) => string, ...values: unknown[]) => {
    conditions.push(condition(params.length + 1));
    params.push(...values);
  };
  if (filter.pair !== undefined) add((n) => `pair = $${n}`, filter.pair);
  if (filter.monitorId !== undefined) add((n) => `monitor_id = $${n}`, filter.monitorId);
  if (filter.since !== undefined) add((n) => `observed_at >= $${n}`, filter.since);
  if (filter.until !== undefined) add((n) => `observed_at < $${n}`, filter.until);
  if (filter.after !== undefined) {
    add((n) => `(observed_at, id) < ($${n}, $${n + 1})`, filter.after.observedAt, filter.after.id);
  }
  params.push(filter.limit);
  const where = conditions.length > 0 ? ` WHERE ${conditions.join(' AND ')}` : '';
  return {
    sql: `SELECT ${HISTORY_COLUMNS} FROM alerts${where} ORDER BY observed_at DESC, id DESC LIMIT $${params.length}`,
    params,
  };
}

/** Alerts in Postgres. */
@Injectable()
export class AlertsRepository {
  constructor(@InjectRepository(AlertEntity) private readonly repository: Repository<AlertEntity>) {}

  /**
   * Inserts a batch and, in the same statement, the webhook deliveries of the alerts that were new (the outbox:
   * a stored alert is a queued delivery, a duplicate queues nothing). Idempotent: ids
   * already stored are skipped. Rows go in id order, so two batches written at once that share an id (a
   * re-published alert) wait for each other instead of deadlocking. Returns the ids that were new.
   */
  async insertBatch(events: readonly AlertEvent[]): Promise<Set<string>> {
    if (events.length === 0) return new Set();
    const columns: unknown[][] = Array.from({ length: 11 }, () => new Array<unknown>(events.length));
    const ordered = [...events].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    ordered.forEach((e, i) => {
      columns[0][i] = e.id;
      columns[1][i] = e.monitorId;
      columns[2][i] = e.pair;
      columns[3][i] = e.direction;
      columns[4][i] = e.priceField;
      columns[5][i] = e.referencePrice;
      columns[6][i] = e.price;
      columns[7][i] = e.changePercent;
      columns[8][i] = e.thresholdPercent;
      columns[9][i] = e.intervalMs;
      columns[10][i] = e.observedAt;
    });
    const rows = await this.repository.query<{ id: string }[]>(INSERT_ALERTS_SQL, columns);
    return new Set(rows.map((row) => row.id));
  }

  /**
   * Newest first, keyset-paginated on (observed_at, id) so pages stay stable while rows arrive. Plain rows
   * already in the served shape, instants as ISO-8601 text.
   */
  async history(filter: AlertHistoryFilter): Promise<AlertDto[]> {
    const { sql, params } = historyQuery(filter);
    return this.repository.query<AlertDto[]>(sql, params);
  }
}
