import {
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
  OnApplicationShutdown,
  Optional,
} from '@nestjs/common';
import { parseTickEvent, TickEvent } from '@pairwatch/contracts';
import { APP_CONFIG, AppConfig } from '../config/app.config';
import { PairwatchMetrics } from '../telemetry/pairwatch-metrics';
import type { StreamEntry } from '../redis/event-stream.repository';
import { INGESTION_DEFAULTS, IngestionSink, StreamIngestion } from '../redis/stream-ingestion';
import { TickStreamRepository } from '../redis/tick-stream.repository';
import { TickArchiveRepository } from './tick-archive.repository';

/** The tick archive reads the stream at most this often while ticks keep coming (see StreamIngestion#gatherMs). */
export const ARCHIVE_GATHER_MS = 1500;

/**
 * The tick archive's reader: the ticks stream through its consumer group into price_ticks (and their candles),
 * with the alert ingestion's machinery (StreamIngestion: batches, acknowledged after commit, dead consumers'
 * entries claimed, idempotent on (monitor, at)). A tick event that breaks its schema (a bad price) is
 * dead-lettered with the reason and never archived. TICK_ARCHIVE=off leaves the stream unread.
 */
@Injectable()
export class TickArchiveService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(TickArchiveService.name);
  private readonly ingestion: StreamIngestion<TickEvent, Set<TickEvent>>;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly stream: TickStreamRepository,
    ticks: TickArchiveRepository,
    @Optional() metrics?: PairwatchMetrics,
  ) {
    // No key: the store's statement stores a tick given twice in a batch once, and answers the events that
    // were new themselves: no key text per tick to make or to look up.
    const sink: IngestionSink<TickEvent, Set<TickEvent>> = {
      noun: 'tick',
      read: parseTickEvent,
      store: (events) => ticks.insertBatch(events),
      stored(_events, inserted) {
        if (!metrics || inserted.size === 0) return;
        const ats: string[] = [];
        for (const event of inserted) ats.push(event.at);
        metrics.ticksStored(ats);
      },
    };
    // One insert at a time: batches of the same minute share their candles' rows, so a second would only wait.
    // A read at most every ARCHIVE_GATHER_MS while the flow is steady: 300 monitors ticking every second come in
    // one batch every 1.5 s, not one per worker's write (bench/archive.bench.ts: the API's CPU per batch is
    // mostly its round trips), for at most that much more lag (the goal: p99 ≤ 2 s, with the insert's time).
    this.ingestion = new StreamIngestion(stream, sink, this.logger, {
      ...INGESTION_DEFAULTS,
      writesInFlight: 1,
      gatherMs: ARCHIVE_GATHER_MS,
    });
  }

  /** This replica's consumer name in the group. */
  get consumer(): string {
    return this.ingestion.consumer;
  }

  onApplicationBootstrap(): void {
    if (this.config.archive.enabled) this.ingestion.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.ingestion.stop();
    await this.stream.close();
  }

  /** Handles one batch, start to end. Returns how many rows were new. */
  handle(entries: StreamEntry[]): Promise<number> {
    return this.ingestion.handle(entries);
  }
}
