import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown, Optional } from '@nestjs/common';
import type { AlertEvent } from '@pairwatch/contracts';
import { PairwatchMetrics } from '../telemetry/pairwatch-metrics';
import { AlertStreamRepository, StreamEntry } from '../redis/alert-stream.repository';
import { IngestionSink, StreamIngestion } from '../redis/stream-ingestion';
import { readAlertEvent } from './alert-event.reader';
import { AlertsRepository } from './alerts.repository';

/**
 * Reads the alerts stream through the consumer group and stores each batch in one statement (StreamIngestion:
 * acknowledged after commit, idempotent on the alert's id), one log line per stored alert.
 */
@Injectable()
export class AlertIngestionService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(AlertIngestionService.name);
  private readonly ingestion: StreamIngestion<AlertEvent>;

  constructor(
    private readonly stream: AlertStreamRepository,
    alerts: AlertsRepository,
    @Optional() metrics?: PairwatchMetrics,
  ) {
    const logger = this.logger;
    const sink: IngestionSink<AlertEvent> = {
      noun: 'alert',
      read: readAlertEvent,
      key: (event) => event.id,
      store: (events) => alerts.insertBatch(events),
      stored(events, inserted) {
        metrics?.alertsStored(events, inserted);
        for (const event of events) {
          if (inserted.has(event.id)) {
            logger.log({ msg: 'alert', alert: event });
          } else {
            logger.debug({ msg: 'duplicate alert skipped', alertId: event.id });
          }
        }
      },
    };
    this.ingestion = new StreamIngestion(stream, sink, logger);
  }

  /** This replica's consumer name in the group. */
  get consumer(): string {
    return this.ingestion.consumer;
  }

  onApplicationBootstrap(): void {
    this.ingestion.start();
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
