import { Inject, Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import type Redis from 'ioredis';
import { parsePriceTick, workerPricesKey, WorkerState, workerStateKey } from '@pairwatch/contracts';
import { APP_CONFIG, type AppConfig } from '../config/app.config';
import { CLOCK_SKEW_MS } from './recent-prices';
import { closeRedis, openRedis } from './redis-connection';
import { WorkerStateParser } from './worker-state-parser';

/** A tick read from a worker's recent-tick stream, with the monitor it belongs to (for a backtest). */
export interface StreamTick {
  monitorId: string;
  atMs: number;
  ask: string;
  bid: string;
}

/**
 * Reads what workers report about their state (`pairwatch:worker:{monitorId}`, schema in libs/contracts), each
 * hash turned into a state by the WorkerStateParser the Redis module provides (the caching one, which reuses a
 * parse while a hash is unchanged); and, for a backtest, the ticks stored in their recent-tick streams
 * (storedTicks). What GET /monitors/:id/prices serves is PriceStreamReader's.
 */
@Injectable()
export class WorkerStateReader implements OnApplicationShutdown {
  private readonly logger = new Logger(WorkerStateReader.name);
  private readonly redis: Redis;
  /** What each worker last reported about REDIS_WAIT_REPLICAS (see {@link replication}). */
  private readonly replicationByMonitor = new Map<string, { short: boolean; unreplicated: number }>();
  readonly mode: string;

  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    private readonly parser: WorkerStateParser,
  ) {
    // The states are read one command a key (keys of many hash slots: never one pipeline), and ioredis sends
    // the commands of one tick together, per node in a cluster.
    this.redis = openRedis(config.redis, 'pairwatch-api-state', { enableAutoPipelining: true });
    this.mode = config.redis.mode;
  }

  /**
   * Over the workers whose state was read last (by the staleness watcher, every few seconds): how many sent
   * their last alert while the Redis master lacked the replicas REDIS_WAIT_REPLICAS asks for, and how many
   * alerts they sent so, in all (/metrics).
   */
  replication(): { workersShort: number; unreplicatedAlerts: number } {
    let workersShort = 0;
    let unreplicatedAlerts = 0;
    for (const { short, unreplicated } of this.replicationByMonitor.values()) {
      if (short) workersShort += 1;
      unreplicatedAlerts += unreplicated;
    }
    return { workersShort, unreplicatedAlerts };
  }

  /**
   * The current state of each monitor's worker, in one round trip (per node). A monitor is missing from the
   * answer when its worker's report expired (a stale worker) or breaks the schema (logged). Rejects when Redis
   * cannot be reached.
   */
  async read(monitorIds: readonly string[]): Promise<Map<string, WorkerState>> {
    const states = new Map<string, WorkerState>();
    if (monitorIds.length === 0) return states;
    const settled = await Promise.allSettled(monitorIds.map((id) => this.redis.hgetall(workerStateKey(id))));
    if (settled.every((s) => s.status === 'rejected')) throw settled[0].reason;
    const results = settled.map((s): [Error | null, unknown] =>
      s.status === 'fulfilled' ? [null, s.value] : [s.reason as Error, undefined],
    );
    results.forEach(([error, value], index) => {
      const hash = (value ?? {}) as Record<string, string>;
      const parsed = error
        ? { ok: false as const, error: error.message }
        : this.parser.parse(monitorIds[index], hash);
      if (parsed.ok) {
        states.set(monitorIds[index], parsed.state);
        this.replicationByMonitor.set(monitorIds[index], {
          short: parsed.state.replication === 'short',
          unreplicated: parsed.state.unreplicatedAlerts ?? 0,
        });
        return;
      }
      if (!error) this.replicationByMonitor.delete(monitorIds[index]);
      if (error || Object.keys(hash).length > 0) {
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
   * The ticks the workers of these monitors stored in their recent-tick streams with `at` in [sinceMs, untilMs),
   * each stream oldest first (the streams one after another). Read straight from Redis, not through the cache
   * (a backtest reads a pair's streams once). Entries that break the schema are left out. Rejects when Redis
   * cannot be reached.
   */
  async storedTicks(monitorIds: readonly string[], sinceMs: number, untilMs: number): Promise<StreamTick[]> {
    const start = String(Math.max(0, Math.floor(sinceMs) - CLOCK_SKEW_MS));
    const end = String(Math.floor(untilMs) + CLOCK_SKEW_MS);
    const reads = await Promise.all(
      monitorIds.map((id) => this.redis.xrange(workerPricesKey(id), start, end)),
    );
    const ticks: StreamTick[] = [];
    reads.forEach((entries, index) => {
      const monitorId = monitorIds[index];
      for (const [, fields] of entries) {
        const parsed = parsePriceTick(fields);
        if (!parsed.ok) continue;
        const atMs = Date.parse(parsed.tick.at);
        if (atMs >= sinceMs && atMs < untilMs)
          ticks.push({ monitorId, atMs, ask: parsed.tick.ask, bid: parsed.tick.bid });
      }
    });
    return ticks;
  }

  async onApplicationShutdown(): Promise<void> {
    await closeRedis(this.redis);
  }
}
