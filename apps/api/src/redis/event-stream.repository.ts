import type Redis from 'ioredis';
import type { RedisSettings } from '@pairwatch/contracts';
import { closeRedis, openRedis } from './redis-connection';

/** The keys of one event stream read by a consumer group (libs/contracts: redis-keys.ts). */
export interface EventStreamKeys {
  stream: string;
  group: string;
  /** Shares the stream's hash tag, so a dead letter and its acknowledgement go in one MULTI. */
  deadLetter: string;
  /** The field of an entry that holds the JSON event. */
  field: string;
  /** The stream's name before the cluster-safe key scheme, drained after an upgrade (none for newer streams). */
  legacy?: string;
}

/** One entry of an event stream; `event` is undefined when the entry was trimmed or has no event field. */
export interface StreamEntry {
  id: string;
  event: string | undefined;
}

export interface EventStreamOptions {
  /**
   * Acknowledgements of the stream's entries are sent with the next read, in one write on the reader
   * connection (XACK, then XREADGROUP), instead of as a command of their own: one round trip a batch less. The
   * rows are committed before {@link EventStreamRepository#ack} is called, as always; the entries only stay
   * pending until the next read (at most a gather or a block later), and {@link EventStreamRepository#close}
   * sends what is left. A crash before that re-delivers them, which the idempotent insert makes harmless.
   */
  ackWithNextRead?: boolean;
}

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

type RawBufferEntry = [id: Buffer, fields: Buffer[] | null];

/**
 * The entries of an XREADGROUP reply read as Buffers (`callBuffer`): ioredis parses every reply into Buffers and,
 * for `call`, then walks it again to copy each array and decode each Buffer into a string. Here only what an
 * entry needs is decoded, once: its id (ASCII: latin1, no UTF-8 scan) and the value of `field` (UTF-8); the
 * field names are compared as bytes, never made strings.
 */
function toEntries(raw: RawBufferEntry[], field: Buffer): StreamEntry[] {
  const entries = new Array<StreamEntry>(raw.length);
  for (let e = 0; e < raw.length; e++) {
    const [id, fields] = raw[e];
    let event: string | undefined;
    for (let i = 0; fields && i + 1 < fields.length; i += 2) {
      if (field.equals(fields[i])) event = fields[i + 1].toString('utf8');
    }
    entries[e] = { id: id.toString('latin1'), event };
  }
  return entries;
}

type XReadGroupReply = [stream: Buffer, entries: RawBufferEntry[]][] | null;

const asError = (error: unknown): Error =>
  error instanceof Error ? error : new Error(`Redis answered ${JSON.stringify(error)}`);

/** Deletes the stream only while it is empty (an old worker may add to it at any moment). */
const DELETE_IF_EMPTY = `if redis.call('XLEN', KEYS[1]) == 0 then return redis.call('DEL', KEYS[1]) end return 0`;

/**
 * An event stream (the alerts', the ticks') as the API's consumer group sees it: the door StreamIngestion reads
 * through. Owns two connections: one for commands, and one for the blocking reads, so a BLOCK never stalls the
 * others. Every method works on the stream unless given its legacy name (drained after an upgrade).
 */
export class EventStreamRepository {
  private readonly commands: Redis;
  private readonly reader: Redis;
  /** Ids acknowledged by the caller and not sent yet (ackWithNextRead): they go with the next read. */
  private unsentAcks: string[] = [];
  /** The event field's name as bytes, compared with the reply's field names (see toEntries). */
  private readonly fieldBytes: Buffer;

  constructor(
    settings: RedisSettings,
    readonly keys: EventStreamKeys,
    connectionName: string,
    private readonly options: EventStreamOptions = {},
  ) {
    this.commands = openRedis(settings, connectionName);
    this.reader = openRedis(settings, `${connectionName}-ingest`, { maxRetriesPerRequest: null });
    this.fieldBytes = Buffer.from(keys.field, 'utf8');
  }

  /** The stream's name before the cluster-safe scheme, if it had one. */
  get legacyStream(): string | undefined {
    return this.keys.legacy;
  }

  /**
   * Rejects when Redis does not answer (GET /health). A command on the stream's key, not a PING: a cluster
   * whose slots are not all served still answers PING, but refuses this (CLUSTERDOWN).
   */
  async ping(): Promise<void> {
    await this.commands.exists(this.keys.stream);
  }

  /** Creates the group at the start of the stream, so events published before the first API start are read too. */
  async ensureGroup(stream: string = this.keys.stream): Promise<void> {
    try {
      await this.reader.xgroup('CREATE', stream, this.keys.group, '0', 'MKSTREAM');
    } catch (error) {
      if (!String((error as Error).message).includes('BUSYGROUP')) throw error;
    }
  }

  /** Whether the stream of the old key names is still there (an upgraded installation). */
  async legacyExists(): Promise<boolean> {
    return this.keys.legacy !== undefined && (await this.commands.exists(this.keys.legacy)) > 0;
  }

  /** Deletes the stream of the old key names if it is empty (everything read, acknowledged and trimmed). */
  async deleteLegacyIfEmpty(): Promise<boolean> {
    if (this.keys.legacy === undefined) return false;
    return Number(await this.commands.eval(DELETE_IF_EMPTY, 1, this.keys.legacy)) === 1;
  }

  /** Entries delivered to this consumer and not acknowledged yet (after a crash, or a failed insert). */
  async readOwnPending(
    consumer: string,
    count: number,
    stream: string = this.keys.stream,
  ): Promise<StreamEntry[]> {
    return this.read(stream, consumer, count, '0');
  }

  /** New entries, waiting up to blockMs for some to arrive. */
  async readNew(
    consumer: string,
    count: number,
    blockMs: number,
    stream: string = this.keys.stream,
  ): Promise<StreamEntry[]> {
    return this.read(stream, consumer, count, '>', blockMs);
  }

  /** Takes over entries another consumer left pending for longer than minIdleMs (a dead replica). */
  async claimAbandoned(
    consumer: string,
    minIdleMs: number,
    count: number,
    stream: string = this.keys.stream,
  ): Promise<number> {
    let cursor = '0-0';
    let claimed = 0;
    do {
      const [next, entries] = (await this.reader.xautoclaim(
        stream,
        this.keys.group,
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

  /** Acknowledges entries whose rows are committed: at once, or with the next read (ackWithNextRead). */
  async ack(ids: string[], stream: string = this.keys.stream): Promise<void> {
    if (ids.length === 0) return;
    if (this.options.ackWithNextRead && stream === this.keys.stream) {
      for (const id of ids) this.unsentAcks.push(id);
      return;
    }
    await this.commands.xack(stream, this.keys.group, ...ids);
  }

  /** Sends the acknowledgements held for the next read now (at shutdown). */
  private async flushAcks(): Promise<void> {
    const ids = this.unsentAcks;
    if (ids.length === 0) return;
    this.unsentAcks = [];
    try {
      await this.commands.xack(this.keys.stream, this.keys.group, ...ids);
    } catch (error) {
      this.unsentAcks = ids.concat(this.unsentAcks);
      throw error;
    }
  }

  /**
   * Moves entries that can never be stored to the dead-letter stream, with the reason, and acknowledges them,
   * in one MULTI (both streams carry the same hash tag). From the legacy stream, the acknowledgement follows
   * the MULTI (the two names are in different slots).
   */
  async deadLetter(
    entries: { entry: StreamEntry; reason: string }[],
    stream: string = this.keys.stream,
  ): Promise<void> {
    if (entries.length === 0) return;
    const tx = this.commands.multi();
    for (const { entry, reason } of entries) {
      tx.xadd(this.keys.deadLetter, '*', 'sourceId', entry.id, 'reason', reason, 'event', entry.event ?? '');
    }
    const ids = entries.map(({ entry }) => entry.id);
    if (stream === this.keys.stream) tx.xack(stream, this.keys.group, ...ids);
    const results = await tx.exec();
    const failed = results?.find(([error]) => error);
    if (!results || failed) throw failed?.[0] ?? new Error('dead-letter transaction was discarded');
    if (stream !== this.keys.stream) await this.ack(ids, stream);
  }

  /**
   * Trims the stream only below what every consumer group has acknowledged: below the oldest pending entry,
   * or past the last delivered one when nothing is pending. Entries not yet read stay. When the stream is
   * still longer than `cap` (an API down for days), it is cut to `cap` and the number cut is returned as
   * `capped`, for a warning. Returns how many entries went.
   */
  async trimAcknowledged(
    cap: number,
    stream: string = this.keys.stream,
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
    await this.commands.xtrim(this.keys.deadLetter, 'MAXLEN', '~', DEAD_LETTER_CAP);
    return { trimmed, capped };
  }

  async pendingCount(): Promise<number> {
    const summary = (await this.commands.xpending(this.keys.stream, this.keys.group)) as [
      number,
      ...unknown[],
    ];
    return Number(summary[0]);
  }

  /** Closes both connections; called by the ingestion loop once it has stopped. */
  async close(): Promise<void> {
    // Entries not acknowledged here stay pending and are read again by the next API: stored once all the same.
    await this.flushAcks().catch(() => undefined);
    await Promise.all([closeRedis(this.reader), closeRedis(this.commands)]);
  }

  private async read(
    stream: string,
    consumer: string,
    count: number,
    from: string,
    blockMs?: number,
  ): Promise<StreamEntry[]> {
    const args: (string | number)[] = ['GROUP', this.keys.group, consumer, 'COUNT', count];
    if (blockMs !== undefined) args.push('BLOCK', blockMs);
    args.push('STREAMS', stream, from);
    const acks = stream === this.keys.stream ? this.unsentAcks : [];
    if (acks.length === 0) {
      const reply = (await this.reader.callBuffer('XREADGROUP', ...args)) as XReadGroupReply;
      return reply?.[0] ? toEntries(reply[0][1], this.fieldBytes) : [];
    }
    // The held acknowledgements first, then the read, in one write: both answered in order.
    this.unsentAcks = [];
    const results = await this.reader
      .pipeline()
      .xack(stream, this.keys.group, ...acks)
      .callBuffer('XREADGROUP', ...args)
      .exec()
      .catch((error: unknown) => [[error, null]] as [unknown, unknown][]);
    const [ackError] = results?.[0] ?? [new Error('the pipeline was discarded')];
    const [readError, reply] = results?.[1] ?? [ackError ?? new Error('the pipeline was discarded'), null];
    if (ackError) {
      // Still pending: sent again with the next read. What this read returned (if anything) is pending here too,
      // and the caller's failure path reads its own pending entries again.
      this.unsentAcks = acks.concat(this.unsentAcks);
      throw asError(ackError);
    }
    if (readError) throw asError(readError);
    const entries = reply as XReadGroupReply;
    return entries?.[0] ? toEntries(entries[0][1], this.fieldBytes) : [];
  }
}
