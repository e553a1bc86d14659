import { Inject, Injectable, OnApplicationShutdown } from '@nestjs/common';
import Redis from 'ioredis';
import { workerStateKey } from '@pairwatch/contracts';
import { APP_CONFIG, AppConfig } from '../config/app.config';

/** A worker's own report, from `pairwatch:worker:{monitorId}`. Absent when the key expired. */
export interface WorkerReport {
  status?: string;
  lastTickAt?: string;
  lastPrice?: string;
  consecutiveErrors?: number;
  lastError?: string;
}

/**
 * The API's Redis connections. Commands share one connection; each blocking reader asks for a
 * connection of its own with {@link duplicate}, so a BLOCK never stalls other commands.
 */
@Injectable()
export class RedisService implements OnApplicationShutdown {
  readonly client: Redis;
  private readonly extra: Redis[] = [];

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.client = new Redis(config.redisUrl, {
      lazyConnect: false,
      maxRetriesPerRequest: 2,
      enableOfflineQueue: true,
      connectionName: 'pairwatch-api',
    });
    // ioredis reconnects by itself; an 'error' listener keeps a down Redis from crashing the process.
    this.client.on('error', () => undefined);
  }

  duplicate(name: string): Redis {
    const connection = this.client.duplicate({ connectionName: name, maxRetriesPerRequest: null });
    connection.on('error', () => undefined);
    this.extra.push(connection);
    return connection;
  }

  async ping(): Promise<void> {
    await this.client.ping();
  }

  async workerReports(monitorIds: string[]): Promise<Map<string, WorkerReport>> {
    const reports = new Map<string, WorkerReport>();
    if (monitorIds.length === 0) return reports;
    const pipeline = this.client.pipeline();
    for (const id of monitorIds) pipeline.hgetall(workerStateKey(id));
    const results = (await pipeline.exec()) ?? [];
    results.forEach(([error, value], index) => {
      const hash = value as Record<string, string> | null;
      if (error || !hash || Object.keys(hash).length === 0) return;
      reports.set(monitorIds[index], {
        status: hash.status,
        lastTickAt: hash.lastTickAt || undefined,
        lastPrice: hash.lastPrice || undefined,
        consecutiveErrors: hash.consecutiveErrors === undefined ? undefined : Number(hash.consecutiveErrors),
        lastError: hash.lastError || undefined,
      });
    });
    return reports;
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.allSettled([this.client, ...this.extra].map((c) => c.quit()));
  }
}
