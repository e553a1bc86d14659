import { Injectable } from '@nestjs/common';
import type Redis from 'ioredis';
import {
  ALERT_EVENT_FIELD,
  ALERTS_CONSUMER_GROUP,
  ALERTS_DEAD_LETTER_STREAM,
  ALERTS_STREAM,
} from '@pairwatch/contracts';
import { RedisService } from './redis.service';

/** One entry of the alerts stream; `event` is undefined when the entry was trimmed or has no event field. */
export interface StreamEntry {
  id: string;
  event: string | undefined;
}

type RawEntry = [id: string, fields: string[] | null];

function toEntries(raw: RawEntry[]): StreamEntry[] {
  return raw.map(([id, fields]) => {
    let event: string | undefined;
    for (let i = 0; fields && i + 1 < fields.length; i += 2) {
      if (fields[i] === ALERT_EVENT_FIELD) event = fields[i + 1];
    }
    return { id, event };
  });
}

/** The alerts stream as the API's consumer group sees it. Owns a blocking connection of its own. */
@Injectable()
export class AlertStreamRepository {
  private readonly reader: Redis;

  constructor(private readonly redis: RedisService) {
    this.reader = redis.duplicate('pairwatch-api-ingest');
  }

  /** Creates the group at the start of the stream, so alerts published before the first API start are read too. */
  async ensureGroup(): Promise<void> {
    try {
      await this.reader.xgroup('CREATE', ALERTS_STREAM, ALERTS_CONSUMER_GROUP, '0', 'MKSTREAM');
    } catch (error) {
      if (!String((error as Error).message).includes('BUSYGROUP')) throw error;
    }
  }

  /** Entries delivered to this consumer and not acknowledged yet (after a crash, or a failed insert). */
  async readOwnPending(consumer: string, count: number): Promise<StreamEntry[]> {
    return this.read(consumer, count, '0');
  }

  /** New entries, waiting up to blockMs for some to arrive. */
  async readNew(consumer: string, count: number, blockMs: number): Promise<StreamEntry[]> {
    return this.read(consumer, count, '>', blockMs);
  }

  /** Takes over entries another consumer left pending for longer than minIdleMs (a dead replica). */
  async claimAbandoned(consumer: string, minIdleMs: number, count: number): Promise<number> {
    let cursor = '0-0';
    let claimed = 0;
    do {
      const [next, entries] = (await this.reader.xautoclaim(
        ALERTS_STREAM,
        ALERTS_CONSUMER_GROUP,
        consumer,
        minIdleMs,
        cursor,
        'COUNT',
        count,
        'JUSTID',
      )) as [string, string[]];
      claimed += entries.length;
      cursor = next;
    } while (cursor !== '0-0' && claimed < count * 10);
    return claimed;
  }

  async ack(ids: string[]): Promise<void> {
    if (ids.length > 0) await this.redis.client.xack(ALERTS_STREAM, ALERTS_CONSUMER_GROUP, ...ids);
  }

  /** Moves entries that can never be stored to the dead-letter stream, with the reason, and acknowledges them. */
  async deadLetter(entries: { entry: StreamEntry; reason: string }[]): Promise<void> {
    if (entries.length === 0) return;
    const tx = this.redis.client.multi();
    for (const { entry, reason } of entries) {
      tx.xadd(
        ALERTS_DEAD_LETTER_STREAM,
        '*',
        'sourceId',
        entry.id,
        'reason',
        reason,
        'event',
        entry.event ?? '',
      );
    }
    tx.xack(ALERTS_STREAM, ALERTS_CONSUMER_GROUP, ...entries.map(({ entry }) => entry.id));
    const results = await tx.exec();
    const failed = results?.find(([error]) => error);
    if (!results || failed) throw failed?.[0] ?? new Error('dead-letter transaction was discarded');
  }

  async pendingCount(): Promise<number> {
    const summary = (await this.redis.client.xpending(ALERTS_STREAM, ALERTS_CONSUMER_GROUP)) as [
      number,
      ...unknown[],
    ];
    return Number(summary[0]);
  }

  async close(): Promise<void> {
    await this.reader.quit().catch(() => undefined);
  }

  private async read(
    consumer: string,
    count: number,
    from: string,
    blockMs?: number,
  ): Promise<StreamEntry[]> {
    const args: (string | number)[] = ['GROUP', ALERTS_CONSUMER_GROUP, consumer, 'COUNT', count];
    if (blockMs !== undefined) args.push('BLOCK', blockMs);
    args.push('STREAMS', ALERTS_STREAM, from);
    const reply = (await this.reader.call('XREADGROUP', ...args)) as [string, RawEntry[]][] | null;
    return reply?.[0] ? toEntries(reply[0][1]) : [];
  }
}
