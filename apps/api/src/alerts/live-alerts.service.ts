import {
  HttpStatus,
  Inject,
  Injectable,
  Logger,
  OnApplicationShutdown,
  OnModuleDestroy,
  OnModuleInit,
} from '@nestjs/common';
import { APP_CONFIG, AppConfig, StreamSettings } from '../config/app.config';
import { BackgroundLoop } from '../common/background-loop';
import { httpError } from '../common/http-errors';
import type { AlertCursor } from './alert-cursor';
import { AlertNotificationsRepository } from './alert-notifications.repository';
import {
  AlertStreamClient,
  CloseReason,
  StreamFilter,
  StreamSink,
  streamedAlert,
} from './alert-stream-client';
import { AlertsRepository } from './alerts.repository';

export const LIVE_STREAM_DEFAULTS = {
  /** Rows read from the history at once when a stream resumes. */
  replayPageSize: 500,
  /** How late a commit's notification may come after a replay read the row (see StreamClientOptions). */
  lateNotificationMs: 10_000,
} as const;

/**
 * The live alert streams of this API process: every committed alert (from the notifications' door, whichever
 * replica stored it) is made into one SSE frame and offered to each open stream; a heartbeat comment keeps
 * them open; their number is capped. A stream that resumes replays the history from its cursor first.
 */
@Injectable()
export class LiveAlertsService implements OnModuleInit, OnModuleDestroy, OnApplicationShutdown {
  private readonly logger = new Logger(LiveAlertsService.name);
  private readonly clients = new Set<AlertStreamClient>();
  private readonly settings: StreamSettings;
  private unsubscribe: (() => void) | undefined;
  private readonly heartbeat: BackgroundLoop;

  constructor(
    private readonly notifications: AlertNotificationsRepository,
    private readonly alerts: AlertsRepository,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    this.settings = config.stream;
    this.heartbeat = new BackgroundLoop({
      name: 'SSE heartbeat',
      pass: () => {
        for (const client of this.clients) client.heartbeat();
      },
      everyMs: this.settings.heartbeatMs,
      firstAfterMs: this.settings.heartbeatMs,
      logger: this.logger,
    });
  }

  /** Streams open now. */
  get size(): number {
    return this.clients.size;
  }

  onModuleInit(): void {
    this.unsubscribe = this.notifications.subscribe({
      wanted: () => this.clients.size > 0,
      alert: (alert) => {
        const streamed = streamedAlert(alert);
        for (const client of this.clients) client.offer(streamed);
      },
      // What was committed meanwhile reached no one: every stream ends, and its client resumes from its last id.
      lost: () => this.closeAll('feed-lost'),
    });
    this.heartbeat.start();
  }

  /** Before the HTTP server stops: an open stream would hold it open. */
  onModuleDestroy(): void {
    this.closeAll('shutdown');
  }

  async onApplicationShutdown(): Promise<void> {
    const stopping = this.heartbeat.stop();
    this.unsubscribe?.();
    this.closeAll('shutdown');
    await stopping;
  }

  /**
   * Opens a stream (503 past the limit, or while notifications cannot be received), live from now on; with
   * `after`, the history after it is sent first. `open` is called before anything is written to the sink, so
   * a refusal is still an HTTP error; `start` then sends the replay.
   */
  open(filter: StreamFilter, sink: StreamSink): AlertStreamClient {
    if (this.clients.size >= this.settings.maxClients) {
      throw httpError(
        HttpStatus.SERVICE_UNAVAILABLE,
        `too many open streams (SSE_MAX_CLIENTS=${this.settings.maxClients}); try again later`,
      );
    }
    if (!this.notifications.ready) {
      throw httpError(HttpStatus.SERVICE_UNAVAILABLE, 'the live alert feed is not available right now');
    }
    const client: AlertStreamClient = new AlertStreamClient(filter, sink, {
      bufferBytes: this.settings.clientBufferBytes,
      replayPageSize: LIVE_STREAM_DEFAULTS.replayPageSize,
      lateNotificationMs: LIVE_STREAM_DEFAULTS.lateNotificationMs,
      now: () => Date.now(),
      onClose: (reason) => this.closed(client, reason),
    });
    this.clients.add(client);
    return client;
  }

  /** Replays what the client missed after `after` (from the history, same filter), then it is live. */
  async resume(client: AlertStreamClient, filter: StreamFilter, after: AlertCursor): Promise<void> {
    try {
      await client.replay(after, (newerThan, limit) => this.alerts.history({ ...filter, newerThan, limit }));
    } catch (error) {
      this.logger.warn(`a stream's replay failed: ${(error as Error).message}`);
      client.close('error');
    }
  }

  private closed(client: AlertStreamClient, reason: CloseReason): void {
    this.clients.delete(client);
    if (reason === 'slow') {
      this.logger.warn(
        `dropped a stream whose client fell ${this.settings.clientBufferBytes} bytes behind (SSE_CLIENT_BUFFER_BYTES); it can resume from its last id`,
      );
    }
  }

  private closeAll(reason: CloseReason): void {
    for (const client of [...this.clients]) client.close(reason);
  }
}
