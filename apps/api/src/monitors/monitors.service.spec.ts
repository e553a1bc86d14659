import { RelayAddress } from '../config/relay-address';
import { HttpException, Logger } from '@nestjs/common';
import { legacyMoveRule, parseWorkerEnv, type Rule, WorkerState } from '@pairwatch/contracts';
import { AlertsRepository } from '../alerts/alerts.repository';
import { TickArchiveRepository } from '../analytics/tick-archive.repository';
import { AppConfig, loadConfig } from '../config/app.config';
import { PricesBody, RecentPrices } from '../redis/recent-prices';
import { WorkerStateReader } from '../redis/worker-state.reader';
import {
  RuntimeUnavailableError,
  WorkerInfo,
  WorkerRuntime,
  WorkerSpec,
  workerOf,
} from '../runtime/worker-runtime';
import { UpholdClient, UpholdUnavailableError } from '../uphold/uphold.client';
import { CreateMonitorDto } from './dto/create-monitor.dto';
import { MonitorLifecycle } from './monitor-lifecycle.service';
import { MonitorEntity } from './monitor.entity';
import {
  MonitorsRepository,
  NewMonitor,
  PairAlreadyMonitoredError,
  RateBudgetExceededError,
} from './monitors.repository';
import { MonitorsService } from './monitors.service';
import { WorkerSpecFactory } from './worker-spec.factory';
import { newWorkerRuntimeMock } from '../runtime/testing/worker-runtime.mock';
import { sampleMonitorEntity } from './testing/monitor-entity.fixture';
import { newMonitorsRepositoryMock, PublicOf } from './testing/monitors-repository.mock';
import { DatabaseLock, DatabaseRepository } from '../database/database.repository';
import { ReconcileExecutor } from '../supervisor/reconcile-executor.service';
import { RelaySpecFactory } from '../supervisor/relay-spec.factory';
import { RelayStatus } from '../supervisor/relay-status.service';
import { WorkerExitsRepository } from '../supervisor/worker-exits.repository';
import { WorkerSupervisor } from '../supervisor/worker-supervisor.service';

/** The public surface of a class, so a plain object of jest.fn()s can stand for it. */

const MONITOR_ID = '3f2b8c1a-5d4e-4f6a-9b8c-7d6e5f4a3b2c';
const WORKER_ID = 'c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00';

function newUpholdClientMock(): jest.Mocked<PublicOf<UpholdClient>> {
  return {
    baseUrl: 'http://fake-ticker:8080',
    pairExists: jest.fn(),
    pairEndpointOnly: jest.fn(),
    relayUpstreamRequests: jest.fn(),
    relayHealthy: jest.fn(),
  };
}

/** A worker's report as the state reader returns it (libs/contracts WorkerState). */
function reported(overrides: Partial<WorkerState> = {}): WorkerState {
  return {
    status: 'running',
    consecutiveErrors: 0,
    pendingAlerts: 0,
    alertsSent: 0,
    droppedAlerts: 0,
    pid: 1234,
    startedAt: '2025-01-01T00:00:00.000Z',
    ...overrides,
  };
}

function newStateReaderMock(): jest.Mocked<Pick<WorkerStateReader, 'read'>> {
  return { read: jest.fn() };
}

function newRecentPricesMock(): jest.Mocked<Pick<RecentPrices, 'read'>> {
  return { read: jest.fn() };
}

/** A body as RecentPrices answers it, of `json` and nothing left out. */
const pricesBodyOf = (json: Buffer): PricesBody => ({ json, count: 0, unreadable: 0, reason: '' });

function entity(values: Partial<MonitorEntity> = {}): MonitorEntity {
  return sampleMonitorEntity({ id: MONITOR_ID, ...values });
}

function workerInfo(values: Partial<WorkerInfo> = {}): WorkerInfo {
  return {
    role: 'worker',
    workerId: WORKER_ID,
    monitorId: MONITOR_ID,
    pair: 'BTC-USD',
    name: `pairwatch-worker-btc-usd-${MONITOR_ID}`,
    state: 'running',
    exitCode: null,
    restarts: 0,
    image: 'pairwatch-worker:latest',
    startedAt: '2025-01-01T00:00:01.000Z',
    specHash: 'abcdef0123456789',
    ...values,
  };
}

/** A DTO as the global pipe leaves it: defaults applied. */
function dto(values: Partial<CreateMonitorDto> = {}): CreateMonitorDto {
  return Object.assign(new CreateMonitorDto(), { pair: 'BTC-USD', ...values });
}

async function httpErrorOf(
  promise: Promise<unknown>,
): Promise<{ status: number; body: { message: string[]; errors?: { field: string }[] } }> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(HttpException);
    const exception = error as HttpException;
    return {
      status: exception.getStatus(),
      body: exception.getResponse() as { message: string[]; errors?: { field: string }[] },
    };
  }
  throw new Error('expected an HttpException');
}

describe(MonitorsService.name, () => {
  let config: AppConfig;
  let monitors: jest.Mocked<PublicOf<MonitorsRepository>>;
  let runtime: jest.Mocked<WorkerRuntime>;
  let uphold: jest.Mocked<PublicOf<UpholdClient>>;
  let states: jest.Mocked<Pick<WorkerStateReader, 'read'>>;
  let prices: jest.Mocked<Pick<RecentPrices, 'read'>>;
  let withKeyedLock: jest.Mock;
  let firesByRule: jest.Mock;
  let sut: MonitorsService;

  beforeEach(() => {
    jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
    jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    config = loadConfig({
      REDIS_URL: 'redis://api-side:6379',
      WORKER_REDIS_URL: 'redis://redis:6379',
      UPHOLD_API_URL: 'http://fake-ticker:8080/',
      UPHOLD_RELAY: 'off',
      UPHOLD_RATE_LIMIT_PER_MIN: '250',
      API_KEY: 'api-key-that-must-not-reach-workers',
      DATABASE_URL: 'postgres://user:db-password@db/pairwatch',
    });
    monitors = newMonitorsRepositoryMock();
    runtime = newWorkerRuntimeMock();
    uphold = newUpholdClientMock();
    states = newStateReaderMock();
    prices = newRecentPricesMock();

    // Happy-path defaults; each test overrides what it is about.
    runtime.ensureReady.mockResolvedValue();
    runtime.stop.mockResolvedValue();
    runtime.ping.mockResolvedValue();
    runtime.start.mockResolvedValue(workerInfo());
    runtime.find.mockResolvedValue(null);
    monitors.findActiveByPair.mockResolvedValue(null);
    // The rows as written: what the convergence reads back under the monitor's lock.
    const rows = new Map<string, MonitorEntity>();
    monitors.insertWithinBudget.mockImplementation((values: NewMonitor) => {
      const row = entity({ ...values });
      rows.set(row.id, row);
      return Promise.resolve(row);
    });
    monitors.findById.mockImplementation((id: string) => Promise.resolve(rows.get(id) ?? null));
    // Transitions succeed: the row was in the first status the transition starts from.
    monitors.move.mockImplementation((_id, move) => Promise.resolve(move.from[0]));
    monitors.deleteIfIn.mockResolvedValue('starting');
    uphold.pairExists.mockResolvedValue(true);
    uphold.pairEndpointOnly.mockResolvedValue([]);
    states.read.mockResolvedValue(new Map());

    sut = newService(config);
  });

  afterEach(() => jest.restoreAllMocks());

  /**
   * The service over the mocks, with the real lifecycle in between, and the real convergence (the
   * supervisor and its executor) behind it: what a request makes the runtime do goes through the one path.
   */
  function newService(withConfig: AppConfig): MonitorsService {
    const repository = monitors as unknown as MonitorsRepository;
    const lifecycle = new MonitorLifecycle(repository);
    const specs = new WorkerSpecFactory(withConfig, new RelayAddress(withConfig));
    const relaySpecs = new RelaySpecFactory(withConfig, new RelayAddress(withConfig));
    const relayStatus = new RelayStatus();
    withKeyedLock = jest.fn((_lock: DatabaseLock, _key: string, fn: () => Promise<unknown>) => fn());
    firesByRule = jest.fn().mockResolvedValue(new Map());
    const database = { withKeyedLock } as unknown as DatabaseRepository;
    const exits = { countDeaths: jest.fn().mockResolvedValue(0) } as unknown as WorkerExitsRepository;
    const convergence = new WorkerSupervisor(
      withConfig,
      database,
      runtime,
      repository,
      exits,
      specs,
      new ReconcileExecutor(runtime, lifecycle, specs, relaySpecs, relayStatus),
      relaySpecs,
      relayStatus,
    );
    return new MonitorsService(
      withConfig,
      repository,
      lifecycle,
      runtime,
      uphold as unknown as UpholdClient,
      states as unknown as WorkerStateReader,
      prices,
      convergence,
      { firesByRule } as unknown as AlertsRepository,
      { ticks: jest.fn().mockResolvedValue([]) } as unknown as TickArchiveRepository,
    );
  }

  describe('create', () => {
    it('writes the row first, then converges the monitor under its lock: the worker starts only then', async () => {
      const created = await sut.create(dto());
      expect(withKeyedLock).toHaveBeenCalledWith(DatabaseLock.Monitor, created.id, expect.any(Function));
      expect(runtime.start.mock.invocationCallOrder[0]).toBeGreaterThan(
        monitors.insertWithinBudget.mock.invocationCallOrder[0],
      );
      expect(created).toMatchObject({ status: 'running', workerId: WORKER_ID });
    });

    it('removes the new worker and answers 409 when a DELETE stopped the monitor while it started', async () => {
      // The DELETE's write lands while the worker starts: marking it running finds the row stopped.
      monitors.move.mockImplementation(async (id) => {
        Object.assign((await monitors.findById(id))!, { status: 'stopped' });
        return null;
      });
      const { status, body } = await httpErrorOf(sut.create(dto()));
      expect(status).toBe(409);
      expect(body.message.join(' ')).toMatch(/stopped while its worker was starting/);
      expect(runtime.start).toHaveBeenCalledTimes(1);
      expect(runtime.stop).toHaveBeenCalledWith(workerOf(MONITOR_ID));
    });

    it('answers 503 and creates nothing when the runtime is not ready', async () => {
      runtime.ensureReady.mockRejectedValue(new RuntimeUnavailableError('Docker engine unreachable'));
      const { status, body } = await httpErrorOf(sut.create(dto()));
      expect(status).toBe(503);
      expect(body.message.join(' ')).toContain('Docker engine unreachable');
      expect(monitors.insertWithinBudget).not.toHaveBeenCalled();
      expect(runtime.start).not.toHaveBeenCalled();
    });

    it('lets an unexpected ensureReady error through untouched (a 500, not a 503)', async () => {
      const bug = new TypeError('bug');
      runtime.ensureReady.mockRejectedValue(bug);
      await expect(sut.create(dto())).rejects.toBe(bug);
      expect(monitors.insertWithinBudget).not.toHaveBeenCalled();
    });

    it('answers 422 naming the pair when Uphold does not list it, and records nothing', async () => {
      uphold.pairExists.mockResolvedValue(false);
      const { status, body } = await httpErrorOf(sut.create(dto({ pair: 'FOO-BAR' })));
      expect(status).toBe(422);
      expect(body.message.join(' ')).toContain('FOO-BAR');
      expect(body.errors?.map((e) => e.field)).toEqual(['pair']);
      expect(uphold.pairExists).toHaveBeenCalledWith('FOO-BAR');
      expect(monitors.insertWithinBudget).not.toHaveBeenCalled();
      expect(runtime.start).not.toHaveBeenCalled();
    });

    it('answers 503 when Uphold cannot be asked, and records nothing', async () => {
      uphold.pairExists.mockRejectedValue(new UpholdUnavailableError('the Uphold ticker answered 502'));
      expect((await httpErrorOf(sut.create(dto()))).status).toBe(503);
      expect(monitors.insertWithinBudget).not.toHaveBeenCalled();
    });

    it('answers 409 when the pair already has an active monitor', async () => {
      const other = '11111111-2222-4333-8444-555555555555';
      monitors.findActiveByPair.mockResolvedValue(entity({ id: other, status: 'running' }));
      const { status, body } = await httpErrorOf(sut.create(dto()));
      expect(status).toBe(409);
      expect(body.message.join(' ')).toContain(other);
      expect(body.errors?.map((e) => e.field)).toEqual(['pair']);
      expect(monitors.insertWithinBudget).not.toHaveBeenCalled();
      expect(runtime.start).not.toHaveBeenCalled();
    });

    it('answers 409 when another request wins the race inside createWithinBudget', async () => {
      monitors.insertWithinBudget.mockRejectedValue(new PairAlreadyMonitoredError('other-id'));
      const { status } = await httpErrorOf(sut.create(dto()));
      expect(status).toBe(409);
      expect(runtime.start).not.toHaveBeenCalled();
    });

    it('answers 422 on intervalMs with the budget in the message when the rate budget would be exceeded', async () => {
      monitors.insertWithinBudget.mockRejectedValue(new RateBudgetExceededError(240, 300, 250));
      const { status, body } = await httpErrorOf(sut.create(dto({ intervalMs: 1000 })));
      expect(status).toBe(422);
      const message = body.message.join(' ');
      expect(message).toContain('use 240 of 250 requests/min');
      expect(message).toContain('take the upstream plan to 300 requests/min, past the 250 allowed');
      expect(message).toContain('UPHOLD_RATE_LIMIT_PER_MIN');
      expect(body.errors?.map((e) => e.field)).toEqual(['intervalMs']);
      expect(monitors.insertWithinBudget).toHaveBeenCalledWith(
        expect.anything(),
        expect.objectContaining({ limitPerMin: 250 }),
      );
      expect(runtime.start).not.toHaveBeenCalled();
    });

    it.each([
      [true, ['ABC-XYZ'], ['ABC-XYZ']],
      [false, [], []],
    ])(
      'passes the configured budget to the repository (relay %s): the limit, and the pairs only the pair endpoint serves',
      async (relay, fromRelay, expected) => {
        uphold.pairEndpointOnly.mockResolvedValue(fromRelay);
        sut = newService({ ...config, upholdRateLimitPerMin: 42, upholdRelay: relay });
        await sut.create(dto());
        expect(monitors.insertWithinBudget).toHaveBeenCalledWith(expect.anything(), {
          limitPerMin: 42,
          relay,
          pairEndpointOnly: expected,
        });
      },
    );

    it('answers 503, stops any half-made worker and deletes the row when the runtime fails to start it', async () => {
      runtime.start.mockRejectedValue(
        new RuntimeUnavailableError('Docker engine failed to start the worker container'),
      );
      const { status } = await httpErrorOf(sut.create(dto()));
      expect(status).toBe(503);
      expect(runtime.stop).toHaveBeenCalledWith(workerOf(MONITOR_ID));
      expect(monitors.deleteIfIn).toHaveBeenCalledWith(MONITOR_ID, ['starting', 'stopped']);
      expect(monitors.move).not.toHaveBeenCalled();
    });

    it('still deletes the row when stopping the half-made worker fails too', async () => {
      runtime.start.mockRejectedValue(new RuntimeUnavailableError('engine gone'));
      runtime.stop.mockRejectedValue(new RuntimeUnavailableError('engine still gone'));
      expect((await httpErrorOf(sut.create(dto()))).status).toBe(503);
      expect(monitors.deleteIfIn).toHaveBeenCalledWith(MONITOR_ID, expect.anything());
    });

    it('deletes the row and rethrows when start fails with an unexpected error', async () => {
      const bug = new Error('unexpected');
      runtime.start.mockRejectedValue(bug);
      await expect(sut.create(dto())).rejects.toBe(bug);
      expect(monitors.deleteIfIn).toHaveBeenCalledWith(MONITOR_ID, expect.anything());
    });

    it('records the validated values and returns a running monitor with its worker id', async () => {
      const result = await sut.create(
        dto({
          pair: 'ETH-EUR',
          intervalMs: 2000,
          thresholdPercent: 0.5,
          priceField: 'mid',
          direction: 'up',
          cooldownMs: 1000,
        }),
      );
      expect(monitors.insertWithinBudget).toHaveBeenCalledWith(
        {
          pair: 'ETH-EUR',
          intervalMs: 2000,
          rules: [
            {
              id: 'r1',
              kind: 'move',
              thresholdPercent: '0.5',
              priceField: 'mid',
              direction: 'up',
              cooldownMs: 1000,
            },
          ],
          status: 'starting',
        },
        { limitPerMin: 250, relay: false, pairEndpointOnly: [] },
      );
      expect(monitors.move).toHaveBeenCalledWith(MONITOR_ID, {
        from: ['starting', 'running'],
        change: { status: 'running', workerId: WORKER_ID },
      });
      expect(result).toMatchObject({
        id: MONITOR_ID,
        pair: 'ETH-EUR',
        status: 'running',
        workerId: WORKER_ID,
        thresholdPercent: '0.5',
        worker: { id: WORKER_ID, state: 'running' },
      });
    });

    it('gives the worker exactly the validated fields and the worker-side settings, nothing else', async () => {
      const body = dto({
        pair: 'ETH-EUR',
        intervalMs: 2000,
        thresholdPercent: 0.5,
        priceField: 'bid',
        direction: 'down',
        cooldownMs: 1000,
      });
      // Whatever else a request might smuggle in must not reach the worker.
      Object.assign(body, {
        foo: 'bar',
        env: { EVIL: '1' },
        REDIS_URL: 'redis://evil:6379',
        MONITOR_ID: 'x',
      });
      await sut.create(body);

      expect(runtime.start).toHaveBeenCalledTimes(1);
      const spec = runtime.start.mock.calls[0][0] as WorkerSpec;
      expect(spec.env).toEqual({
        MONITOR_ID,
        PAIR: 'ETH-EUR',
        INTERVAL_MS: '2000',
        THRESHOLD_PERCENT: '0.5',
        PRICE_FIELD: 'bid',
        DIRECTION: 'down',
        COOLDOWN_MS: '1000',
        UPHOLD_API_URL: 'http://fake-ticker:8080',
        REDIS_URL: 'redis://redis:6379',
        REQUEST_TIMEOUT_MS: '5000',
        LOG_LEVEL: 'info',
      });
      expect(spec.monitor).toEqual({
        monitorId: MONITOR_ID,
        pair: 'ETH-EUR',
        intervalMs: 2000,
        rules: [
          {
            id: 'r1',
            kind: 'move',
            thresholdPercent: '0.5',
            priceField: 'bid',
            direction: 'down',
            cooldownMs: 1000,
          },
        ],
      });
      const everything = JSON.stringify(spec);
      expect(everything).not.toContain('api-key-that-must-not-reach-workers');
      expect(everything).not.toContain('db-password');
      expect(everything).not.toContain('evil');
      // What the API hands over is what the worker accepts.
      expect(parseWorkerEnv(spec.env)).toMatchObject({
        monitorId: MONITOR_ID,
        pair: 'ETH-EUR',
        rules: [expect.objectContaining({ thresholdPercent: '0.5' })],
      });
    });

    it('builds the worker env from the stored row, not from the request', async () => {
      const stored = entity({ pair: 'BTC-USD', rules: [legacyMoveRule({ thresholdPercent: '0.0100' })] });
      monitors.insertWithinBudget.mockResolvedValue(stored);
      monitors.findById.mockResolvedValue(stored);
      await sut.create(dto({ pair: 'BTC-USD', thresholdPercent: 0.01 }));
      expect(runtime.start.mock.calls[0][0].env.THRESHOLD_PERCENT).toBe('0.0100');
    });

    it.each<[number | undefined, string]>([
      [undefined, '0.01'],
      [1e-7, '0.0000001'],
      [0.0000123456, '0.0000123456'],
      [1000, '1000'],
      [0.1, '0.1'],
    ])('writes thresholdPercent %p as the exact decimal %s (no exponent)', async (given, expected) => {
      await sut.create(dto({ thresholdPercent: given }));
      expect(monitors.insertWithinBudget.mock.calls[0][0].rules).toEqual([
        legacyMoveRule({ thresholdPercent: expected }),
      ]);
      expect(runtime.start.mock.calls[0][0].env.THRESHOLD_PERCENT).toBe(expected);
    });

    it('stores the rules it is given (ids assigned, defaults filled in) and hands them to the worker as RULES', async () => {
      await sut.create(
        dto({
          rules: [
            { kind: 'cross', level: '100000' },
            { kind: 'window', thresholdPercent: 3, windowMs: 900_000, id: 'pump' },
          ],
        }),
      );
      const stored = monitors.insertWithinBudget.mock.calls[0][0].rules!;
      expect(stored).toEqual([
        {
          id: 'r1',
          kind: 'cross',
          level: '100000',
          direction: 'both',
          rearmPercent: '0',
          priceField: 'ask',
          cooldownMs: 0,
        },
        {
          id: 'pump',
          kind: 'window',
          thresholdPercent: '3',
          windowMs: 900_000,
          direction: 'both',
          priceField: 'ask',
          cooldownMs: 0,
        },
      ]);
      const env = runtime.start.mock.calls[0][0].env;
      expect(env.THRESHOLD_PERCENT).toBeUndefined();
      expect(parseWorkerEnv(env).rules).toEqual(stored);
    });

    it.each<[string, Partial<CreateMonitorDto>, string]>([
      [
        'a field of another kind',
        {
          rules: [
            { kind: 'move', thresholdPercent: '1' },
            { kind: 'move', thresholdPercent: '1', level: '5' },
          ],
        },
        'rules[1].level',
      ],
      ['a bad level', { rules: [{ kind: 'cross', level: '0' }] }, 'rules[0].level'],
      ['no rule', { rules: [] }, 'rules'],
      [
        'rules with a top-level threshold',
        { rules: [{ kind: 'cross', level: '1' }], thresholdPercent: 1 },
        'thresholdPercent',
      ],
      [
        'a window shorter than the interval',
        { intervalMs: 5000, rules: [{ kind: 'window', thresholdPercent: '1', windowMs: 1000 }] },
        'rules[0].windowMs',
      ],
    ])('refuses %s with a 400 naming %s, and creates nothing', async (_what, values, field) => {
      const { status, body } = await httpErrorOf(sut.create(dto({ intervalMs: 5000, ...values })));
      expect(status).toBe(400);
      expect(body.errors?.map((e) => e.field)).toEqual([field]);
      expect(monitors.insertWithinBudget).not.toHaveBeenCalled();
      expect(runtime.start).not.toHaveBeenCalled();
    });

    it('hands workers LOG_LEVEL=error when the API runs silent (workers do not know "silent")', async () => {
      sut = newService({ ...config, logLevel: 'silent' });
      await sut.create(dto());
      expect(runtime.start.mock.calls[0][0].env.LOG_LEVEL).toBe('error');
    });
  });

  describe('stop', () => {
    // The runtime lists the monitor's worker until it is stopped.
    beforeEach(() => runtime.find.mockResolvedValue(workerInfo()));

    it('answers 404 for an unknown monitor and touches no worker', async () => {
      monitors.findById.mockResolvedValue(null);
      const { status, body } = await httpErrorOf(sut.stop(MONITOR_ID));
      expect(status).toBe(404);
      expect(body.message.join(' ')).toContain(MONITOR_ID);
      expect(runtime.stop).not.toHaveBeenCalled();
      expect(monitors.move).not.toHaveBeenCalled();
    });

    it('answers 503 and keeps the monitor as it was when the runtime is unreachable', async () => {
      monitors.findById.mockResolvedValue(entity({ status: 'running', workerId: WORKER_ID }));
      runtime.ping.mockRejectedValue(new RuntimeUnavailableError('Docker engine unreachable'));
      expect((await httpErrorOf(sut.stop(MONITOR_ID))).status).toBe(503);
      // Asked before anything is written: nothing changed.
      expect(monitors.move).not.toHaveBeenCalled();
      expect(runtime.stop).not.toHaveBeenCalled();
    });

    it('answers 503 when the worker cannot be removed, the monitor staying stopped for the supervisor to finish', async () => {
      monitors.findById.mockResolvedValue(entity({ status: 'running', workerId: WORKER_ID }));
      runtime.stop.mockRejectedValue(new RuntimeUnavailableError('Docker engine unreachable'));
      expect((await httpErrorOf(sut.stop(MONITOR_ID))).status).toBe(503);
      expect(monitors.move.mock.calls.map(([, move]) => move.change.status)).toEqual(['stopped']);
    });

    it('marks the monitor stopped before it stops the worker', async () => {
      monitors.findById.mockResolvedValue(entity({ status: 'running', workerId: WORKER_ID }));
      runtime.stop.mockImplementation(() => {
        expect(monitors.move).toHaveBeenCalledWith(MONITOR_ID, {
          from: ['starting', 'running', 'failed'],
          change: expect.objectContaining({ status: 'stopped' }),
        });
        return Promise.resolve();
      });
      await sut.stop(MONITOR_ID);
      expect(runtime.stop).toHaveBeenCalledTimes(1);
    });

    it('stops the worker and records the monitor as stopped', async () => {
      monitors.findById.mockResolvedValue(entity({ status: 'running', workerId: WORKER_ID }));
      const before = Date.now();
      await sut.stop(MONITOR_ID);
      expect(runtime.stop).toHaveBeenCalledWith(workerOf(MONITOR_ID));
      expect(monitors.move).toHaveBeenCalledWith(MONITOR_ID, {
        from: ['starting', 'running', 'failed'],
        change: { status: 'stopped', stoppedAt: expect.any(Date), reason: null },
      });
      const stoppedAt = monitors.move.mock.calls[0][1].change.stoppedAt as Date;
      expect(stoppedAt.getTime()).toBeGreaterThanOrEqual(before);
      expect(monitors.deleteIfIn).not.toHaveBeenCalled();
    });

    it('is idempotent: an already stopped monitor still gets its worker removed, and keeps its stop time', async () => {
      monitors.findById.mockResolvedValue(
        entity({ status: 'stopped', stoppedAt: new Date('2025-01-02T00:00:00.000Z') }),
      );
      await sut.stop(MONITOR_ID);
      expect(runtime.stop).toHaveBeenCalledWith(workerOf(MONITOR_ID));
      expect(monitors.move).not.toHaveBeenCalled();
    });

    it('only removes the worker when a request stopped the monitor meanwhile', async () => {
      monitors.findById
        .mockResolvedValueOnce(entity({ status: 'running', workerId: WORKER_ID }))
        .mockResolvedValue(entity({ status: 'stopped', workerId: WORKER_ID }));
      monitors.move.mockResolvedValue(null);
      await sut.stop(MONITOR_ID);
      expect(runtime.stop).toHaveBeenCalledWith(workerOf(MONITOR_ID));
      expect(monitors.move).toHaveBeenCalledTimes(1);
    });

    it('stops a failed monitor too', async () => {
      monitors.findById.mockResolvedValue(entity({ status: 'failed', reason: 'crash loop' }));
      await sut.stop(MONITOR_ID);
      expect(monitors.move).toHaveBeenCalledWith(MONITOR_ID, {
        from: expect.arrayContaining(['failed']),
        change: expect.objectContaining({ status: 'stopped' }),
      });
    });
  });

  describe('get and list', () => {
    it('answers 404 for an unknown monitor', async () => {
      monitors.findById.mockResolvedValue(null);
      expect((await httpErrorOf(sut.get(MONITOR_ID))).status).toBe(404);
    });

    it('shows the worker report of a running monitor', async () => {
      monitors.findById.mockResolvedValue(entity({ status: 'running', workerId: WORKER_ID }));
      runtime.find.mockResolvedValue(workerInfo({ restarts: 2 }));
      states.read.mockResolvedValue(
        new Map([
          [
            MONITOR_ID,
            reported({
              lastTickAt: '2025-01-01T00:01:00.000Z',
              lastPrice: '63120.45',
              referencePrice: '63000.1',
              consecutiveErrors: 1,
              lastError: 'HTTP 502',
            }),
          ],
        ]),
      );
      expect((await sut.get(MONITOR_ID)).worker).toEqual({
        id: WORKER_ID,
        state: 'running',
        restarts: 2,
        exitCode: null,
        lastTickAt: '2025-01-01T00:01:00.000Z',
        lastPrice: '63120.45',
        referencePrice: '63000.1',
        consecutiveErrors: 1,
        lastError: 'HTTP 502',
        stale: false,
      });
    });

    it('still answers when the runtime and Redis are down, showing the worker as unknown and stale', async () => {
      monitors.findById.mockResolvedValue(entity({ status: 'running' }));
      runtime.find.mockRejectedValue(new RuntimeUnavailableError('down'));
      states.read.mockRejectedValue(new Error('ECONNREFUSED'));
      const result = await sut.get(MONITOR_ID);
      expect(result.worker).toMatchObject({ id: null, state: 'unknown', stale: true });
    });

    it('lists monitors with the worker found for each, by monitor id', async () => {
      const second = '99999999-8888-4777-8666-555555555555';
      monitors.list.mockResolvedValue([
        entity({ status: 'running' }),
        entity({ id: second, pair: 'ETH-EUR', status: 'stopped' }),
      ]);
      const orphan = {
        ...workerInfo(),
        workerId: 'other',
        monitorId: '77777777-8888-4777-8666-555555555555',
      };
      runtime.list.mockResolvedValue([orphan, workerInfo()]);
      const result = await sut.list({ status: undefined });
      expect(monitors.list).toHaveBeenCalledWith(undefined);
      // One list of every worker, not one look per monitor.
      expect(runtime.list).toHaveBeenCalledTimes(1);
      expect(runtime.find).not.toHaveBeenCalled();
      expect(result.map((m) => [m.id, m.worker?.id ?? null])).toEqual([
        [MONITOR_ID, WORKER_ID],
        [second, null],
      ]);
    });

    it('passes the status filter to the repository and survives a runtime outage', async () => {
      monitors.list.mockResolvedValue([entity({ status: 'running' })]);
      runtime.list.mockRejectedValue(new RuntimeUnavailableError('down'));
      const result = await sut.list({ status: 'running' });
      expect(monitors.list).toHaveBeenCalledWith('running');
      expect(result[0].worker).toMatchObject({ state: 'unknown' });
    });
  });

  describe('restart', () => {
    const failedAt = new Date('2025-01-02T00:00:00.000Z');

    function failed(values: Partial<MonitorEntity> = {}): MonitorEntity {
      return entity({
        status: 'failed',
        reason: 'worker crash loop: died 6 times within 600 s (last exit code 1)',
        workerId: 'old-worker',
        stoppedAt: failedAt,
        restartedAt: null,
        ...values,
      });
    }

    beforeEach(() => {
      monitors.moveWithinBudget.mockImplementation((m: Pick<MonitorEntity, 'id'>) =>
        Promise.resolve(m.id === MONITOR_ID ? 'failed' : null),
      );
    });

    it('answers 404 for an unknown monitor and changes nothing', async () => {
      monitors.findById.mockResolvedValue(null);
      const { status, body } = await httpErrorOf(sut.restart(MONITOR_ID));
      expect(status).toBe(404);
      expect(body.message.join(' ')).toContain(MONITOR_ID);
      expect(monitors.moveWithinBudget).not.toHaveBeenCalled();
      expect(runtime.start).not.toHaveBeenCalled();
    });

    it.each(['starting', 'running'] as const)(
      'answers 409 for a monitor that is already %s, touching no worker',
      async (current) => {
        monitors.findById.mockResolvedValue(entity({ status: current, workerId: WORKER_ID }));
        const { status, body } = await httpErrorOf(sut.restart(MONITOR_ID));
        expect(status).toBe(409);
        expect(body.message.join(' ')).toContain(`already ${current}`);
        expect(monitors.moveWithinBudget).not.toHaveBeenCalled();
        expect(monitors.move).not.toHaveBeenCalled();
        expect(runtime.start).not.toHaveBeenCalled();
        expect(runtime.stop).not.toHaveBeenCalled();
      },
    );

    it('answers 503 and changes nothing when the runtime is not ready', async () => {
      monitors.findById.mockResolvedValue(failed());
      runtime.ensureReady.mockRejectedValue(new RuntimeUnavailableError('Docker engine unreachable'));
      const { status, body } = await httpErrorOf(sut.restart(MONITOR_ID));
      expect(status).toBe(503);
      expect(body.message.join(' ')).toContain('Docker engine unreachable');
      expect(monitors.moveWithinBudget).not.toHaveBeenCalled();
      expect(monitors.move).not.toHaveBeenCalled();
      expect(runtime.start).not.toHaveBeenCalled();
      expect(runtime.stop).not.toHaveBeenCalled();
    });

    it('answers 422 naming the pair when the ticker no longer lists it, and changes nothing', async () => {
      monitors.findById.mockResolvedValue(failed({ pair: 'FOO-BAR' }));
      uphold.pairExists.mockResolvedValue(false);
      const { status, body } = await httpErrorOf(sut.restart(MONITOR_ID));
      expect(status).toBe(422);
      expect(body.message.join(' ')).toContain('FOO-BAR');
      expect(uphold.pairExists).toHaveBeenCalledWith('FOO-BAR');
      expect(monitors.moveWithinBudget).not.toHaveBeenCalled();
      expect(runtime.start).not.toHaveBeenCalled();
    });

    it('answers 409 naming the other monitor when the pair got a new active monitor meanwhile', async () => {
      const other = '11111111-2222-4333-8444-555555555555';
      monitors.findById.mockResolvedValue(failed());
      monitors.moveWithinBudget.mockRejectedValue(new PairAlreadyMonitoredError(other));
      const { status, body } = await httpErrorOf(sut.restart(MONITOR_ID));
      expect(status).toBe(409);
      expect(body.message.join(' ')).toContain(other);
      expect(runtime.start).not.toHaveBeenCalled();
      expect(monitors.move).not.toHaveBeenCalled();
    });

    it('answers 422 on intervalMs when restarting would exceed the rate budget', async () => {
      monitors.findById.mockResolvedValue(failed({ intervalMs: 1000 }));
      monitors.moveWithinBudget.mockRejectedValue(new RateBudgetExceededError(240, 300, 250));
      const { status, body } = await httpErrorOf(sut.restart(MONITOR_ID));
      expect(status).toBe(422);
      expect(body.message.join(' ')).toContain('intervalMs=1000');
      expect(body.errors?.map((e) => e.field)).toEqual(['intervalMs']);
      expect(monitors.moveWithinBudget).toHaveBeenCalledWith(
        expect.anything(),
        expect.anything(),
        expect.objectContaining({ limitPerMin: 250 }),
      );
      expect(runtime.start).not.toHaveBeenCalled();
    });

    it.each(['failed', 'stopped'] as const)(
      'puts a %s monitor back to work: starts its worker from the stored row and marks it running',
      async (current) => {
        const stored = failed({
          status: current,
          pair: 'ETH-EUR',
          intervalMs: 2000,
          thresholdPercent: '0.5',
        });
        const expectedSpec = new WorkerSpecFactory(config, new RelayAddress(config)).specFor(stored);
        monitors.findById.mockResolvedValue(stored);
        runtime.start.mockResolvedValue(workerInfo({ workerId: 'fresh-worker', pair: 'ETH-EUR' }));

        const result = await sut.restart(MONITOR_ID);

        expect(monitors.moveWithinBudget).toHaveBeenCalledWith(
          expect.objectContaining({ id: MONITOR_ID }),
          {
            from: ['stopped', 'failed'],
            change: { status: 'starting', reason: null, stoppedAt: null, restartedAt: expect.any(Date) },
          },
          { limitPerMin: 250, relay: false, pairEndpointOnly: [] },
        );
        expect(runtime.start).toHaveBeenCalledTimes(1);
        expect(runtime.start).toHaveBeenCalledWith(expectedSpec);
        expect(runtime.start.mock.invocationCallOrder[0]).toBeGreaterThan(
          monitors.moveWithinBudget.mock.invocationCallOrder[0],
        );
        expect(monitors.move).toHaveBeenCalledTimes(1);
        expect(monitors.move).toHaveBeenCalledWith(MONITOR_ID, {
          from: ['starting', 'running'],
          change: { status: 'running', workerId: 'fresh-worker' },
        });
        expect(result).toMatchObject({
          id: MONITOR_ID,
          pair: 'ETH-EUR',
          status: 'running',
          workerId: 'fresh-worker',
          reason: null,
        });
      },
    );

    // The answer showed every rule at fires 0 (and so not done) whatever its alerts, unlike GET a moment later.
    it("answers each rule's fires and done from its stored alerts, as GET does", async () => {
      const rules: Rule[] = [
        { id: 'r1', kind: 'spread', thresholdPercent: '0.5', priceField: 'ask', cooldownMs: 0, maxFires: 2 },
        {
          id: 'r2',
          kind: 'trailing',
          thresholdPercent: '1',
          direction: 'down',
          priceField: 'ask',
          cooldownMs: 0,
        },
      ];
      monitors.findById.mockResolvedValue(failed({ status: 'stopped', reason: 'rules done', rules }));
      firesByRule.mockResolvedValue(new Map([[MONITOR_ID, { r1: 2, r2: 5 }]]));

      const result = await sut.restart(MONITOR_ID);

      expect(firesByRule).toHaveBeenCalledWith([MONITOR_ID]);
      expect(result.rules.map(({ id, fires, done }) => ({ id, fires, done }))).toEqual([
        { id: 'r1', fires: 2, done: true },
        { id: 'r2', fires: 5, done: false },
      ]);
    });

    // It answered 200 running; the worker exited at once (every rule done) and the monitor stopped itself again.
    it('answers 409 on rules, starting nothing, when every rule is done', async () => {
      const rules: Rule[] = [
        { id: 'r1', kind: 'spread', thresholdPercent: '0.5', priceField: 'ask', cooldownMs: 0, maxFires: 1 },
        {
          id: 'r2',
          kind: 'move',
          thresholdPercent: '1',
          direction: 'both',
          priceField: 'ask',
          cooldownMs: 0,
          expiresAt: '2025-01-01T00:00:00Z',
        },
      ];
      monitors.findById.mockResolvedValue(failed({ status: 'stopped', reason: 'rules done', rules }));
      firesByRule.mockResolvedValue(new Map([[MONITOR_ID, { r1: 1 }]]));

      const { status, body } = await httpErrorOf(sut.restart(MONITOR_ID));

      expect(status).toBe(409);
      expect(body.errors?.map((e) => e.field)).toEqual(['rules']);
      expect(body.message.join(' ')).toMatch(/every rule .* is done .*PATCH/);
      expect(monitors.moveWithinBudget).not.toHaveBeenCalled();
      expect(runtime.start).not.toHaveBeenCalled();
    });

    it('answers 503 when the worker cannot start, leaving the monitor starting for the next reconcile pass', async () => {
      const reason = 'pair FOO-BAR is unknown at the ticker (worker exit code 3)';
      const stored = failed({ reason });
      monitors.findById.mockResolvedValue(stored);
      runtime.start.mockRejectedValue(
        new RuntimeUnavailableError('Docker engine failed to start the worker'),
      );

      const { status, body } = await httpErrorOf(sut.restart(MONITOR_ID));

      expect(status).toBe(503);
      expect(body.message.join(' ')).toContain('failed to start the worker');
      expect(runtime.stop).toHaveBeenCalledWith(workerOf(MONITOR_ID));
      expect(monitors.move).not.toHaveBeenCalled();
      expect(monitors.deleteIfIn).not.toHaveBeenCalled();
      expect(stored).toMatchObject({ status: 'starting', reason: null });
    });

    it('rethrows an unexpected start error untouched, and keeps the restarted monitor', async () => {
      monitors.findById.mockResolvedValue(failed({ status: 'stopped', reason: null }));
      const bug = new Error('unexpected');
      runtime.start.mockRejectedValue(bug);

      await expect(sut.restart(MONITOR_ID)).rejects.toBe(bug);

      expect(monitors.deleteIfIn).not.toHaveBeenCalled();
    });
  });

  describe('overview (counts)', () => {
    const id = (n: number) => `00000000-0000-4000-8000-00000000000${n}`;
    /** An active monitor running for an hour: its report is due. */
    const demand = (
      n: number,
      status: 'starting' | 'running' = 'running',
      updatedAt = new Date(Date.now() - 3_600_000),
    ) => ({
      id: id(n),
      pair: `BTC-EU${String.fromCharCode(64 + n)}`,
      intervalMs: 5000,
      status,
      updatedAt,
    });
    const report = reported({ lastTickAt: '2025-01-01T00:01:00.000Z', lastPrice: '1' });

    it('counts active monitors with a worker report as running, those without as stale, and failed ones', async () => {
      monitors.activeDemandAndFailed.mockResolvedValue({
        active: [demand(1), demand(2), demand(3)],
        failed: 2,
      });
      states.read.mockResolvedValue(
        new Map([
          [id(1), report],
          [id(3), report],
        ]),
      );

      expect((await sut.overview()).counts).toEqual({ running: 2, starting: 0, stale: 1, failed: 2 });
      expect(monitors.activeDemandAndFailed).toHaveBeenCalledTimes(1);
      expect(states.read).toHaveBeenCalledWith([id(1), id(2), id(3)]);
    });

    it('does not count a report from a monitor that is not active', async () => {
      monitors.activeDemandAndFailed.mockResolvedValue({ active: [demand(1)], failed: 1 });
      states.read.mockImplementation((ids: readonly string[]) =>
        Promise.resolve(new Map(ids.concat(id(4)).map((i) => [i, report]))),
      );

      expect((await sut.overview()).counts).toEqual({ running: 1, starting: 0, stale: 0, failed: 1 });
    });

    it('counts a monitor whose worker has not had time to report as starting, not stale, as GET /monitors does', async () => {
      monitors.activeDemandAndFailed.mockResolvedValue({
        active: [
          demand(1, 'starting'),
          // Running for a second, no report yet (the report's TTL at 5 s is 15 s).
          demand(2, 'running', new Date(Date.now() - 1000)),
          demand(3, 'starting'),
          demand(4),
        ],
        failed: 0,
      });
      states.read.mockResolvedValue(new Map([[id(3), report]]));

      expect((await sut.overview()).counts).toEqual({ running: 1, starting: 2, stale: 1, failed: 0 });
    });

    it('answers all zeros when there are no monitors', async () => {
      monitors.activeDemandAndFailed.mockResolvedValue({ active: [], failed: 0 });
      expect((await sut.overview()).counts).toEqual({ running: 0, starting: 0, stale: 0, failed: 0 });
    });

    it('shows every active monitor as stale when Redis cannot be read, and still answers', async () => {
      monitors.activeDemandAndFailed.mockResolvedValue({ active: [demand(1), demand(2)], failed: 0 });
      states.read.mockRejectedValue(new Error('ECONNREFUSED'));

      expect((await sut.overview()).counts).toEqual({ running: 0, starting: 0, stale: 2, failed: 0 });
    });
  });

  describe('prices', () => {
    const HOUR = 3_600_000;

    it("serves the reader's JSON as it is, from the last PRICE_HISTORY_MS without since", async () => {
      monitors.exists.mockResolvedValue(true);
      const body = Buffer.from('[{"at":"x"}]');
      prices.read.mockResolvedValue(pricesBodyOf(body));
      const before = Date.now();
      await expect(sut.pricesJson(MONITOR_ID)).resolves.toBe(body);
      expect(monitors.exists).toHaveBeenCalledWith(MONITOR_ID);
      const [id, sinceMs] = prices.read.mock.calls[0];
      expect(id).toBe(MONITOR_ID);
      expect(sinceMs).toBeGreaterThanOrEqual(before - HOUR);
      expect(sinceMs).toBeLessThanOrEqual(Date.now() - HOUR);
    });

    it('reads from since when it is within the history, and never from before it', async () => {
      monitors.exists.mockResolvedValue(true);
      prices.read.mockResolvedValue(pricesBodyOf(Buffer.from('[]')));
      const recent = new Date(Date.now() - 60_000).toISOString();
      await sut.pricesJson(MONITOR_ID, recent);
      expect(prices.read).toHaveBeenLastCalledWith(MONITOR_ID, Date.parse(recent));
      const before = Date.now();
      await sut.pricesJson(MONITOR_ID, '2000-01-01T00:00:00Z');
      expect(prices.read.mock.calls[1][1]).toBeGreaterThanOrEqual(before - HOUR);
    });

    it('answers 404 for an unknown monitor, whatever Redis answers', async () => {
      monitors.exists.mockResolvedValue(false);
      prices.read.mockRejectedValue(new Error('ECONNREFUSED'));
      const { status, body } = await httpErrorOf(sut.pricesJson(MONITOR_ID));
      expect(status).toBe(404);
      expect(body.errors?.map((e) => e.field)).toEqual(['id']);
    });

    it('answers 503 naming Redis when the stream cannot be read', async () => {
      monitors.exists.mockResolvedValue(true);
      prices.read.mockRejectedValue(new Error('ECONNREFUSED'));
      const { status, body } = await httpErrorOf(sut.pricesJson(MONITOR_ID));
      expect(status).toBe(503);
      expect(body.message.join(' ')).toMatch(/cannot be read from Redis: ECONNREFUSED/);
    });
  });
});
