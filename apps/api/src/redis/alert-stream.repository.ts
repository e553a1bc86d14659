import { Inject, Injectable } from '@nestjs/common';
import type Redis from 'ioredis';
import {
  ALERT_EVENT_FIELD,
  ALERTS_CONSUMER_GROUP,
  ALERTS_DEAD_LETTER_STREAM,
  ALERTS_STREAM,
  LEGACY_ALERTS_STREAM,
} from '@pairwatch/contracts';
import { APP_CONFIG, AppConfig } from '../config/app.config';
import { closeRedis, openRedis } from './redis-connection';

/** One entry of the alerts stream; `event` is undefined when the entry was trimmed or has no event field. */
export interface StreamEntry {
  id: string;
  event: string | undefined;
}

type RawEntry = [id: string, fields: string[] | null];

/** The dead-letter stream keeps the most recent malformed events only. */
const DEAD_LETTER_CAP = 10_000;

/** XINFO answers flat [key, value, key, value…] lists. */
function pairs(raw: unknown[]): Record<string, string | number | undefined> {
  const out: Record<string, string | number | undefined> = {};
  for (let i = 0; i + 1 < raw.length; i += 2) out[String(raw[i])] = raw[i + 1] as string | number;
  return out;
}

/** Stream ids are "ms-seq"; compares them numerically. */
export function compareIds(a: string, b: string): number {
  const [aMs, aSeq = 0n] = a.split('-').map(BigInt);
  const [bMs, bSeq = 0n] = b.split('-').map(BigInt);
  if (aMs !== bMs) return aMs < bMs ? -1 : 1;
  if (aSeq !== bSeq) return aSeq < bSeq ? -1 : 1;
  return 0;
}

/** The smallest id after `id`. */
export function nextId(id: string): string {
  const [ms, seq] = id.split('-');
  return `${ms}-${(BigInt(seq ?? '0') + 1n).toString()}`;
}

function toEntries(raw: RawEntry[]): StreamEntry[] {
  return raw.map(([id, fields]) => {
    let event: string | undefined;
    for (let i = 0; fields && i + 1 < fields.length; i += 2) {
      if (fields[i] === ALERT_EVENT_FIELD) event = fields[i + 1];
    }
    return { id, event };
  });
}

/** The alert streams the API reads: today's, and the one of the key names before the hash tags (upgrades). */
export type AlertStreamKey = typeof ALERTS_STREAM | typeof LEGACY_ALERTS_STREAM;

/** Deletes the stream only while it is empty (an old worker may add to it at any moment). */
const DELETE_IF_EMPTY = `if redis.call('XLEN', KEYS[1]) == 0 then return redis.call('DEL', KEYS[1]) end return 0`;

/**
 * The alerts stream as the API's consumer group sees it. Owns two connections: one for commands, and one
 * for the blocking reads, so a BLOCK never stalls the others. Every method works on ALERTS_STREAM unless given
 * LEGACY_ALERTS_STREAM (drained after an upgrade: AlertIngestionService).
 */
@Injectable()
export class AlertStreamRepository {
  private readonly commands: Redis;
  private readonly reader: Redis;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.commands = openRedis(config.redis, 'pairwatch-api');
    this.reader = openRedis(config.redis, 'pairwatch-api-ingest', { maxRetriesPerRequest: null });
  }

  /**
   * Rejects when Redis does not answer (GET /health). A command on the stream's key, not a PING: a cluster
   * whose slots are not all served still answers PING, but refuses this (CLUSTERDOWN).
   */
  async ping(): Promise<void> {
    await this.commands.exists(ALERTS_STREAM);
  }

  /** Creates the group at the start of the stream, so alerts published before the first API start are read too. */
  async ensureGroup(stream: AlertStreamKey = ALERTS_STREAM): Promise<void> {
    try {
      await this.reader.xgroup('CREATE', stream, ALERTS_CONSUMER_GROUP, '0', 'MKSTREAM');
    } catch (error) {
      if (!String((error as Error).message).includes('BUSYGROUP')) throw error;
    }
  }

  /** Whether the stream of the old key names is still there (an upgraded installation). */
  async legacyExists(): Promise<boolean> {
    return (await this.commands.exists(LEGACY_ALERTS_STREAM)) > 0;
  }

  /** Deletes the stream of the old key names if it is empty (everything read, acknowledged and trimmed). */
  async deleteLegacyIfEmpty(): Promise<boolean> {
    return Number(await this.commands.eval(DELETE_IF_EMPTY, 1, LEGACY_ALERTS_STREAM)) === 1;
  }

  /** Entries delivered to this consumer and not acknowledged yet (after a crash, or a failed insert). */
  async readOwnPending(
    consumer: string,
    count: number,
    stream: AlertStreamKey = ALERTS_STREAM,
  ): Promise<StreamEntry[]> {
    return this.read(stream, consumer, count, '0');
  }

  /** New entries, waiting up to blockMs for some to arrive. */
  async readNew(
    consumer: string,
    count: number,
    blockMs: number,
    stream: AlertStreamKey = ALERTS_STREAM,
  ): Promise<StreamEntry[]> {
    return this.read(stream, consumer, count, '>', blockMs);
  }

  /** Takes over entries another consumer left pending for longer than minIdleMs (a dead replica). */
  async claimAbandoned(
    consumer: string,
    minIdleMs: number,
    count: number,
    stream: AlertStreamKey = ALERTS_STREAM,
  ): Promise<number> {
    let cursor = '0-0';
    let claimed = 0;
    do {
      const [next, entries] = (await this.reader.xautoclaim(
        stream,
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

  async ack(ids: string[], stream: AlertStreamKey = ALERTS_STREAM): Promise<void> {
    if (ids.length > 0) await this.commands.xack(stream, ALERTS_CONSUMER_GROUP, ...ids);
  }

  /**
   * Moves entries that can never be stored to the dead-letter stream, with the reason, and acknowledges them,
   * in one MULTI (both streams carry the same hash tag). From the legacy stream, the acknowledgement follows
   * the MULTI (the two names are in different slots).
   */
  async deadLetter(
    entries: { entry: StreamEntry; reason: string }[],
    stream: AlertStreamKey = ALERTS_STREAM,
  ): Promise<void> {
    if (entries.length === 0) return;
    const tx = this.commands.multi();
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
    const ids = entries.map(({ entry }) => entry.id);
    if (stream === ALERTS_STREAM) tx.xack(stream, ALERTS_CONSUMER_GROUP, ...ids);
    const results = await tx.exec();
    const failed = results?.find(([error]) => error);
    if (!results || failed) throw failed?.[0] ?? new Error('dead-letter transaction was discarded');
    if (stream !== ALERTS_STREAM) await this.ack(ids, stream);
  }

  /**
   * Trims the stream only below what every consumer group has acknowledged: below the oldest pending entry,
   * or past the last delivered one when nothing is pending. Entries not yet read stay. When the stream is
   * still longer than `cap` (an API down for days), it is cut to `cap` and the number cut is returned as
   * `capped`, for a warning. Returns how many entries went.
   */
  async trimAcknowledged(
    cap: number,
    stream: AlertStreamKey = ALERTS_STREAM,
  ): Promise<{ trimmed: number; capped: number }> {
    const groups = (await this.commands.call('XINFO', 'GROUPS', stream)) as unknown[][];
    let minId: string | undefined;
    for (const raw of groups) {
      const group = pairs(raw);
      const pending = Number(group.pending ?? 0);
      let boundary: string | undefined;
      if (pending > 0) {
        const summary = (await this.commands.xpending(stream, String(group.name))) as [number, string | null];
        boundary = summary[1] ?? undefined;
      } else if (group['last-delivered-id'] !== undefined) {
        boundary = nextId(String(group['last-delivered-id']));
      }
      if (boundary === undefined) return { trimmed: 0, capped: 0 };
      if (minId === undefined || compareIds(boundary, minId) < 0) minId = boundary;
    }
    if (minId === undefined) return { trimmed: 0, capped: 0 };
    const trimmed = await this.commands.xtrim(stream, 'MINID', minId);
    let capped = 0;
    if ((await this.commands.xlen(stream)) > cap) {
      capped = await this.commands.xtrim(stream, 'MAXLEN', cap);
    }
    await this.commands.xtrim(ALERTS_DEAD_LETTER_STREAM, 'MAXLEN', '~', DEAD_LETTER_CAP);
    return { trimmed, capped };
  }

  async pendingCount(): Promise<number> {
    const summary = (await this.commands.xpending(ALERTS_STREAM, ALERTS_CONSUMER_GROUP)) as [
      number,
      ...unknown[],
    ];
    return Number(summary[0]);
  }

  /** Closes both connections; called by the ingestion loop once it has stopped. */
  async close(): Promise<void> {
    await Promise.all([closeRedis(this.reader), closeRedis(this.commands)]);
  }

  private async read(
    stream: AlertStreamKey,
    consumer: string,
    count: number,
    from: string,
    blockMs?: number,
  ): Promise<StreamEntry[]> {
    const args: (string | number)[] = ['GROUP', ALERTS_CONSUMER_GROUP, consumer, 'COUNT', count];
    if (blockMs !== undefined) args.push('BLOCK', blockMs);
    args.push('STREAMS', stream, from);
    const reply = (await this.reader.call('XREADGROUP', ...args)) as [string, RawEntry[]][] | null;
    return reply?.[0] ? toEntries(reply[0][1]) : [];
  }
}
