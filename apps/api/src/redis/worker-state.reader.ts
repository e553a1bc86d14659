import { Inject, Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import type Redis from 'ioredis';
import { parseWorkerState, WorkerState, workerStateKey } from '@pairwatch/contracts';
import { APP_CONFIG, AppConfig } from '../config/app.config';
import { closeRedis, openRedis } from './redis-connection';

/** Reads what workers report about themselves (`pairwatch:worker:{monitorId}`, schema in libs/contracts). */
@Injectable()
export class WorkerStateReader implements OnApplicationShutdown {
  private readonly logger = new Logger(WorkerStateReader.name);
  private readonly redis: Redis;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.redis = openRedis(config.redisUrl, 'pairwatch-api-state');
  }

  /**
   * The current state of each monitor's worker, in one round trip. A monitor is missing from the answer
   * when its worker's report expired (a stale worker) or breaks the schema (logged). Rejects when Redis
   * cannot be reached.
   */
  async read(monitorIds: readonly string[]): Promise<Map<string, WorkerState>> {
    const states = new Map<string, WorkerState>();
    if (monitorIds.length === 0) return states;
    const pipeline = this.redis.pipeline();
    for (const id of monitorIds) pipeline.hgetall(workerStateKey(id));
    const results = (await pipeline.exec()) ?? [];
    results.forEach(([error, value], index) => {
      const hash = (value ?? {}) as Record<string, string>;
      const parsed = error ? { ok: false as const, error: error.message } : parseWorkerState(hash);
      if (parsed.ok) states.set(monitorIds[index], parsed.state);
      else if (error || Object.keys(hash).length > 0) {
        this.logger.warn({
          msg: 'unreadable worker state',
          monitorId: monitorIds[index],
          reason: parsed.error,
        });
      }
    });
    return states;
  }

  async onApplicationShutdown(): Promise<void> {
    await closeRedis(this.redis);
  }
}
