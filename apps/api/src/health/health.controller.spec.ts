import { HttpStatus } from '@nestjs/common';
import { HealthCheckService, HealthIndicatorService } from '@nestjs/terminus';
import type { Response } from 'express';
import { planUpstream } from '@pairwatch/contracts';
import { AppConfig, loadConfig } from '../config/app.config';
import type { DatabaseRepository } from '../database/database.repository';
import type { ReadReplica } from '../database/read-replica';
import type { MonitorsService } from '../monitors/monitors.service';
import type { PublicOf } from '../monitors/testing/monitors-repository.mock';
import type { AlertStreamRepository } from '../redis/alert-stream.repository';
import { newWorkerRuntimeMock } from '../runtime/testing/worker-runtime.mock';
import type { WorkerRuntime } from '../runtime/worker-runtime';
import { RelayStatus } from '../supervisor/relay-status.service';
import { UpholdClient, UpholdUnavailableError } from '../uphold/uphold.client';
import { HealthController } from './health.controller';

describe(HealthController.name, () => {
  let database: jest.Mocked<Pick<DatabaseRepository, 'ping'>>;
  let stream: jest.Mocked<Pick<AlertStreamRepository, 'ping'>>;
  let runtime: jest.Mocked<WorkerRuntime>;
  let monitors: jest.Mocked<Pick<PublicOf<MonitorsService>, 'overview'>>;
  let uphold: jest.Mocked<Pick<PublicOf<UpholdClient>, 'relayHealthy' | 'baseUrl'>>;
  let relayStatus: RelayStatus;
  let response: { status: jest.Mock };
  let terminus: { check: jest.Mock };

  const counts = { running: 2, starting: 0, stale: 0, failed: 0 };
  const plan = planUpstream(
    [
      { pair: 'BTC-USD', intervalMs: 5000 },
      { pair: 'ETH-USD', intervalMs: 7000 },
    ],
    { relay: true },
  );

  beforeEach(() => {
    database = { ping: jest.fn().mockResolvedValue(undefined) };
    stream = { ping: jest.fn().mockResolvedValue(undefined) };
    runtime = newWorkerRuntimeMock();
    runtime.ping.mockResolvedValue();
    monitors = { overview: jest.fn().mockResolvedValue({ counts, plan, limitPerMin: 250 }) };
    uphold = { relayHealthy: jest.fn().mockResolvedValue(undefined), baseUrl: 'http://127.0.0.1:8095' };
    relayStatus = new RelayStatus();
    response = { status: jest.fn() };
    terminus = { check: jest.fn().mockResolvedValue({ status: 'ok', info: {}, error: {}, details: {} }) };
  });

  function controller(config: Partial<AppConfig> = {}): HealthController {
    return new HealthController(
      database as unknown as DatabaseRepository,
      stream as unknown as AlertStreamRepository,
      runtime,
      monitors as unknown as MonitorsService,
      uphold as unknown as UpholdClient,
      relayStatus,
      { status: { status: 'off', lagMs: null, serving: false } } as unknown as ReadReplica,
      { ...loadConfig({ WORKER_NETWORK: 'host' }), ...config },
      new HealthIndicatorService(),
      terminus as unknown as HealthCheckService,
    );
  }

  const health = (sut: HealthController) => sut.health(response as unknown as Response);

  it('reports the relay up with its address and the budget: planned requests/min against the limit', async () => {
    const body = await health(controller());
    expect(response.status).toHaveBeenCalledWith(HttpStatus.OK);
    expect(body.status).toBe('ok');
    // One USD list at the shorter interval: 12 requests/min.
    expect(body.relay).toEqual({
      status: 'up',
      address: 'http://127.0.0.1:8095',
      budget: { plannedRequestsPerMin: 12, limitPerMin: 250 },
    });
  });

  it('is degraded (503) when the relay does not answer: no worker can tick without it', async () => {
    uphold.relayHealthy.mockRejectedValue(
      new UpholdUnavailableError('the relay at http://127.0.0.1:8095 does not answer'),
    );
    const body = await health(controller());
    expect(response.status).toHaveBeenCalledWith(HttpStatus.SERVICE_UNAVAILABLE);
    expect(body.status).toBe('degraded');
    expect(body.relay).toMatchObject({
      status: 'down',
      error: 'the relay at http://127.0.0.1:8095 does not answer',
    });
  });

  it('says why the supervisor runs no relay (a crash loop) rather than only that it does not answer', async () => {
    uphold.relayHealthy.mockRejectedValue(new UpholdUnavailableError('connection refused'));
    relayStatus.failed('relay-1', 'relay crash loop: died 6 times within 600 s');
    const body = await health(controller());
    expect(body.relay).toMatchObject({
      status: 'down',
      error: 'relay crash loop: died 6 times within 600 s',
    });
  });

  it('a relay that answers is up, whatever an earlier failure said', async () => {
    relayStatus.failed(null, 'the relay could not be started: image missing');
    const body = await health(controller());
    expect(body.relay.status).toBe('up');
  });

  it('with UPHOLD_RELAY=off shows the relay off, asks it nothing, and still gives the budget', async () => {
    const body = await health(controller({ upholdRelay: false }));
    expect(uphold.relayHealthy).not.toHaveBeenCalled();
    expect(response.status).toHaveBeenCalledWith(HttpStatus.OK);
    expect(body.relay).toEqual({
      status: 'off',
      address: null,
      budget: { plannedRequestsPerMin: 12, limitPerMin: 250 },
    });
  });

  it('gives each dependency as up, or down with the error, and nothing else', async () => {
    stream.ping.mockRejectedValue(new Error('ECONNREFUSED 127.0.0.1:6379'));
    const body = await health(controller());
    expect(body.postgres).toEqual({ status: 'up' });
    expect(body.redis).toEqual({ status: 'down', error: 'ECONNREFUSED 127.0.0.1:6379' });
    expect(response.status).toHaveBeenCalledWith(HttpStatus.SERVICE_UNAVAILABLE);
  });

  it('answers liveness through terminus with no dependency asked', async () => {
    database.ping.mockRejectedValue(new Error('down'));
    await expect(controller().live()).resolves.toMatchObject({ status: 'ok' });
    expect(terminus.check).toHaveBeenCalledWith([]);
    expect(database.ping).not.toHaveBeenCalled();
  });

  it('gives no budget and no counts when Postgres is down', async () => {
    database.ping.mockRejectedValue(new Error('ECONNREFUSED'));
    const body = await health(controller());
    expect(body.status).toBe('degraded');
    expect(body.monitors).toBeNull();
    expect(body.relay.budget).toBeNull();
    expect(monitors.overview).not.toHaveBeenCalled();
  });

  it('reads the monitors once Postgres answers, without waiting for the Redis check', async () => {
    let answerRedis!: () => void;
    stream.ping.mockReturnValue(new Promise<void>((resolve) => (answerRedis = resolve)));
    const answered = health(controller());
    await waitUntil(() => monitors.overview.mock.calls.length > 0);
    answerRedis();
    expect((await answered).monitors).toEqual(counts);
  });

  it('rounds the planned requests/min to two decimals', async () => {
    monitors.overview.mockResolvedValue({
      counts,
      plan: { requests: [], requestsPerMin: 60_000 / 7000 },
      limitPerMin: 250,
    });
    expect((await health(controller())).relay.budget).toEqual({
      plannedRequestsPerMin: 8.57,
      limitPerMin: 250,
    });
  });
});

/** Lets pending promise callbacks run until `condition` holds; fails after 100 turns of the microtask queue. */
async function waitUntil(condition: () => boolean): Promise<void> {
  for (let turn = 0; turn < 100; turn++) {
    if (condition()) return;
    await Promise.resolve();
  }
  throw new Error('the condition never held');
}
