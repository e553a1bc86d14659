import { DataSource, EntityManager } from 'typeorm';
import { DatabaseLock, DatabaseRepository } from './database.repository';

interface QueryRunnerMock {
  connect: jest.Mock<Promise<void>, []>;
  query: jest.Mock<Promise<unknown>, [string, unknown[]?]>;
  release: jest.Mock<Promise<void>, []>;
}

/** A DataSource whose query runners answer the try-lock query with `locked`, and whose transactions record. */
function newDataSourceFake(locked: () => boolean) {
  const runners: QueryRunnerMock[] = [];
  const manager = { query: jest.fn<Promise<unknown>, [string, unknown[]?]>(() => Promise.resolve([])) };
  const fake = {
    runners,
    manager,
    query: jest.fn<Promise<unknown>, [string]>(() => Promise.resolve([{ '?column?': 1 }])),
    transaction: jest.fn((fn: (m: EntityManager) => Promise<unknown>) =>
      fn(manager as unknown as EntityManager),
    ),
    createQueryRunner: jest.fn(() => {
      const runner: QueryRunnerMock = {
        connect: jest.fn(() => Promise.resolve()),
        query: jest.fn((sql: string) =>
          Promise.resolve(sql.includes('pg_try_advisory_lock') ? [{ locked: locked() }] : [{}]),
        ),
        release: jest.fn(() => Promise.resolve()),
      };
      runners.push(runner);
      return runner;
    }),
  };
  return fake;
}

describe(DatabaseRepository.name, () => {
  let locked: boolean;
  let db: ReturnType<typeof newDataSourceFake>;
  let sut: DatabaseRepository;

  beforeEach(() => {
    locked = true;
    db = newDataSourceFake(() => locked);
    sut = new DatabaseRepository(db as unknown as DataSource);
  });

  it('keeps the advisory-lock keys every replica already uses', () => {
    expect(DatabaseLock.MonitorCreate).toBe(0x70617772);
    expect(DatabaseLock.Reconcile).toBe(0x70617773);
  });

  describe('ping', () => {
    it('asks Postgres a query and resolves', async () => {
      await sut.ping();
      expect(db.query).toHaveBeenCalledWith('SELECT 1');
    });

    it('rejects when Postgres cannot answer', async () => {
      db.query.mockRejectedValue(new Error('connect ECONNREFUSED 127.0.0.1:5432'));
      await expect(sut.ping()).rejects.toThrow('ECONNREFUSED');
    });
  });

  describe('withLock', () => {
    it('takes the transaction-level lock inside the transaction before fn runs, and answers what fn does', async () => {
      const fn = jest.fn((manager: EntityManager) => {
        expect(manager).toBe(db.manager);
        expect(db.manager.query).toHaveBeenCalledWith('SELECT pg_advisory_xact_lock($1)', [
          DatabaseLock.MonitorCreate,
        ]);
        return Promise.resolve('done');
      });

      await expect(sut.withLock(DatabaseLock.MonitorCreate, fn)).resolves.toBe('done');

      expect(db.transaction).toHaveBeenCalledTimes(1);
      expect(fn).toHaveBeenCalledTimes(1);
    });

    it('lets the error of fn through (the transaction rolls back and the lock goes with it)', async () => {
      const refused = new Error('refused');
      await expect(sut.withLock(DatabaseLock.MonitorCreate, () => Promise.reject(refused))).rejects.toBe(
        refused,
      );
    });
  });

  describe('tryWithLock', () => {
    it('runs fn under the session lock, then unlocks with the same key and releases the connection', async () => {
      const attempt = await sut.tryWithLock(DatabaseLock.Reconcile, () => Promise.resolve(7));

      expect(attempt).toEqual({ acquired: true, value: 7 });
      const [runner] = db.runners;
      expect(runner.connect).toHaveBeenCalled();
      const calls = runner.query.mock.calls;
      expect(calls).toHaveLength(2);
      expect(calls[0]).toEqual(['SELECT pg_try_advisory_lock($1) AS locked', [DatabaseLock.Reconcile]]);
      expect(calls[1]).toEqual(['SELECT pg_advisory_unlock($1)', [DatabaseLock.Reconcile]]);
      expect(runner.release).toHaveBeenCalledTimes(1);
      expect(runner.release.mock.invocationCallOrder[0]).toBeGreaterThan(
        runner.query.mock.invocationCallOrder[1],
      );
    });

    it('runs nothing, and never waits, when another session holds the lock', async () => {
      locked = false;
      const fn = jest.fn(() => Promise.resolve());

      expect(await sut.tryWithLock(DatabaseLock.Reconcile, fn)).toEqual({ acquired: false });

      expect(fn).not.toHaveBeenCalled();
      const [runner] = db.runners;
      expect(runner.query).toHaveBeenCalledTimes(1);
      expect(runner.release).toHaveBeenCalledTimes(1);
    });

    it('still unlocks and releases when fn throws, and lets the error through', async () => {
      const boom = new Error('connect ECONNREFUSED /var/run/docker.sock');

      await expect(sut.tryWithLock(DatabaseLock.Reconcile, () => Promise.reject(boom))).rejects.toBe(boom);

      const [runner] = db.runners;
      expect(runner.query.mock.calls.map(([sql]) => sql)).toEqual([
        expect.stringContaining('pg_try_advisory_lock'),
        expect.stringContaining('pg_advisory_unlock'),
      ]);
      expect(runner.release).toHaveBeenCalledTimes(1);
    });

    it('releases the connection when the lock query itself fails', async () => {
      const runnerFactory = db.createQueryRunner.getMockImplementation()!;
      db.createQueryRunner.mockImplementationOnce(() => {
        const runner = runnerFactory();
        runner.query.mockRejectedValue(new Error('terminating connection'));
        return runner;
      });

      await expect(sut.tryWithLock(DatabaseLock.Reconcile, () => Promise.resolve())).rejects.toThrow(
        'terminating',
      );
      expect(db.runners[0].release).toHaveBeenCalledTimes(1);
    });
  });
});
