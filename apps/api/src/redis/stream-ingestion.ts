import { Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { BackgroundLoop } from '../common/background-loop';
import type { EventStreamRepository, StreamEntry } from './event-stream.repository';

export interface StreamIngestionOptions {
  /** Entries read (and rows inserted) at once, at most; a read returns what is there, it never waits to fill. */
  batchSize: number;
  /** Inserts running at once while the next batch is read: each on its own connection. */
  writesInFlight: number;
  blockMs: number;
  /**
   * After a read that was not full, the next one starts this long after it began (0: at once). The entries
   * published meanwhile then come in one read, one insert and one acknowledgement instead of one each per
   * producer's write: a steady flow costs per batch, not per event, at the price of up to this much latency.
   * A full read (a backlog) is followed by the next at once whatever this is.
   */
  gatherMs: number;
  /** An entry pending this long at another consumer belongs to a dead consumer and is claimed. */
  claimIdleMs: number;
  claimEveryMs: number;
  /** How often the stream is trimmed below what the group has acknowledged. */
  trimEveryMs: number;
  /**
   * How often the stream of the old key names (a legacy name) is looked for and drained: at start, then this
   * often while it exists (a worker of the old image may still write there until it is replaced).
   */
  legacyEveryMs: number;
  /** Past this many entries the stream is cut even if unread, with a warning (an API down for days). */
  streamCap: number;
  maxBackoffMs: number;
}

export const INGESTION_DEFAULTS: StreamIngestionOptions = {
  batchSize: 2000,
  writesInFlight: 2,
  blockMs: 1000,
  gatherMs: 0,
  claimIdleMs: 30_000,
  claimEveryMs: 10_000,
  trimEveryMs: 10_000,
  legacyEveryMs: 10_000,
  streamCap: 1_000_000,
  maxBackoffMs: 10_000,
};

/**
 * What a stream carries and where it goes: the part of an ingestion that differs between streams. `R` is what
 * a store answers about the rows that were new: their keys by default, or anything that counts them.
 */
export interface IngestionSink<E, R extends { readonly size: number } = Set<string>> {
  /** What the events are, in log lines ("alert", "tick"). */
  readonly noun: string;
  /** Reads an entry's event text; never throws. A refusal is dead-lettered with its reason. */
  read(text: string | undefined): { ok: true; event: E } | { ok: false; error: string };
  /**
   * The event's idempotency key: events of one batch with the same key are passed to {@link store} once. None:
   * the store itself stores each key once, events of the same key within its batch included (the tick archive's
   * statement does, so no key text is made and looked up per tick).
   */
  key?(event: E): string;
  /** Stores a batch (idempotently: a key already stored is skipped); resolves with the rows that were new. */
  store(events: E[]): Promise<R>;
  /** After the batch's rows are committed, before its entries are acknowledged (metrics, log lines). */
  stored?(events: E[], inserted: R): void;
}

/** A batch read from the stream, checked: its good events (once per key), the entry ids to acknowledge, the rest. */
interface Batch<E> {
  events: E[];
  good: string[];
  bad: { entry: StreamEntry; reason: string }[];
}

export type EventStreamPort = Pick<
  EventStreamRepository,
  | 'keys'
  | 'legacyStream'
  | 'ensureGroup'
  | 'legacyExists'
  | 'deleteLegacyIfEmpty'
  | 'readOwnPending'
  | 'readNew'
  | 'claimAbandoned'
  | 'ack'
  | 'deadLetter'
  | 'trimAcknowledged'
>;

/**
 * Reads an event stream through its consumer group and stores each batch in one statement: the machinery the
 * alert ingestion and the tick archive share. Entries are acknowledged only once their rows are committed, so
 * a crash at any point re-delivers them, and the sink's idempotent insert makes the re-delivery harmless;
 * entries left pending by a dead consumer are claimed; malformed ones are dead-lettered with their reason.
 */
export class StreamIngestion<E, R extends { readonly size: number } = Set<string>> {
  readonly consumer = `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
  private readonly loop: BackgroundLoop;
  private groupReady = false;
  /** This consumer's own pending entries are read (again) before new ones: at start, after a failure or a claim. */
  private ownPending = true;
  private lastClaimAt = 0;
  private lastTrimAt = 0;
  private lastLegacyAt = 0;
  /** The inserts not finished yet, and the last batch settled; see {@link startWrite}. */
  private readonly writing = new Set<Promise<void>>();
  private settled: Promise<void> = Promise.resolve();
  private failure: Error | undefined;

  constructor(
    private readonly stream: EventStreamPort,
    private readonly sink: IngestionSink<E, R>,
    private readonly logger: Logger,
    private readonly options: StreamIngestionOptions = INGESTION_DEFAULTS,
  ) {
    const noun = sink.noun;
    this.loop = new BackgroundLoop({
      name: `${noun} ingestion`,
      pass: () => this.step(),
      everyMs: 0,
      backoff: { baseMs: 400, maxMs: options.maxBackoffMs },
      onError: (error, failures, retryInMs) =>
        logger.error(
          `${noun} ingestion failed (attempt ${failures}), retrying in ${retryInMs} ms: ${error.message}`,
        ),
      logger,
    });
  }

  start(): void {
    this.loop.start();
  }

  /** Stops reading and waits for the batches under way to be stored and acknowledged. */
  async stop(): Promise<void> {
    await this.loop.stop();
    await this.drain().catch((error: unknown) => {
      this.logger.warn(
        `the last ${this.sink.noun} batches were not all stored before shutdown: ${(error as Error).message}`,
      );
    });
  }

  /** Handles one batch, start to end; the loop does the same in overlapping steps. Returns how many rows were new. */
  async handle(entries: StreamEntry[], stream: string = this.stream.keys.stream): Promise<number> {
    const batch = this.prepare(entries);
    const inserted = await this.sink.store(batch.events);
    await this.settle(batch, inserted, stream);
    return inserted.size;
  }

  /**
   * Reads and checks a batch's events (no I/O): the good events (once per key, when the sink has keys), and the
   * entries to dead-letter.
   */
  private prepare(entries: StreamEntry[]): Batch<E> {
    const seen = new Set<string>();
    const events: E[] = [];
    const good: string[] = [];
    const bad: { entry: StreamEntry; reason: string }[] = [];
    for (const entry of entries) {
      const parsed = this.sink.read(entry.event);
      if (!parsed.ok) {
        bad.push({ entry, reason: parsed.error });
        continue;
      }
      good.push(entry.id);
      const key = this.sink.key?.(parsed.event);
      if (key !== undefined) {
        if (seen.has(key)) continue;
        seen.add(key);
      }
      events.push(parsed.event);
    }
    return { events, good, bad };
  }

  /** After the batch's rows are committed: the sink's hook, then the acknowledgements and dead letters. */
  private async settle(
    batch: Batch<E>,
    inserted: R,
    stream: string = this.stream.keys.stream,
  ): Promise<void> {
    this.sink.stored?.(batch.events, inserted);
    await this.stream.ack(batch.good, stream);
    for (const { entry, reason } of batch.bad) {
      this.logger.warn({ msg: `malformed ${this.sink.noun} event dead-lettered`, entryId: entry.id, reason });
    }
    await this.stream.deadLetter(batch.bad, stream);
  }

  /**
   * Starts writing a batch while the loop reads the next: at most `writesInFlight` inserts at a time (the caller
   * waits for {@link writeSlot} first), and each batch settled (acknowledged) after its own commit and after the
   * batch before it, so acknowledgements follow commits in stream order. None of these promises ever rejects:
   * the first failure is kept in {@link failure} for the loop to act on.
   */
  private startWrite(batch: Batch<E>): void {
    const previous = this.settled;
    const insert = this.sink.store(batch.events);
    const written: Promise<void> = insert.then(
      () => undefined,
      (error: unknown) => this.fail(error),
    );
    this.writing.add(written);
    void written.then(() => this.writing.delete(written));
    this.settled = insert.then(
      async (inserted) => {
        await previous;
        await this.settle(batch, inserted).catch((error: unknown) => this.fail(error));
      },
      () => undefined,
    );
  }

  /** Waits until another insert may start. */
  private async writeSlot(): Promise<void> {
    while (this.writing.size >= this.options.writesInFlight) await Promise.race(this.writing);
  }

  private fail(error: unknown): void {
    this.failure ??= error instanceof Error ? error : new Error(String(error));
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure;
  }

  /** Waits for every batch started to be settled; throws the first failure among them. */
  private async drain(): Promise<void> {
    await Promise.all(this.writing);
    await this.settled;
    const failure = this.failure;
    this.failure = undefined;
    if (failure) throw failure;
  }

  /**
   * One step of the loop: reads the next batch while the previous one is written, and never waits for a batch
   * to fill: XREADGROUP BLOCK answers as soon as one entry is there. After a failure (or a claim), this
   * consumer's own pending entries are handled first, one whole batch at a time, before new ones are read again.
   */
  private async step(): Promise<number> {
    try {
      if (!this.groupReady) {
        await this.stream.ensureGroup();
        this.groupReady = true;
      }
      await this.drainLegacyIfDue();
      if (await this.claimIfDue()) this.ownPending = true;
      await this.trimIfDue();
      if (this.ownPending) {
        // The batches being written are pending too: let them settle so they are not read (and written) again.
        await this.drain();
        const entries = await this.stream.readOwnPending(this.consumer, this.options.batchSize);
        if (entries.length > 0) await this.handle(entries);
        else this.ownPending = false;
      } else {
        const readAt = Date.now();
        const entries = await this.stream.readNew(
          this.consumer,
          this.options.batchSize,
          this.options.blockMs,
        );
        // A write that failed left its entries (and these) pending here: the catch below reads them again.
        this.throwIfFailed();
        if (entries.length > 0) {
          const batch = this.prepare(entries);
          await this.writeSlot();
          this.throwIfFailed();
          this.startWrite(batch);
          // Not full: let the next batch gather (the loop's pause; stop() cuts it short).
          if (entries.length < this.options.batchSize)
            return Math.max(0, this.options.gatherMs - (Date.now() - readAt));
        }
      }
      return 0;
    } catch (error) {
      // Whatever was read and not written (or not acknowledged) is pending at this consumer: read it from there.
      this.ownPending = true;
      await this.drain().catch(() => undefined);
      if (String((error as Error).message).includes('NOGROUP')) this.groupReady = false;
      throw error;
    }
  }

  /**
   * An installation upgraded from the key names before the hash tags: what is left in the old stream is stored
   * first, through the same consumer group and the same idempotent insert. Every entry still pending there is
   * taken over whatever its idle time (the consumers that read it were APIs of the old version; one still
   * running at worst stores an event twice over, which the insert ignores), then the rest is read, and the
   * stream is deleted once empty.
   */
  private async drainLegacyIfDue(): Promise<void> {
    const legacy = this.stream.legacyStream;
    if (legacy === undefined || Date.now() - this.lastLegacyAt < this.options.legacyEveryMs) return;
    this.lastLegacyAt = Date.now();
    if (!(await this.stream.legacyExists())) return;
    // Nothing of the current stream in flight while this one is written: one batch at a time.
    await this.drain();
    await this.stream.ensureGroup(legacy);
    const claimed = await this.stream.claimAbandoned(this.consumer, 0, this.options.batchSize, legacy);
    let read = 0;
    let stored = 0;
    for (;;) {
      let entries = await this.stream.readOwnPending(this.consumer, this.options.batchSize, legacy);
      if (entries.length === 0)
        entries = await this.stream.readNew(this.consumer, this.options.batchSize, 1, legacy);
      if (entries.length === 0) break;
      read += entries.length;
      stored += await this.handle(entries, legacy);
    }
    await this.stream.trimAcknowledged(this.options.streamCap, legacy);
    const deleted = await this.stream.deleteLegacyIfEmpty();
    if (read > 0 || deleted) {
      this.logger.log({
        msg: `drained the ${this.sink.noun} stream of the old key names`,
        stream: legacy,
        claimed,
        read,
        stored,
        deleted,
      });
    }
  }

  private async trimIfDue(): Promise<void> {
    if (Date.now() - this.lastTrimAt < this.options.trimEveryMs) return;
    this.lastTrimAt = Date.now();
    const { trimmed, capped } = await this.stream.trimAcknowledged(this.options.streamCap);
    const noun = this.sink.noun;
    if (trimmed > 0) this.logger.debug(`trimmed ${trimmed} acknowledged ${noun}(s) from the stream`);
    if (capped > 0) {
      this.logger.warn(
        `the ${noun}s stream exceeded ${this.options.streamCap} entries: cut ${capped} unread ${noun}(s); ` +
          'an API must run to keep the record complete',
      );
    }
  }

  /** Returns whether entries were claimed (they are then this consumer's own pending entries). */
  private async claimIfDue(): Promise<boolean> {
    if (Date.now() - this.lastClaimAt < this.options.claimEveryMs) return false;
    this.lastClaimAt = Date.now();
    const claimed = await this.stream.claimAbandoned(
      this.consumer,
      this.options.claimIdleMs,
      this.options.batchSize,
    );
    if (claimed > 0)
      this.logger.warn(`claimed ${claimed} ${this.sink.noun}(s) left pending by another consumer`);
    return claimed > 0;
  }
}
