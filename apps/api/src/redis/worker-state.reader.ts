import { Inject, Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import type Redis from 'ioredis';
import {
  parsePriceTick,
  parseWorkerState,
  PriceTick,
  tickAtOrAfter,
  workerPricesKey,
  WorkerState,
  workerStateKey,
} from '@pairwatch/contracts';
import { APP_CONFIG, AppConfig } from '../config/app.config';
import { closeRedis, openRedis } from './redis-connection';

/**
 * Stream ids are Redis' clock, `at` the worker's: the range read starts this much before `since`, and `at`
 * decides, so a worker whose clock runs ahead of Redis' by less than this loses nothing.
 */
const CLOCK_SKEW_MS = 60_000;

type RawEntry = [id: string, fields: string[]];

/**
 * Reads what workers report about themselves: their state (`pairwatch:worker:{monitorId}`) and their recent
 * ticks (`pairwatch:prices:{monitorId}`), schemas in libs/contracts.
 */
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

  /**
   * The monitor's recent ticks observed at or after `sinceMs`, oldest first (one XRANGE). Entries that break
   * the schema are left out (and counted in one log line). Rejects when Redis cannot be reached.
   */
  async prices(monitorId: string, sinceMs: number): Promise<PriceTick[]> {
    const start = Math.max(0, Math.floor(sinceMs) - CLOCK_SKEW_MS);
    const raw = (await this.redis.xrange(workerPricesKey(monitorId), String(start), '+')) as RawEntry[];
    const sinceIso = new Date(sinceMs).toISOString();
    const ticks: PriceTick[] = [];
    let unreadable = 0;
    let reason = '';
    for (const [, fields] of raw) {
      const parsed = parsePriceTick(fields);
      if (!parsed.ok) {
        unreadable += 1;
        reason = parsed.error;
      } else if (tickAtOrAfter(parsed.tick, sinceIso)) {
        ticks.push(parsed.tick);
      }
    }
    if (unreadable > 0) {
      this.logger.warn({ msg: 'unreadable price ticks left out', monitorId, unreadable, reason });
    }
    return ticks;
  }

  async onApplicationShutdown(): Promise<void> {
    await closeRedis(this.redis);
  }
}
