import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown, Optional } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { ALERTS_STREAM, type AlertEvent, LEGACY_ALERTS_STREAM } from '@pairwatch/contracts';
import { BackgroundLoop } from '../common/background-loop';
import { PairwatchMetrics } from '../telemetry/pairwatch-metrics';
import { AlertStreamKey, AlertStreamRepository, StreamEntry } from '../redis/alert-stream.repository';
import { readAlertEvent } from './alert-event.reader';
import { AlertsRepository } from './alerts.repository';

export const INGESTION_DEFAULTS = {
  /** Entries read (and rows inserted) at once, at most; a read returns what is there, it never waits to fill. */
  batchSize: 2000,
  /** Inserts running at once while the next batch is read: each on its own connection. */
  writesInFlight: 2,
  blockMs: 1000,
  /** An entry pending this long at another consumer belongs to a dead consumer and is claimed. */
  claimIdleMs: 30_000,
  claimEveryMs: 10_000,
  /** How often the stream is trimmed below what the group has acknowledged. */
  trimEveryMs: 10_000,
  /**
   * How often the stream of the old key names (LEGACY_ALERTS_STREAM) is looked for and drained: at start, then
   * this often while it exists (a worker of the old image may still write there until it is replaced).
   */
  legacyEveryMs: 10_000,
  /** Past this many entries the stream is cut even if unread, with a warning (an API down for days). */
  streamCap: 1_000_000,
  maxBackoffMs: 10_000,
} as const;

/** A batch read from the stream, checked: its unique good events, the entry ids to acknowledge, the rest. */
interface Batch {
  events: AlertEvent[];
  good: string[];
  bad: { entry: StreamEntry; reason: string }[];
}

/**
 * Reads the alerts stream through the consumer group and stores each batch in one statement.
 * Entries are acknowledged only once their rows are committed, so a crash at any point re-delivers
 * them, and the idempotent insert makes the re-delivery harmless.
 */
@Injectable()
export class AlertIngestionService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(AlertIngestionService.name);
  readonly consumer = `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
  private readonly loop = new BackgroundLoop({
    name: 'alert ingestion',
    pass: () => this.step(),
    everyMs: 0,
    backoff: { baseMs: 400, maxMs: INGESTION_DEFAULTS.maxBackoffMs },
    onError: (error, failures, retryInMs) =>
      this.logger.error(
        `alert ingestion failed (attempt ${failures}), retrying in ${retryInMs} ms: ${error.message}`,
      ),
    logger: this.logger,
  });
  private groupReady = false;
  /** This consumer's own pending entries are read (again) before new ones: at start, after a failure or a claim. */
  private ownPending = true;
  private lastClaimAt = 0;
  private lastTrimAt = 0;
  private lastLegacyAt = 0;
  private readonly options = INGESTION_DEFAULTS;
  /** The inserts not finished yet, and the last batch settled; see {@link startWrite}. */
  private readonly writing = new Set<Promise<void>>();
  private settled: Promise<void> = Promise.resolve();
  private failure: Error | undefined;

  constructor(
    private readonly stream: AlertStreamRepository,
    private readonly alerts: AlertsRepository,
    @Optional() private readonly metrics?: PairwatchMetrics,
  ) {}

  onApplicationBootstrap(): void {
    this.loop.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.loop.stop();
    await this.drain().catch((error: unknown) => {
      this.logger.warn(
        `the last alert batches were not all stored before shutdown: ${(error as Error).message}`,
      );
    });
    await this.stream.close();
  }

  /** Handles one batch, start to end; the loop does the same in overlapping steps. Returns how many rows were new. */
  async handle(entries: StreamEntry[], stream: AlertStreamKey = ALERTS_STREAM): Promise<number> {
    const batch = this.prepare(entries);
    const inserted = await this.alerts.insertBatch(batch.events);
    await this.settle(batch, inserted, stream);
    return inserted.size;
  }

  /** Reads and checks a batch's events (no I/O): the unique good events, and the entries to dead-letter. */
  private prepare(entries: StreamEntry[]): Batch {
    const unique = new Map<string, AlertEvent>();
    const good: string[] = [];
    const bad: { entry: StreamEntry; reason: string }[] = [];
    for (const entry of entries) {
      const parsed = readAlertEvent(entry.event);
      if (parsed.ok) {
        good.push(entry.id);
        if (!unique.has(parsed.event.id)) unique.set(parsed.event.id, parsed.event);
      } else {
        bad.push({ entry, reason: parsed.error });
      }
    }
    return { events: [...unique.values()], good, bad };
  }

  /** After the batch's rows are committed: one log line per stored alert, then the acknowledgements. */
  private async settle(
    batch: Batch,
    inserted: Set<string>,
    stream: AlertStreamKey = ALERTS_STREAM,
  ): Promise<void> {
    this.metrics?.alertsStored(batch.events, inserted);
    for (const event of batch.events) {
      if (inserted.has(event.id)) {
        this.logger.log({ msg: 'alert', alert: event });
      } else {
        this.logger.debug({ msg: 'duplicate alert skipped', alertId: event.id });
      }
    }
    await this.stream.ack(batch.good, stream);
    for (const { entry, reason } of batch.bad) {
      this.logger.warn({ msg: 'malformed alert event dead-lettered', entryId: entry.id, reason });
    }
    await this.stream.deadLetter(batch.bad, stream);
  }

  /**
   * Starts writing a batch while the loop reads the next: at most `writesInFlight` inserts at a time (the caller
   * waits for {@link writeSlot} first), and each batch settled (logged, acknowledged) after its own commit and
   * after the batch before it, so acknowledgements follow commits in stream order. None of these promises ever
   * rejects: the first failure is kept in {@link failure} for the loop to act on.
   */
  private startWrite(batch: Batch): void {
    const previous = this.settled;
    const insert = this.alerts.insertBatch(batch.events);
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
   * running at worst stores an alert twice over, which the insert ignores), then the rest is read, and the
   * stream is deleted once empty.
   */
  private async drainLegacyIfDue(): Promise<void> {
    if (Date.now() - this.lastLegacyAt < this.options.legacyEveryMs) return;
    this.lastLegacyAt = Date.now();
    if (!(await this.stream.legacyExists())) return;
    const legacy = LEGACY_ALERTS_STREAM;
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
        msg: 'drained the alert stream of the old key names',
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
    if (trimmed > 0) this.logger.debug(`trimmed ${trimmed} acknowledged alert(s) from the stream`);
    if (capped > 0) {
      this.logger.warn(
        `the alerts stream exceeded ${this.options.streamCap} entries: cut ${capped} unread alert(s); ` +
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
    if (claimed > 0) this.logger.warn(`claimed ${claimed} alert(s) left pending by another consumer`);
    return claimed > 0;
  }
}
