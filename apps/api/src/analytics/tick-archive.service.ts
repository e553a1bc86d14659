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
import { TickArchiveRepository, tickKey } from './tick-archive.repository';

/**
 * The tick archive's reader: the ticks stream through its consumer group into price_ticks (and their candles),
 * with the alert ingestion's machinery (StreamIngestion: batches, acknowledged after commit, dead consumers'
 * entries claimed, idempotent on (monitor, at)). A tick event that breaks its schema (a bad price) is
 * dead-lettered with the reason and never archived. TICK_ARCHIVE=off leaves the stream unread.
 */
@Injectable()
export class TickArchiveService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(TickArchiveService.name);
  private readonly ingestion: StreamIngestion<TickEvent>;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly stream: TickStreamRepository,
    ticks: TickArchiveRepository,
    @Optional() metrics?: PairwatchMetrics,
  ) {
    const sink: IngestionSink<TickEvent> = {
      noun: 'tick',
      read: parseTickEvent,
      key: tickKey,
      store: (events) => ticks.insertBatch(events),
      stored(events, inserted) {
        if (!metrics || inserted.size === 0) return;
        metrics.ticksStored(events.filter((e) => inserted.has(tickKey(e))).map((e) => e.at));
      },
    };
    // One insert at a time: batches of the same minute share their candles' rows, so a second would only wait.
    this.ingestion = new StreamIngestion(stream, sink, this.logger, {
      ...INGESTION_DEFAULTS,
      writesInFlight: 1,
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
