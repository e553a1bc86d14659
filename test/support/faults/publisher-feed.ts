import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import type Redis from 'ioredis';
import { type RedisSettings, type RuleFiring, standaloneRedis } from '@pairwatch/contracts';
import {
  AlertPublisher,
  createWorkerRedis,
  IoRedisTransactions,
} from '../../../apps/worker/src/alert-publisher';
import { createWorkerLogger } from '../../../apps/worker/src/worker.logger';
import { AlertLedger } from './alert-ledger';
import { sleep } from './util';

/**
 * Workers' publishing without their polling: one AlertPublisher per simulated worker, each on its own
 * connection made by the worker's createWorkerRedis (the same reconnection and fail-fast rules), fed
 * oscillations directly. Every event id a publisher built is put in the ledger; a case ends by checking
 * that none is still queued or was dropped, so every id in the ledger was published.
 */
export class PublisherFeed {
  readonly ledger = new AlertLedger();
  private readonly workers: {
    monitorId: string;
    pair: string;
    redis: Redis;
    publisher: AlertPublisher;
    chain: Promise<void>;
    n: number;
  }[] = [];
  private readonly logLines: { level: string; msg: string }[] = [];
  private timer: NodeJS.Timeout | undefined;
  /** Each simulated worker's alert ids, in the order it made them. */
  readonly order = new Map<string, string[]>();
  /** Publish calls whose event was queued (Redis unavailable) rather than sent at once. */
  queuedOnPublish = 0;
  invalid = 0;

  /** `redis`: a standalone server's URL, or settings of any mode (with REDIS_WAIT_REPLICAS). */
  constructor(
    redis: string | RedisSettings,
    count: number,
    pairs = ['BTC-USD', 'ETH-USD', 'XRP-USD', 'BTC-EUR'],
  ) {
    const settings = typeof redis === 'string' ? standaloneRedis(redis) : redis;
    const destination = new Writable({
      write: (chunk: Buffer, _encoding, callback) => {
        for (const text of chunk.toString('utf8').split('\n')) {
          if (text) this.logLines.push(JSON.parse(text) as { level: string; msg: string });
        }
        callback();
      },
    });
    for (let i = 0; i < count; i += 1) {
      const monitorId = randomUUID();
      const pair = pairs[i % pairs.length];
      const logger = createWorkerLogger({ level: 'info', monitorId, pair, destination });
      const connection = createWorkerRedis(settings, logger, `pairwatch-faults-feed:${i}`);
      const publisher = new AlertPublisher(new IoRedisTransactions(connection, 3000), {
        logger,
        redis: settings,
        settings: {
          monitorId,
          pair,
          intervalMs: 1000,
          stateTtlMs: 60_000,
        },
      });
      this.workers.push({ monitorId, pair, redis: connection, publisher, chain: Promise.resolve(), n: 0 });
    }
  }

  /** Each simulated worker's connection status and queue length ("ready/0"), for a failure's message. */
  connections(): string[] {
    return this.workers.map((w) => `${w.redis.status}/${w.publisher.stats.pending}`);
  }

  /** What the publishers logged at warn or above (outages, recoveries), by message. */
  warnings(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const line of this.logLines) {
      if (line.level === 'warn' || line.level === 'error' || line.level === 'info')
        counts[line.msg] = (counts[line.msg] ?? 0) + 1;
    }
    return counts;
  }

  get stats(): { sent: number; pending: number; dropped: number; unreplicated: number } {
    return this.workers.reduce(
      (sum, w) => {
        const s = w.publisher.stats;
        return {
          sent: sum.sent + s.sent,
          pending: sum.pending + s.pending,
          dropped: sum.dropped + s.dropped,
          unreplicated: sum.unreplicated + s.unreplicated,
        };
      },
      { sent: 0, pending: 0, dropped: 0, unreplicated: 0 },
    );
  }

  /** Publishes `total` alerts spread over the workers, each worker one at a time, all at once. */
  async burst(total: number, onEach?: (published: number) => Promise<void> | void): Promise<void> {
    let next = 0;
    let published = 0;
    await Promise.all(
      this.workers.map(async (worker) => {
        while (next < total) {
          next += 1;
          await this.publishOne(worker);
          published += 1;
          await onEach?.(published);
        }
      }),
    );
  }

  /** Every `everyMs`, each worker publishes one alert (after its previous one), until {@link stopSteady}. */
  startSteady(everyMs: number): void {
    this.timer = setInterval(() => {
      for (const worker of this.workers) {
        worker.chain = worker.chain.then(() => this.publishOne(worker));
      }
    }, everyMs);
  }

  async stopSteady(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await Promise.all(this.workers.map((w) => w.chain));
  }

  /** Flushes every queue, retrying for up to `timeoutMs`; true once nothing is pending. */
  async flushAll(timeoutMs = 20_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const results = await Promise.all(this.workers.map((w) => w.publisher.flush()));
      if (results.every(Boolean)) return true;
      if (Date.now() > deadline) return false;
      await sleep(200);
    }
  }

  async close(): Promise<void> {
    await this.stopSteady();
    await Promise.all(this.workers.map((w) => w.publisher.close(1000).catch(() => undefined)));
  }

  private async publishOne(worker: PublisherFeed['workers'][number]): Promise<void> {
    worker.n += 1;
    const up = worker.n % 2 === 1;
    const rule = {
      ruleId: 'r1',
      kind: 'move',
      priceField: 'ask',
      thresholdPercent: '0.5',
      details: {},
    } as const;
    const oscillation: RuleFiring = up
      ? { ...rule, direction: 'up', referencePrice: '100', price: '101', changePercent: '1' }
      : { ...rule, direction: 'down', referencePrice: '101', price: '100', changePercent: '-0.99009901' };
    const outcome = await worker.publisher.publish(oscillation, Date.now());
    if (outcome.kind === 'invalid') {
      this.invalid += 1;
      return;
    }
    if (outcome.kind === 'queued') this.queuedOnPublish += 1;
    this.ledger.add(outcome.event.id);
    const order = this.order.get(worker.monitorId) ?? [];
    order.push(outcome.event.id);
    this.order.set(worker.monitorId, order);
  }
}
