import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { Client, Notification } from 'pg';
import { APP_CONFIG, AppConfig } from '../config/app.config';
import { ALERTS_CHANNEL, AlertsRepository, parseNotifiedIds } from './alerts.repository';
import type { AlertDto } from './dto/alert.dto';

/** What a subscriber of the committed alerts is told. */
export interface AlertNotificationHandlers {
  /** An alert whose row was just committed, as `GET /alerts` serves it; in commit order. */
  alert(alert: AlertDto): void;
  /** The listening connection was lost (or a notified row could not be read): alerts may have been missed. */
  lost(): void;
  /** Whether alerts are wanted now (no open stream: the notified rows are not even read). */
  wanted(): boolean;
}

const RETRY_MIN_MS = 200;
const RETRY_MAX_MS = 10_000;
/** Notified rows read from the history in one query, at most. */
const READ_IDS_AT_ONCE = 2000;

/**
 * The door to the alerts' commit notifications: one dedicated Postgres connection per API process that
 * LISTENs on {@link ALERTS_CHANNEL} (the ingestion statement notifies every stored row, so every replica hears
 * every alert, whichever replica stored it). A notification names its rows by id; while a subscriber wants
 * alerts, they are read from the history and reach subscribers in the order notified (commit order). It reconnects by itself; while it is away `ready` is false and subscribers have been told `lost()`.
 */
@Injectable()
export class AlertNotificationsRepository implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(AlertNotificationsRepository.name);
  private readonly subscribers = new Set<AlertNotificationHandlers>();
  private readonly commitListeners = new Set<() => void>();
  private client: Client | undefined;
  private listening = false;
  private stopped = false;
  private failures = 0;
  private retry: NodeJS.Timeout | undefined;
  /** Ids notified and not yet read, in the order notified; {@link readQueued} works through them. */
  private readonly queued: string[] = [];
  private reading = false;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly alerts: AlertsRepository,
  ) {}

  /** Whether notifications are being received now. */
  get ready(): boolean {
    return this.listening;
  }

  /** Starts receiving; returns the unsubscribe function. */
  subscribe(handlers: AlertNotificationHandlers): () => void {
    this.subscribers.add(handlers);
    return () => this.subscribers.delete(handlers);
  }

  /**
   * `listener` is called at every commit notification, as it arrives, whether or not anyone wants the rows
   * (none is read for it): "alerts were just stored", e.g. the dispatcher's cue to look for their deliveries
   * now rather than at its next poll. Returns the function that removes it.
   */
  onCommit(listener: () => void): () => void {
    this.commitListeners.add(listener);
    return () => this.commitListeners.delete(listener);
  }

  /** The first connection is waited for, so a stream opened right after start-up is live at once. */
  async onApplicationBootstrap(): Promise<void> {
    await this.connect();
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retry);
    const client = this.client;
    this.client = undefined;
    this.listening = false;
    await client?.end().catch(() => undefined);
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    const client = new Client({ connectionString: this.config.databaseUrl, connectionTimeoutMillis: 5000 });
    this.client = client;
    client.on('notification', (message) => this.deliver(message));
    client.on('error', (error) => this.lose(client, error));
    client.on('end', () => this.lose(client, new Error('connection ended')));
    try {
      await client.connect();
      await client.query(`LISTEN ${ALERTS_CHANNEL}`);
      if (this.client !== client) return;
      this.listening = true;
      if (this.failures > 0) this.logger.log(`listening for alerts again after ${this.failures} attempt(s)`);
      this.failures = 0;
    } catch (error) {
      this.lose(client, error as Error);
    }
  }

  /** Once per connection: tells the subscribers, and tries again later. */
  private lose(client: Client, error: Error): void {
    if (this.client !== client || this.stopped) return;
    this.client = undefined;
    const wasListening = this.listening;
    this.listening = false;
    client.removeAllListeners('notification');
    client.on('error', () => undefined);
    void client.end().catch(() => undefined);
    this.failures += 1;
    const delay = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** Math.min(this.failures - 1, 10));
    this.logger.warn(`alert notifications unavailable (${error.message}); retrying in ${delay} ms`);
    if (wasListening) for (const subscriber of this.subscribers) subscriber.lost();
    this.retry = setTimeout(() => void this.connect(), delay);
    this.retry.unref();
  }

  private deliver(message: Notification): void {
    if (message.channel !== ALERTS_CHANNEL) return;
    for (const listener of this.commitListeners) listener();
    if (![...this.subscribers].some((subscriber) => subscriber.wanted())) return;
    const ids = parseNotifiedIds(message.payload);
    if (ids.length === 0) {
      this.logger.warn({ msg: 'unreadable alert notification', payload: message.payload?.slice(0, 200) });
      return;
    }
    this.queued.push(...ids);
    if (!this.reading) void this.readQueued();
  }

  /**
   * Reads the notified rows and hands them on in the order notified (commit order; cursor order within a
   * commit): whatever was notified while a read was out goes in the next one, so under a steady flow the reads
   * are few and never pile up. A failed read loses its alerts, and subscribers are told so.
   */
  private async readQueued(): Promise<void> {
    this.reading = true;
    try {
      while (this.queued.length > 0) {
        const ids = this.queued.splice(0, READ_IDS_AT_ONCE);
        let rows: AlertDto[];
        try {
          rows = await this.alerts.byIds(ids);
        } catch (error) {
          this.logger.warn(`could not read ${ids.length} notified alert(s): ${(error as Error).message}`);
          for (const subscriber of this.subscribers) subscriber.lost();
          continue;
        }
        const byId = new Map(rows.map((row) => [row.id, row]));
        const wanting = [...this.subscribers].filter((subscriber) => subscriber.wanted());
        for (const id of ids) {
          const alert = byId.get(id);
          if (alert) for (const subscriber of wanting) subscriber.alert(alert);
        }
      }
    } catch (error) {
      this.logger.error(`an alert subscriber failed: ${(error as Error).message}`);
    } finally {
      this.reading = false;
    }
    if (this.queued.length > 0) void this.readQueued();
  }
}
