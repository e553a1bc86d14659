import { Inject, Injectable, OnApplicationShutdown } from '@nestjs/common';
import type Redis from 'ioredis';
import { workerPricesKey } from '@pairwatch/contracts';
import { APP_CONFIG, type AppConfig } from '../config/app.config';
import { decodeEntry, PricesBody, pricesBody, rangeStartMs, RawEntry, RecentPrices } from './recent-prices';
import { closeRedis, openRedis } from './redis-connection';

/**
 * One read of a monitor's price stream, made in one MULTI (so the four parts describe one moment): the entries
 * after a given id (all of them when none is given), and the stream's first and last ids and length. `first`
 * undefined: the key is gone.
 */
export interface StreamRead {
  added: RawEntry[];
  first: string | undefined;
  last: string | undefined;
  length: number;
}

/**
 * The workers' price streams (`pairwatch:prices:{monitorId}`, schema in libs/contracts), read as they are:
 * every call of `read` asks Redis for the range it serves. This is the correctness; the Redis module wraps it in
 * CachingPriceStreamReader (price-cache.ts), which keeps the streams last read and asks this reader only for
 * what is new (`readAfter`).
 */
@Injectable()
export class PriceStreamReader extends RecentPrices implements OnApplicationShutdown {
  private readonly redis: Redis;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    super();
    this.redis = openRedis(config.redis, 'pairwatch-api-prices');
  }

  async read(monitorId: string, sinceMs: number): Promise<PricesBody> {
    const startMs = rangeStartMs(sinceMs);
    const entries = (await this.redis.xrangeBuffer(
      workerPricesKey(monitorId),
      String(startMs),
      '+',
    )) as unknown as RawEntry[];
    return pricesBody(entries.map(decodeEntry), startMs, new Date(sinceMs).toISOString());
  }

  /**
   * One MULTI: the stream's entries after `lastId` (all when undefined), its first and last ids and its length,
   * all of one moment.
   */
  async readAfter(monitorId: string, lastId: string | undefined): Promise<StreamRead> {
    const key = workerPricesKey(monitorId);
    const results = await this.redis
      .multi()
      .xrangeBuffer(key, lastId === undefined ? '-' : `(${lastId}`, '+')
      .xrangeBuffer(key, '-', '+', 'COUNT', 1)
      .xrevrangeBuffer(key, '+', '-', 'COUNT', 1)
      .xlen(key)
      .exec();
    if (!results) throw new Error('the MULTI reading the price stream was aborted');
    for (const [error] of results) if (error) throw error;
    const [added, first, last] = results.slice(0, 3).map(([, value]) => value as RawEntry[]);
    return {
      added,
      first: first[0]?.[0].toString('latin1'),
      last: last[0]?.[0].toString('latin1'),
      length: results[3][1] as number,
    };
  }

  async onApplicationShutdown(): Promise<void> {
    await closeRedis(this.redis);
  }
}
