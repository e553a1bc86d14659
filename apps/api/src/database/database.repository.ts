import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';

/** The installation's advisory locks: one key each, shared by every API replica. */
export enum DatabaseLock {
  /** Serialises monitor creation and reactivation, so the pair and budget checks see every committed monitor. */
  MonitorCreate = 0x70617772, // "pawr"
  /** Only one replica reconciles at a time. */
  Reconcile = 0x70617773, // "paws"
  /** Only one replica makes and drops price_ticks' partitions at a time. */
  TickPartitions = 0x70617774, // "pawt"
}

/** What tryWithLock answers: whether the lock was free, and what `fn` returned when it ran. */
export type LockAttempt<T> = { acquired: true; value: T } | { acquired: false };

/** The API's one door to Postgres itself (as opposed to its tables): liveness and advisory locks. */
@Injectable()
export class DatabaseRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /** Resolves when Postgres answers a query. */
  async ping(): Promise<void> {
    await this.dataSource.query('SELECT 1');
  }

  /**
   * Runs `fn` in one transaction that holds `lock` (waited for, released at commit or rollback), handing it
   * the transaction's manager: everything `fn` reads and writes through it is under the lock.
   */
  withLock<T>(lock: DatabaseLock, fn: (manager: EntityManager) => Promise<T>): Promise<T> {
    return this.dataSource.transaction(async (manager) => {
      await manager.query('SELECT pg_advisory_xact_lock($1)', [lock]);
      return fn(manager);
    });
  }

  /**
   * Runs `fn` while holding `lock` on one session, when the lock is free; never waits for it. The lock is
   * released, and the connection given back, whatever `fn` does.
   */
  async tryWithLock<T>(lock: DatabaseLock, fn: () => Promise<T>): Promise<LockAttempt<T>> {
    const runner = this.dataSource.createQueryRunner();
    await runner.connect();
    try {
      const [{ locked }] = (await runner.query('SELECT pg_try_advisory_lock($1) AS locked', [lock])) as {
        locked: boolean;
      }[];
      if (!locked) return { acquired: false };
      try {
        return { acquired: true, value: await fn() };
      } finally {
        await runner.query('SELECT pg_advisory_unlock($1)', [lock]);
      }
    } finally {
      await runner.release();
    }
  }
}
