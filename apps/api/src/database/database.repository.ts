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
  /** One monitor's workload: who converges it (keyed by the monitor's id, see withKeyedLock). */
  Monitor = 0x70617775, // "pawu"
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
   * Runs `fn` while holding `lock` for `key` (one lock per key, e.g. per monitor id) on one session, waiting
   * for it. No transaction stays open meanwhile; the lock is released, and the connection given back,
   * whatever `fn` does.
   */
  async withKeyedLock<T>(lock: DatabaseLock, key: string, fn: () => Promise<T>): Promise<T> {
    const attempt = await this.keyed(lock, key, 'pg_advisory_lock', fn);
    if (!attempt.acquired) throw new Error(`advisory lock ${lock}/${key} was not taken`);
    return attempt.value;
  }

  /** As withKeyedLock, but never waits: `{ acquired: false }` at once when another session holds it. */
  tryWithKeyedLock<T>(lock: DatabaseLock, key: string, fn: () => Promise<T>): Promise<LockAttempt<T>> {
    return this.keyed(lock, key, 'pg_try_advisory_lock', fn);
  }

  private async keyed<T>(
    lock: DatabaseLock,
    key: string,
    take: 'pg_advisory_lock' | 'pg_try_advisory_lock',
    fn: () => Promise<T>,
  ): Promise<LockAttempt<T>> {
    const runner = this.dataSource.createQueryRunner();
    await runner.connect();
    try {
      // pg_advisory_lock answers void (an empty string), pg_try_advisory_lock a boolean.
      const [{ locked }] = (await runner.query(`SELECT ${take}($1, hashtext($2)) AS locked`, [
        lock,
        key,
      ])) as {
        locked: boolean | string;
      }[];
      if (locked === false) return { acquired: false };
      try {
        return { acquired: true, value: await fn() };
      } finally {
        await runner.query('SELECT pg_advisory_unlock($1, hashtext($2))', [lock, key]);
      }
    } finally {
      await runner.release();
    }
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
