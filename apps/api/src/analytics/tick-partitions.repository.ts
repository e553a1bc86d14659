import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';

const DAY_MS = 86_400_000;
const PARTITION_NAME = /^price_ticks_p(\d{4})(\d{2})(\d{2})$/;

/** The partition of the UTC day starting at `dayMs`: price_ticks_pYYYYMMDD. */
export function partitionName(dayMs: number): string {
  return `price_ticks_p${new Date(dayMs).toISOString().slice(0, 10).replace(/-/g, '')}`;
}

/** The UTC day (its start, in ms) a partition's name stands for; undefined for any other table. */
export function partitionDay(name: string): number | undefined {
  const match = PARTITION_NAME.exec(name);
  return match ? Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3])) : undefined;
}

export function utcDay(ms: number): number {
  return Math.floor(ms / DAY_MS) * DAY_MS;
}

/** What one maintenance pass did. */
export interface MaintenanceReport {
  created: string[];
  /** Ticks moved from the default partition into the partition of their day. */
  moved: number;
  dropped: string[];
  /** Ticks past retention found in the default partition (maintenance was down for that long) and deleted. */
  expiredInDefault: number;
}

/** How long a DDL statement may wait for its lock before the pass gives up (it is tried again at the next). */
const LOCK_TIMEOUT = '10s';

/**
 * price_ticks' day partitions (docs/STORAGE.md). A day's partition is made ahead of time; a tick whose day has
 * none lands in the default partition, and making that day's partition moves those rows into it, in the same
 * transaction as the ATTACH, so no tick is lost or seen twice. Old days are dropped whole, never deleted row by
 * row. Callers hold the maintenance advisory lock (one API replica at a time).
 */
@Injectable()
export class TickPartitionsRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /** The UTC days that have a partition. */
  async partitionDays(): Promise<number[]> {
    const rows = await this.dataSource.query<{ name: string }[]>(
      `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
       WHERE i.inhparent = 'price_ticks'::regclass`,
    );
    return rows
      .map((row) => partitionDay(row.name))
      .filter((day): day is number => day !== undefined)
      .sort((a, b) => a - b);
  }

  /** The UTC days of the ticks waiting in the default partition. */
  async defaultDays(): Promise<number[]> {
    const rows = await this.dataSource.query<{ day: string }[]>(
      `SELECT DISTINCT (extract(epoch FROM date_bin('1 day', at, timestamptz '1970-01-01 00:00:00+00')) * 1000)::bigint AS day
       FROM price_ticks_default`,
    );
    return rows.map((row) => Number(row.day)).sort((a, b) => a - b);
  }

  /**
   * Makes the partition of the UTC day starting at `dayMs`, moving that day's ticks out of the default partition
   * into it first; returns how many moved. Inserts into the default partition wait meanwhile (a lock held to the
   * commit), so none can slip in between the move and the ATTACH.
   */
  async createPartition(dayMs: number): Promise<number> {
    const name = partitionName(dayMs);
    const from = new Date(dayMs).toISOString();
    const to = new Date(dayMs + DAY_MS).toISOString();
    return this.dataSource.transaction(async (manager) => {
      await manager.query(`SET LOCAL lock_timeout = '${LOCK_TIMEOUT}'`);
      await manager.query('LOCK TABLE price_ticks_default IN SHARE ROW EXCLUSIVE MODE');
      await manager.query(
        `CREATE TABLE "${name}" (LIKE price_ticks INCLUDING DEFAULTS INCLUDING CONSTRAINTS)`,
      );
      const moved = await manager.query<unknown[]>(
        `WITH moved AS (
           DELETE FROM price_ticks_default WHERE at >= $1 AND at < $2 RETURNING monitor_id, pair, at, ask, bid
         ) INSERT INTO "${name}" (monitor_id, pair, at, ask, bid) SELECT * FROM moved RETURNING 1`,
        [from, to],
      );
      // The bounds as a CHECK first, so the ATTACH need not scan the rows to prove them.
      await manager.query(
        `ALTER TABLE "${name}" ADD CONSTRAINT "${name}_bounds" CHECK (at >= '${from}' AND at < '${to}')`,
      );
      await manager.query(
        `ALTER TABLE price_ticks ATTACH PARTITION "${name}" FOR VALUES FROM ('${from}') TO ('${to}')`,
      );
      await manager.query(`ALTER TABLE "${name}" DROP CONSTRAINT "${name}_bounds"`);
      return moved.length;
    });
  }

  /** Drops a day's partition whole (its ticks are past retention). */
  async dropPartition(dayMs: number): Promise<void> {
    await this.dataSource.transaction(async (manager) => {
      await manager.query(`SET LOCAL lock_timeout = '${LOCK_TIMEOUT}'`);
      await manager.query(`DROP TABLE IF EXISTS "${partitionName(dayMs)}"`);
    });
  }

  /** Deletes ticks before `cutoff` still in the default partition (their day was never made); returns how many. */
  async deleteExpiredDefault(cutoff: Date): Promise<number> {
    const [, count] = await this.dataSource.query<[unknown, number]>(
      'DELETE FROM price_ticks_default WHERE at < $1',
      [cutoff.toISOString()],
    );
    return count;
  }

  /** Deletes minute candles (1m, 5m) older than `cutoff`; hourly and daily candles are kept (a few rows a day). */
  async deleteExpiredCandles(cutoff: Date): Promise<void> {
    await this.dataSource.query('DELETE FROM price_candles WHERE interval_s < 3600 AND t < $1', [
      cutoff.toISOString(),
    ]);
  }
}
