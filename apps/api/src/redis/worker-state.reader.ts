import { Inject, Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import type Redis from 'ioredis';
import {
  canonicalTickAtOrAfter,
  isCanonicalPriceTickJson,
  parseWorkerState,
  PRICE_TICK_FIELD,
  readPriceTick,
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

/** An entry as XRANGE returns it, as Buffers (ioredis' xrangeBuffer: no text decoding of ids and fields). */
type RawEntry = [id: Buffer, fields: Buffer[]];

/** A response body of recent prices: a JSON array of ticks, oldest first, and what was left out of it. */
export interface PricesBody {
  /** The JSON array, UTF-8. */
  json: Buffer;
  count: number;
  unreadable: number;
  /** Why the last unreadable entry was refused ('' when none was). */
  reason: string;
}

const TICK_FIELD = Buffer.from(PRICE_TICK_FIELD);
const COMMA = 0x2c;

/** Whether a field name is PRICE_TICK_FIELD (a few bytes: compared here, not through a native call each). */
function isTickField(name: Buffer): boolean {
  if (name.length !== TICK_FIELD.length) return false;
  for (let i = 0; i < name.length; i++) if (name[i] !== TICK_FIELD[i]) return false;
  return true;
}

/**
 * Builds the JSON array of the entries' ticks at or after `sinceIso` (canonical, from toISOString), in the
 * entries' order. A value a worker wrote (isCanonicalPriceTickJson, checked on its latin1 text: the pattern admits
 * ASCII only, so that text is its UTF-8 too) goes into the body as the very bytes Redis sent; anything else goes
 * through readPriceTick (the schema) and comes out in the same compact form. Entries that break the schema are
 * left out and counted.
 */
export function pricesBody(entries: readonly RawEntry[], sinceIso: string): PricesBody {
  const parts: Buffer[] = [];
  let length = 0;
  let unreadable = 0;
  let reason = '';
  for (const [, fields] of entries) {
    if (fields.length === 2 && isTickField(fields[0])) {
      const text = fields[1].toString('latin1');
      if (isCanonicalPriceTickJson(text)) {
        if (canonicalTickAtOrAfter(text, sinceIso)) {
          parts.push(fields[1]);
          length += fields[1].length;
        }
        continue;
      }
    }
    const read = readPriceTick(fields.map((field) => field.toString('utf8')));
    if (!read.ok) {
      unreadable += 1;
      reason = read.error;
    } else if (tickAtOrAfter(read.at, sinceIso)) {
      const json = Buffer.from(read.json);
      parts.push(json);
      length += json.length;
    }
  }
  // One allocation: '[', the values with a comma between each two, ']'.
  const body = Buffer.allocUnsafe(length + Math.max(parts.length - 1, 0) + 2);
  let offset = 0;
  body[offset++] = 0x5b;
  for (let i = 0; i < parts.length; i++) {
    if (i > 0) body[offset++] = COMMA;
    offset += parts[i].copy(body, offset);
  }
  body[offset++] = 0x5d;
  return { json: body, count: parts.length, unreadable, reason };
}

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
   * The monitor's recent ticks observed at or after `sinceMs`, oldest first (one XRANGE), as the JSON array the
   * API serves, UTF-8 (see pricesBody). Entries that break the schema are left out (and counted in one log
   * line). Rejects when Redis cannot be reached.
   */
  async pricesJson(monitorId: string, sinceMs: number): Promise<Buffer> {
    const start = Math.max(0, Math.floor(sinceMs) - CLOCK_SKEW_MS);
    const raw = (await this.redis.xrangeBuffer(workerPricesKey(monitorId), String(start), '+')) as RawEntry[];
    const body = pricesBody(raw, new Date(sinceMs).toISOString());
    if (body.unreadable > 0) {
      this.logger.warn({
        msg: 'unreadable price ticks left out',
        monitorId,
        unreadable: body.unreadable,
        reason: body.reason,
      });
    }
    return body.json;
  }

  async onApplicationShutdown(): Promise<void> {
    await closeRedis(this.redis);
  }
}
