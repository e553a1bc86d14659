import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { AlertEvent } from '@pairwatch/contracts';
import { AlertStreamRepository, StreamEntry } from '../redis/alert-stream.repository';
import { readAlertEvent } from './alert-event.reader';
import { AlertsRepository } from './alerts.repository';

export const INGESTION_DEFAULTS = {
  batchSize: 500,
  blockMs: 1000,
  /** An entry pending this long at another consumer belongs to a dead consumer and is claimed. */
  claimIdleMs: 30_000,
  claimEveryMs: 10_000,
  /** How often the stream is trimmed below what the group has acknowledged. */
  trimEveryMs: 10_000,
  /** Past this many entries the stream is cut even if unread, with a warning (an API down for days). */
  streamCap: 1_000_000,
  maxBackoffMs: 10_000,
} as const;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Reads the alerts stream through the consumer group and stores each batch in one statement.
 * Entries are acknowledged only once their rows are committed, so a crash at any point re-delivers
 * them, and the idempotent insert makes the re-delivery harmless.
 */
@Injectable()
export class AlertIngestionService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(AlertIngestionService.name);
  readonly consumer = `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
  private running = false;
  private loop: Promise<void> | undefined;
  private lastClaimAt = 0;
  private lastTrimAt = 0;
  private readonly options = INGESTION_DEFAULTS;

  constructor(
    private readonly stream: AlertStreamRepository,
    private readonly alerts: AlertsRepository,
  ) {}

  onApplicationBootstrap(): void {
    this.running = true;
    this.loop = this.run();
  }

  async onApplicationShutdown(): Promise<void> {
    this.running = false;
    await this.loop;
    await this.stream.close();
  }

  /** Handles one batch; exported for tests and the benchmark. Returns how many rows were new. */
  async handle(entries: StreamEntry[]): Promise<number> {
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

    const inserted = await this.alerts.insertBatch([...unique.values()]);
    for (const event of unique.values()) {
      if (inserted.has(event.id)) {
        this.logger.log({ msg: 'alert', alert: event });
      } else {
        this.logger.debug({ msg: 'duplicate alert skipped', alertId: event.id });
      }
    }
    await this.stream.ack(good);

    for (const { entry, reason } of bad) {
      this.logger.warn({ msg: 'malformed alert event dead-lettered', entryId: entry.id, reason });
    }
    await this.stream.deadLetter(bad);
    return inserted.size;
  }

  /**
   * Reads the next batch while the previous one is written: at most one batch is being written, and a batch
   * is acknowledged by its own write once committed, so acknowledgements follow commits in stream order
   * whatever the reader is doing. A read never waits for a batch to fill: XREADGROUP BLOCK answers as soon
   * as one entry is there. After a failure (or a claim), this consumer's own pending entries are handled
   * first, one batch at a time, before new ones are read again.
   */
  private async run(): Promise<void> {
    let failures = 0;
    let groupReady = false;
    let ownPending = true;
    let writing: Promise<unknown> | undefined;
    const finishWrite = async () => {
      const outcome = await writing;
      writing = undefined;
      if (outcome instanceof Error) throw outcome;
    };
    while (this.running) {
      try {
        if (!groupReady) {
          await this.stream.ensureGroup();
          groupReady = true;
        }
        if (await this.claimIfDue()) ownPending = true;
        await this.trimIfDue();
        if (ownPending) {
          // The batch being written is pending too: let it finish so it is not read (and written) again.
          await finishWrite();
          const entries = await this.stream.readOwnPending(this.consumer, this.options.batchSize);
          if (entries.length > 0) await this.handle(entries);
          else ownPending = false;
        } else {
          const entries = await this.stream.readNew(
            this.consumer,
            this.options.batchSize,
            this.options.blockMs,
          );
          await finishWrite();
          if (entries.length > 0) {
            // Settled into a value at once, so a failure is never an unhandled rejection while the next read waits.
            writing = this.handle(entries).then(
              () => undefined,
              (error: unknown) => (error instanceof Error ? error : new Error(String(error))),
            );
          }
        }
        if (failures > 0) this.logger.log(`alert ingestion recovered after ${failures} failed attempt(s)`);
        failures = 0;
      } catch (error) {
        failures += 1;
        // Whatever was read and not written is pending at this consumer: it is read again from there.
        ownPending = true;
        if (String((error as Error).message).includes('NOGROUP')) groupReady = false;
        const delay = Math.min(this.options.maxBackoffMs, 200 * 2 ** Math.min(failures, 10));
        this.logger.error(
          `alert ingestion failed (attempt ${failures}), retrying in ${delay} ms: ${(error as Error).message}`,
        );
        await sleep(delay);
      }
    }
    await finishWrite().catch((error: unknown) => {
      this.logger.warn(`the last alert batch was not stored before shutdown: ${(error as Error).message}`);
    });
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
