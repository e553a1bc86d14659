import Redis from 'ioredis';
import { Client } from 'pg';
import { ALERTS_CONSUMER_GROUP, ALERTS_STREAM } from '@pairwatch/contracts';
import { xinfoFields } from '../stream';
import { eventually } from '../wait';

/** The count every fault case ends with: alerts published by workers against rows in Postgres, by id. */
export interface LedgerCount {
  published: number;
  stored: number;
  /** Published, not stored. */
  missing: string[];
  /** Stored, never published (by this case's workers). */
  extra: string[];
  /** Rows sharing an id (the primary key makes it 0; counted anyway). */
  duplicateRows: number;
  /** XADDs the stream ever took (XINFO STREAM entries-added): more than `published` means re-sends. */
  streamAppends: number | undefined;
}

/** The ids of the alerts the workers of one case published. */
export class AlertLedger {
  private readonly ids = new Set<string>();

  add(id: string): void {
    this.ids.add(id);
  }

  addAll(ids: Iterable<string>): void {
    for (const id of ids) this.add(id);
  }

  get size(): number {
    return this.ids.size;
  }

  has(id: string): boolean {
    return this.ids.has(id);
  }

  /**
   * Compares with `SELECT id FROM alerts` in the case's own Postgres (only these monitors' rows when
   * `monitorIds` is given).
   */
  async count(databaseUrl: string, redisUrl?: string, monitorIds?: string[]): Promise<LedgerCount> {
    const where = monitorIds ? 'WHERE monitor_id = ANY($1::uuid[])' : '';
    const params = monitorIds ? [monitorIds] : [];
    const rows = await withClient(databaseUrl, async (client) => {
      const result = await client.query<{ id: string }>(`SELECT id::text AS id FROM alerts ${where}`, params);
      const dup = await client.query<{ n: string }>(
        `SELECT count(*) - count(DISTINCT id) AS n FROM alerts ${where}`,
        params,
      );
      return { ids: result.rows.map((r) => r.id), duplicateRows: Number(dup.rows[0].n) };
    });
    const stored = new Set(rows.ids);
    const missing = [...this.ids].filter((id) => !stored.has(id));
    const extra = [...stored].filter((id) => !this.ids.has(id));
    return {
      published: this.ids.size,
      stored: stored.size,
      missing,
      extra,
      duplicateRows: rows.duplicateRows,
      streamAppends: redisUrl ? (await streamInfo(redisUrl)).entriesAdded : undefined,
    };
  }
}

export async function withClient<T>(url: string, fn: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Rows in `alerts`; undefined while Postgres does not answer. */
export async function rowCount(databaseUrl: string): Promise<number | undefined> {
  try {
    return await withClient(databaseUrl, async (client) => {
      const result = await client.query<{ n: string }>('SELECT count(*) AS n FROM alerts');
      return Number(result.rows[0].n);
    });
  } catch {
    return undefined;
  }
}

/**
 * Waits until `alerts` holds `expected` rows, polling every 200 ms, for at most `timeoutMs`. Resolves with
 * the time it took; rejects naming the last count seen.
 */
export async function waitForRows(databaseUrl: string, expected: number, timeoutMs: number): Promise<number> {
  const started = Date.now();
  let last: number | undefined;
  try {
    await eventually(
      `${expected} rows`,
      async () => {
        last = await rowCount(databaseUrl);
        return last !== undefined && last >= expected ? true : undefined;
      },
      timeoutMs,
    );
  } catch {
    throw new Error(`expected ${expected} rows within ${timeoutMs} ms; last count ${last ?? 'unavailable'}`);
  }
  return Date.now() - started;
}

export interface StreamInfo {
  length: number;
  entriesAdded: number | undefined;
  /** Pending entries per consumer of the group. */
  consumers: { name: string; pending: number; idleMs: number }[];
}

/** XINFO STREAM and XINFO CONSUMERS of a stream and its group: the alerts' by default. */
export async function streamInfo(
  redisUrl: string,
  stream = ALERTS_STREAM,
  group = ALERTS_CONSUMER_GROUP,
): Promise<StreamInfo> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1, connectTimeout: 2000 });
  redis.on('error', () => undefined);
  try {
    const info = xinfoFields((await redis.call('XINFO', 'STREAM', stream)) as unknown[]);
    let consumers: StreamInfo['consumers'] = [];
    try {
      const raw = (await redis.call('XINFO', 'CONSUMERS', stream, group)) as unknown[][];
      consumers = raw.map((c) => {
        const fields = xinfoFields(c);
        return { name: String(fields.name), pending: Number(fields.pending), idleMs: Number(fields.idle) };
      });
    } catch {
      // no group yet
    }
    return {
      length: Number(info.length),
      entriesAdded: info['entries-added'] === undefined ? undefined : Number(info['entries-added']),
      consumers,
    };
  } finally {
    redis.disconnect();
  }
}

/** One line per case, printed and kept, for docs/RELIABILITY.md. */
export function summaryLine(
  name: string,
  count: LedgerCount,
  extra: Record<string, string | number> = {},
): string {
  const resent =
    count.streamAppends === undefined
      ? ''
      : ` streamAppends=${count.streamAppends} (re-sent ${count.streamAppends - count.published})`;
  const rest = Object.entries(extra)
    .map(([key, value]) => ` ${key}=${value}`)
    .join('');
  return (
    `[faults] ${name}: published=${count.published} stored=${count.stored} missing=${count.missing.length} ` +
    `extra=${count.extra.length} duplicateRows=${count.duplicateRows}${resent}${rest}`
  );
}
