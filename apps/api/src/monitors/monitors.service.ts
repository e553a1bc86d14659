import { HttpStatus, Inject, Injectable, Logger } from '@nestjs/common';
import { Decimal, MonitorConfig, toWorkerEnv } from '@pairwatch/contracts';
import { httpError } from '../common/http-errors';
import { APP_CONFIG, AppConfig } from '../config/app.config';
import { RedisService, WorkerReport } from '../redis/redis.service';
import { RuntimeUnavailableError, WorkerInfo, WorkerRuntime } from '../runtime/worker-runtime';
import { UpholdClient, UpholdUnavailableError } from '../uphold/uphold.client';
import { CreateMonitorDto } from './dto/create-monitor.dto';
import { MonitorDto } from './dto/monitor.dto';
import { QueryMonitorsDto } from './dto/query-monitors.dto';
import { MonitorEntity } from './monitor.entity';
import {
  MonitorsRepository,
  PairAlreadyMonitoredError,
  RateBudgetExceededError,
} from './monitors.repository';

const WORKER_REQUEST_TIMEOUT_MS = 5000;

@Injectable()
export class MonitorsService {
  private readonly logger = new Logger(MonitorsService.name);

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly monitors: MonitorsRepository,
    private readonly runtime: WorkerRuntime,
    private readonly uphold: UpholdClient,
    private readonly redis: RedisService,
  ) {}

  async create(dto: CreateMonitorDto): Promise<MonitorDto> {
    const pair = dto.pair;
    await this.unavailableAs503(() => this.runtime.ensureReady());

    const existing = await this.monitors.findActiveByPair(pair);
    if (existing)
      throw httpError(
        HttpStatus.CONFLICT,
        `pair ${pair} is already monitored by monitor ${existing.id}`,
        'pair',
      );

    let known: boolean;
    try {
      known = await this.uphold.pairExists(pair);
    } catch (error) {
      if (error instanceof UpholdUnavailableError)
        throw httpError(HttpStatus.SERVICE_UNAVAILABLE, error.message);
      throw error;
    }
    if (!known) {
      throw httpError(
        HttpStatus.UNPROCESSABLE_ENTITY,
        `pair ${pair} is not listed on the Uphold ticker`,
        'pair',
      );
    }

    let monitor: MonitorEntity;
    try {
      monitor = await this.monitors.createWithinBudget(
        {
          pair,
          intervalMs: dto.intervalMs!,
          thresholdPercent: new Decimal(dto.thresholdPercent ?? '0.01').toFixed(),
          priceField: dto.priceField!,
          direction: dto.direction!,
          cooldownMs: dto.cooldownMs!,
        },
        this.config.upholdRateLimitPerMin,
      );
    } catch (error) {
      if (error instanceof PairAlreadyMonitoredError) {
        throw httpError(
          HttpStatus.CONFLICT,
          `pair ${pair} is already monitored by monitor ${error.existingId}`,
          'pair',
        );
      }
      if (error instanceof RateBudgetExceededError) {
        throw httpError(
          HttpStatus.UNPROCESSABLE_ENTITY,
          `Uphold rate budget exceeded: active monitors use ${round(error.usedPerMin)} of ${error.budgetPerMin} requests/min ` +
            `(UPHOLD_RATE_LIMIT_PER_MIN) and intervalMs=${dto.intervalMs} needs ${round(error.neededPerMin)} more; ` +
            `raise intervalMs or stop a monitor`,
          'intervalMs',
        );
      }
      throw error;
    }

    let worker: WorkerInfo;
    try {
      worker = await this.runtime.start({ monitor: this.toConfig(monitor), env: this.workerEnv(monitor) });
    } catch (error) {
      // Nothing is left behind: no worker, no monitor row.
      await this.runtime.stop(monitor.id).catch(() => undefined);
      await this.monitors.delete(monitor.id);
      this.logger.error(`could not start a worker for ${pair}: ${(error as Error).message}`);
      if (error instanceof RuntimeUnavailableError)
        throw httpError(HttpStatus.SERVICE_UNAVAILABLE, error.message);
      throw error;
    }
    monitor.status = 'running';
    monitor.workerId = worker.workerId;
    await this.monitors.update(monitor.id, { status: 'running', workerId: worker.workerId });
    this.logger.log({ msg: 'monitor started', monitorId: monitor.id, pair, workerId: worker.workerId });
    return MonitorDto.from(monitor, worker, undefined);
  }

  async list(query: QueryMonitorsDto): Promise<MonitorDto[]> {
    const monitors = await this.monitors.list(query.status);
    const [workers, reports] = await Promise.all([
      this.runtime.list().catch(() => null),
      this.redis.workerReports(monitors.map((m) => m.id)).catch(() => new Map<string, WorkerReport>()),
    ]);
    const byMonitor = new Map((workers ?? []).map((w) => [w.monitorId, w]));
    return monitors.map((m) => MonitorDto.from(m, byMonitor.get(m.id) ?? null, reports.get(m.id)));
  }

  async get(id: string): Promise<MonitorDto> {
    const monitor = await this.getEntity(id);
    const [worker, reports] = await Promise.all([
      this.runtime.find(id).catch(() => null),
      this.redis.workerReports([id]).catch(() => new Map<string, WorkerReport>()),
    ]);
    return MonitorDto.from(monitor, worker, reports.get(id));
  }

  /** Stops and removes the worker; the monitor stays, as `stopped`, with its alerts. Idempotent. */
  async stop(id: string): Promise<void> {
    const monitor = await this.getEntity(id);
    await this.unavailableAs503(() => this.runtime.stop(id));
    if (monitor.status !== 'stopped') {
      await this.monitors.update(id, { status: 'stopped', stoppedAt: new Date() });
      this.logger.log({ msg: 'monitor stopped', monitorId: id, pair: monitor.pair });
    }
  }

  private async getEntity(id: string): Promise<MonitorEntity> {
    const monitor = await this.monitors.findById(id);
    if (!monitor) throw httpError(HttpStatus.NOT_FOUND, `monitor ${id} does not exist`, 'id');
    return monitor;
  }

  private toConfig(monitor: MonitorEntity): MonitorConfig {
    return {
      monitorId: monitor.id,
      pair: monitor.pair,
      intervalMs: monitor.intervalMs,
      thresholdPercent: monitor.thresholdPercent,
      priceField: monitor.priceField,
      direction: monitor.direction,
      cooldownMs: monitor.cooldownMs,
    };
  }

  private workerEnv(monitor: MonitorEntity): Record<string, string> {
    return toWorkerEnv({
      ...this.toConfig(monitor),
      upholdApiUrl: this.config.upholdApiUrl,
      redisUrl: this.config.workerRedisUrl,
      requestTimeoutMs: WORKER_REQUEST_TIMEOUT_MS,
      logLevel: this.config.logLevel === 'silent' ? 'error' : this.config.logLevel,
    });
  }

  private async unavailableAs503<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      if (error instanceof RuntimeUnavailableError)
        throw httpError(HttpStatus.SERVICE_UNAVAILABLE, error.message);
      throw error;
    }
  }
}

function round(value: number): string {
  return String(Math.round(value * 100) / 100);
}
