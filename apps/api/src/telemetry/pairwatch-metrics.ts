import { Injectable } from '@nestjs/common';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { type AlertEvent, isValidPair } from '@pairwatch/contracts';

/** Distinct `pair` label values at most; alerts of further pairs count under `other`. */
export const MAX_PAIR_LABELS = 1000;
export const OTHER_PAIR = 'other';

/** What a webhook attempt came to: delivered (2xx), retrying (scheduled again), failed (no attempt left, or 410). */
export type WebhookAttemptOutcome = 'delivered' | 'retrying' | 'failed';

/** What became of a channel's delivery: an attempt's outcome, or held, or suppressed. */
export type ChannelDeliveryOutcome = WebhookAttemptOutcome | 'held' | 'suppressed';

/** The channel types (DESIGN.md "Channels"), as the metric labels them. */
export type ChannelType = 'webhook' | 'slack' | 'discord' | 'email' | 'telegram' | 'ntfy' | 'alertmanager';

/**
 * The API's Prometheus registry and the instruments its parts move (prom-client). The counters are moved
 * where things happen — once per batch, never per alert — and the gauges that need a query are read at
 * scrape time by MetricsCollector. Nothing here does I/O.
 */
@Injectable()
export class PairwatchMetrics {
  readonly registry = new Registry();
  private readonly pairs = new Set<string>();

  readonly httpDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP requests answered by the API, by method, route template (not the raw URL) and status code',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  readonly alertsIngested = new Counter({
    name: 'pairwatch_alerts_ingested_total',
    help: 'Alerts stored in Postgres by this API (duplicates not counted), by pair',
    labelNames: ['pair'] as const,
    registers: [this.registry],
  });

  readonly ingestLag = new Histogram({
    name: 'pairwatch_ingest_lag_seconds',
    help: "Time from an alert's observedAt (the worker's tick) to its row being committed by this API",
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    registers: [this.registry],
  });

  readonly ticksArchived = new Counter({
    name: 'pairwatch_ticks_archived_total',
    help: 'Ticks stored in price_ticks by this API (re-deliveries not counted)',
    registers: [this.registry],
  });

  readonly archiveLag = new Histogram({
    name: 'pairwatch_archive_lag_seconds',
    help: "Time from a tick's instant (the worker's quote) to its row being committed in price_ticks by this API",
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300],
    registers: [this.registry],
  });

  readonly replicaLag = new Gauge({
    name: 'pairwatch_replica_lag_seconds',
    help: 'Replay lag of the read replica (DATABASE_READ_URL) at its last check; NaN while it cannot be reached',
    registers: [this.registry],
  });

  readonly replicaServing = new Gauge({
    name: 'pairwatch_replica_serving',
    help: '1 while the reads that may lag go to the read replica, 0 while they go to the primary (no replica, down, or past READ_MAX_LAG_MS)',
    registers: [this.registry],
  });

  readonly databaseReads = new Counter({
    name: 'pairwatch_database_reads_total',
    help: 'Reads that may lag (history pages, candles, statistics, backtests), by the server that answered: replica or primary',
    labelNames: ['server'] as const,
    registers: [this.registry],
  });

  readonly workerRestarts = new Counter({
    name: 'pairwatch_worker_restarts_total',
    help: 'Worker deaths (a non-zero exit; the runtime restarts the worker) recorded by this API; each death is recorded by one replica',
    registers: [this.registry],
  });

  readonly webhookDeliveries = new Counter({
    name: 'pairwatch_webhook_deliveries_total',
    help: 'Webhook delivery attempts made by this API, by outcome: delivered, retrying (scheduled again), failed (given up or 410 Gone)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  readonly channelDeliveries = new Counter({
    name: 'pairwatch_channel_deliveries_total',
    help: 'Channel deliveries by type and outcome: delivered, retrying, failed (attempts); held (by quiet hours, a digest window or the hourly limit); suppressed (a snoozed channel, a muted monitor)',
    labelNames: ['type', 'outcome'] as const,
    registers: [this.registry],
  });

  /** Upstream requests the API made itself (UPHOLD_RELAY=off: its pair checks), by `endpoint:status`. */
  private readonly apiUpstream = new Map<string, number>();

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  apiUpstreamRequest(endpoint: 'pair' | 'list', status: string): void {
    const key = `${endpoint}:${status}`;
    this.apiUpstream.set(key, (this.apiUpstream.get(key) ?? 0) + 1);
  }

  /** What {@link apiUpstreamRequest} counted, by `endpoint:status`. */
  get apiUpstreamRequests(): ReadonlyMap<string, number> {
    return this.apiUpstream;
  }

  /**
   * After a batch's rows are committed: the new alerts by pair (one increment per pair of the batch) and each
   * one's lag. `inserted` holds the ids that were new.
   */
  alertsStored(events: readonly AlertEvent[], inserted: ReadonlySet<string>, committedAt = Date.now()): void {
    if (inserted.size === 0) return;
    const byPair = new Map<string, number>();
    for (const event of events) {
      if (!inserted.has(event.id)) continue;
      const pair = this.pairLabel(event.pair);
      byPair.set(pair, (byPair.get(pair) ?? 0) + 1);
      this.ingestLag.observe(Math.max(0, committedAt - Date.parse(event.observedAt)) / 1000);
    }
    for (const [pair, count] of byPair) this.alertsIngested.inc({ pair }, count);
  }

  /** After a tick batch is committed: how many rows were new, and the lag of each of them. */
  ticksStored(ats: readonly string[], committedAt = Date.now()): void {
    if (ats.length === 0) return;
    this.ticksArchived.inc(ats.length);
    for (const at of ats) this.archiveLag.observe(Math.max(0, committedAt - Date.parse(at)) / 1000);
  }

  workerDied(): void {
    this.workerRestarts.inc();
  }

  webhookAttempt(outcome: WebhookAttemptOutcome): void {
    this.webhookDeliveries.inc({ outcome });
  }

  /** `type`: one of the channel types (a validated value: the labels stay bounded). */
  channelDelivery(type: ChannelType, outcome: ChannelDeliveryOutcome, count = 1): void {
    if (count > 0) this.channelDeliveries.inc({ type, outcome }, count);
  }

  /** A validated pair, and only the first MAX_PAIR_LABELS of them: the label's values stay bounded. */
  private pairLabel(pair: string): string {
    if (!isValidPair(pair)) return OTHER_PAIR;
    if (this.pairs.has(pair)) return pair;
    if (this.pairs.size >= MAX_PAIR_LABELS) return OTHER_PAIR;
    this.pairs.add(pair);
    return pair;
  }
}
