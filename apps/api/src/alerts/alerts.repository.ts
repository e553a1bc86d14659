import { Inject, Injectable, Optional } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { AlertEvent } from '@pairwatch/contracts';
import { DataSource } from 'typeorm';
import { prepared, PreparedStatement, runPrepared } from '../database/prepared-statement';
import { ReadReplica } from '../database/read-replica';
import { binaryTextArray, isoText } from '../database/sql-text';
import type { AlertCursor } from './alert-cursor';
import { ALERT_OUTBOX, type AlertOutbox } from './alert-outbox';
import type { AlertDto } from './dto/alert.dto';

export interface AlertHistoryFilter {
  pair?: string;
  monitorId?: string;
  kind?: string;
  ruleId?: string;
  since?: Date;
  until?: Date;
  /** Newest first (the history's pages): rows before this cursor. */
  after?: AlertCursor;
  /** Oldest first instead (the stream's replay): rows after this cursor. */
  newerThan?: AlertCursor;
  limit: number;
  /**
   * The rows may be up to READ_MAX_LAG_MS behind (a history page): read on the read replica while it serves.
   * Never for the stream's replay, which must see every row committed before its notification.
   */
  mayLag?: boolean;
}

/**
 * The channel every API replica LISTENs on. Each message names stored alerts, at their commit: their ids,
 * comma-separated, in cursor order (see {@link parseNotifiedIds}); a replica with open streams reads those rows
 * ({@link AlertsRepository.byIds}). Ids, not the rows themselves: making each row's JSON in the ingestion
 * statement cost Postgres about half again the insert itself, for every alert, streams open or not.
 */
export const ALERTS_CHANNEL = 'pairwatch_alerts';

/** Ids per notification: 200 × 37 characters stays below NOTIFY's 8,000-byte payload limit. */
export const NOTIFIED_IDS_PER_MESSAGE = 200;

/** The ids a notification on {@link ALERTS_CHANNEL} names, in cursor order; none for a payload of another shape. */
export function parseNotifiedIds(payload: string | undefined): string[] {
  if (!payload || !NOTIFIED_IDS.test(payload)) return [];
  return payload.split(',');
}

const NOTIFIED_IDS =
  /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(,[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})*$/;

/**
 * The served shape (AlertDto) of a row, column by column: the history's select list. Decimals as the pg
 * driver hands them: text, exact, the digits stored.
 */
const SERVED_COLUMNS: readonly (readonly [name: keyof AlertDto, sql: string])[] = [
  ['id', 'id'],
  ['monitorId', 'monitor_id'],
  ['pair', 'pair'],
  ['ruleId', 'rule_id'],
  ['kind', 'kind'],
  ['details', 'details'],
  ['direction', 'direction'],
  ['priceField', 'price_field'],
  ['referencePrice', 'reference_price'],
  ['price', 'price'],
  ['changePercent', 'change_percent'],
  ['thresholdPercent', 'threshold_percent'],
  ['intervalMs', 'interval_ms'],
  ['observedAt', isoText('observed_at')],
  ['createdAt', isoText('created_at')],
];

const HISTORY_COLUMNS = SERVED_COLUMNS.map(([name, sql]) => `${sql} AS "${name}"`).join(', ');

/**
 * One statement for any batch size, and one round trip: the batch travels as one array per column, so the text
 * (and its plan) never changes and Postgres parses eleven parameters instead of eleven per alert. Each column is a
 * binary `text[]` ({@link binaryTextArray}) cast to its type, so every value still meets its type's own input
 * function, as a literal would; the rows it
 * stored feed the outbox ({@link AlertOutbox}) in the same statement (so in the same transaction). The stored rows' ids are
 * notified on {@link ALERTS_CHANNEL}, {@link NOTIFIED_IDS_PER_MESSAGE} to a message, in cursor order, and come
 * back as the same lists: Postgres delivers notifications when their transaction commits, and only then, in
 * commit order (a transaction's own in the order sent), so every replica's live stream sees exactly the
 * committed rows. (pg_notify is volatile: it runs after the sort, in `g` order.)
 */
export const insertAlertsSql = (outbox: AlertOutbox | undefined): string => `WITH stored AS (
  INSERT INTO alerts (id, monitor_id, pair, direction, price_field, reference_price,
    price, change_percent, threshold_percent, interval_ms, observed_at, rule_id, kind, details)
  SELECT * FROM unnest($1::text[]::uuid[], $2::text[]::uuid[], $3::text[]::varchar[], $4::text[]::varchar[],
    $5::text[]::varchar[], $6::text[]::numeric[], $7::text[]::numeric[], $8::text[]::numeric[],
    $9::text[]::numeric[], $10::text[]::int[], $11::text[]::timestamptz[], $12::text[]::varchar[],
    $13::text[]::varchar[], $14::text[]::jsonb[])
  ON CONFLICT (id) DO NOTHING
  RETURNING *
)${outbox ? `, queued AS (\n${outbox.queueSql('stored')}\n)` : ''}, lists AS (
  SELECT g, string_agg(id::text, ',' ORDER BY observed_at, id) AS ids
  FROM (SELECT id, observed_at,
    (row_number() OVER (ORDER BY observed_at, id) - 1) / ${NOTIFIED_IDS_PER_MESSAGE} AS g FROM stored) AS numbered
  GROUP BY g
)
SELECT ids, pg_notify('${ALERTS_CHANNEL}', ids) FROM lists ORDER BY g`;

const FIRES_BY_RULE = prepared(
  `SELECT monitor_id AS "monitorId", rule_id AS "ruleId", count(*)::int AS fires
   FROM alerts WHERE monitor_id = ANY($1::uuid[]) GROUP BY monitor_id, rule_id`,
);

const ALERTS_BY_IDS = prepared(`SELECT ${HISTORY_COLUMNS} FROM alerts WHERE id = ANY($1::uuid[])`);

/**
 * The history query for a filter: a fixed text per set of filters given (the conditions always in this order),
 * every value a parameter. Newest first, keyset-paginated on (observed_at, id), which the
 * (pair | monitor_id |) observed_at, id indexes serve in order (backwards for the stream's replay, oldest first).
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
  if (filter.kind !== undefined) add((n) => `kind = $${n}`, filter.kind);
  if (filter.ruleId !== undefined) add((n) => `rule_id = $${n}`, filter.ruleId);
  if (filter.since !== undefined) add((n) => `observed_at >= $${n}`, filter.since);
  if (filter.until !== undefined) add((n) => `observed_at < $${n}`, filter.until);
  if (filter.after !== undefined) {
    add((n) => `(observed_at, id) < ($${n}, $${n + 1})`, filter.after.observedAt, filter.after.id);
  }
  if (filter.newerThan !== undefined) {
    add((n) => `(observed_at, id) > ($${n}, $${n + 1})`, filter.newerThan.observedAt, filter.newerThan.id);
  }
  params.push(filter.limit);
  const where = conditions.length > 0 ? ` WHERE ${conditions.join(' AND ')}` : '';
  const order = filter.newerThan !== undefined ? 'observed_at, id' : 'observed_at DESC, id DESC';
  return {
    sql: `SELECT ${HISTORY_COLUMNS} FROM alerts${where} ORDER BY ${order} LIMIT $${params.length}`,
    params,
  };
}

/** The rule kind of an alert row, as the statistics group by it (rows from before rules existed are `move`). */
const KIND_SQL = `kind`;

/** One group the statistics count: alerts of a kind and direction in one bucket (its start, epoch seconds). */
export interface AlertCountRow {
  startS: string;
  kind: string;
  direction: string;
  count: number;
}

/**
 * The statistics' statement: with or without the pair condition. Buckets of $1 seconds from the epoch, UTC,
 * numbered in float8 (date_part) and hashed: numeric epochs (extract) and a sort of every row made it twice
 * as slow.
 */
const statsStatement = (byPair: boolean) =>
  prepared(`SELECT (b * $1::int)::text AS "startS", kind, direction, n AS count
FROM (SELECT floor(date_part('epoch', observed_at) / $1::int)::bigint AS b, ${KIND_SQL} AS kind, direction,
    count(*)::int AS n
  FROM alerts WHERE observed_at >= $2 AND observed_at < $3${byPair ? ' AND pair = $4' : ''}
  GROUP BY 1, 2, 3) AS g
ORDER BY 1, 2, 3`);
const STATS_ALL = statsStatement(false);
const STATS_BY_PAIR = statsStatement(true);

/** The history's statements, one per set of filters given, prepared once each. */
const historyStatements = new Map<string, PreparedStatement>();

/** Alerts in Postgres. The three hot statements run prepared (see runPrepared). */
@Injectable()
export class AlertsRepository {
  private readonly insertAlerts: PreparedStatement;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly reads: ReadReplica,
    @Optional() @Inject(ALERT_OUTBOX) outbox?: AlertOutbox,
  ) {
    this.insertAlerts = prepared(insertAlertsSql(outbox));
  }

  /**
   * Inserts a batch and, in the same statement, the outbox's deliveries of the alerts that were new (the outbox:
   * a stored alert is a queued delivery, a duplicate queues nothing). Idempotent: ids
   * already stored are skipped. Rows go in id order, so two batches written at once that share an id (a
   * re-published alert) wait for each other instead of deadlocking. Returns the ids that were new.
   */
  async insertBatch(events: readonly AlertEvent[]): Promise<Set<string>> {
    if (events.length === 0) return new Set();
    const columns = Array.from({ length: 14 }, () => new Array<string | number>(events.length));
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
      columns[11][i] = e.ruleId;
      columns[12][i] = e.kind;
      columns[13][i] = JSON.stringify(e.details);
    });
    const lists = await runPrepared<{ ids: string }>(
      this.dataSource,
      this.insertAlerts,
      columns.map(binaryTextArray),
    );
    return new Set(lists.flatMap((list) => list.ids.split(',')));
  }

  /**
   * How many alerts each rule of these monitors fired, from the stored alerts (one grouped read of the
   * (monitor_id, rule_id) index): `{monitorId: {r1: 3}}`; a rule that never fired is absent.
   */
  async firesByRule(monitorIds: readonly string[]): Promise<Map<string, Record<string, number>>> {
    const fires = new Map<string, Record<string, number>>();
    if (monitorIds.length === 0) return fires;
    const rows = await runPrepared<{ monitorId: string; ruleId: string; fires: number }>(
      this.dataSource,
      FIRES_BY_RULE,
      [monitorIds],
    );
    for (const row of rows) {
      const byRule = fires.get(row.monitorId) ?? {};
      byRule[row.ruleId] = Number(row.fires);
      fires.set(row.monitorId, byRule);
    }
    return fires;
  }

  /** The rows of these ids that exist, in the served shape, in no particular order. */
  async byIds(ids: readonly string[]): Promise<AlertDto[]> {
    if (ids.length === 0) return [];
    return runPrepared<AlertDto>(this.dataSource, ALERTS_BY_IDS, [ids]);
  }

  /**
   * Newest first, keyset-paginated on (observed_at, id) so pages stay stable while rows arrive. Plain rows
   * already in the served shape, instants as ISO-8601 text.
   */
  async history(filter: AlertHistoryFilter): Promise<AlertDto[]> {
    const { sql, params } = historyQuery(filter);
    let statement = historyStatements.get(sql);
    if (!statement) historyStatements.set(sql, (statement = prepared(sql)));
    if (filter.mayLag) return this.reads.read<AlertDto>(statement, params);
    return runPrepared<AlertDto>(this.dataSource, statement, params);
  }

  /**
   * Alerts observed in [since, until), of `pair` when given, counted per bucket of `bucketS` seconds, kind and
   * direction; on the read replica while it serves.
   */
  async countByBucket(filter: {
    pair?: string;
    since: Date;
    until: Date;
    bucketS: number;
  }): Promise<AlertCountRow[]> {
    const params: unknown[] = [filter.bucketS, filter.since.toISOString(), filter.until.toISOString()];
    if (filter.pair !== undefined) params.push(filter.pair);
    return this.reads.read<AlertCountRow>(filter.pair !== undefined ? STATS_BY_PAIR : STATS_ALL, params);
  }
}
