import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { Counter, Gauge } from 'prom-client';
import { MONITOR_STATUSES } from '../monitors/monitor.entity';
import { MonitorsRepository } from '../monitors/monitors.repository';
import { MonitorsService } from '../monitors/monitors.service';
import { AlertStreamRepository } from '../redis/alert-stream.repository';
import { WorkerStateReader } from '../redis/worker-state.reader';
import { UpholdClient } from '../uphold/uphold.client';
import { WebhooksRepository } from '../channels/webhooks.repository';
import { PairwatchMetrics } from '../telemetry/pairwatch-metrics';

/** How long one scrape-time query may take; past it the metric keeps its last value and its collector shows 0. */
export const COLLECT_TIMEOUT_MS = 1000;

const UPSTREAM_ENDPOINTS = new Set(['list', 'pair']);
/** A relay status label: an HTTP status or a failure kind (network-error, rate-limited…). */
const UPSTREAM_STATUS = /^[a-z0-9-]{1,32}$/;

async function within<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      work,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The metrics read at scrape time (prom-client `collect()`), each through the door class that owns the data,
 * each within {@link COLLECT_TIMEOUT_MS}: monitors by status, the alerts stream's pending entries, the webhook
 * queue, the upstream budget and the upstream requests (the relay's /stats, plus the API's own with the relay
 * off). `pairwatch_collector_up{collector}` says whether each read worked this scrape.
 */
@Injectable()
export class MetricsCollector implements OnModuleInit {
  private readonly logger = new Logger(MetricsCollector.name);
  private collectorUp!: Gauge<'collector'>;
  /** The relay's counts as last read, kept when it does not answer (it restarts its counts when it restarts). */
  private relayCounts: Record<string, number> = {};
  /** The scrape-time reads under way. */
  private readonly reads = new Set<Promise<void>>();

  constructor(
    private readonly metrics: PairwatchMetrics,
    private readonly stream: AlertStreamRepository,
    private readonly monitorsRepository: MonitorsRepository,
    private readonly monitors: MonitorsService,
    private readonly webhooks: WebhooksRepository,
    private readonly uphold: UpholdClient,
    private readonly workerStates: WorkerStateReader,
  ) {}

  onModuleInit(): void {
    const registers = [this.metrics.registry];
    // prom-client calls collect() with the metric as `this`; the collector is reached through this name.
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const collector = this;
    const read = <T>(name: string, work: () => Promise<T>, use: (value: T) => void) =>
      collector.read(name, work, use);

    new Gauge({
      name: 'pairwatch_monitors',
      help: 'Monitors by status (starting, running, stopped, failed), from Postgres',
      labelNames: ['status'] as const,
      registers,
      collect: async function (this: Gauge<'status'>) {
        await read(
          'monitors',
          () => collector.monitorsRepository.countByStatus(),
          (counts) => {
            for (const status of MONITOR_STATUSES) this.set({ status }, counts[status]);
          },
        );
      },
    });
    new Gauge({
      name: 'pairwatch_stream_pending',
      help: "Alerts read from the stream pairwatch:{alerts} by the consumer group and not acknowledged yet (every replica's)",
      registers,
      collect: async function (this: Gauge) {
        await read(
          'stream_pending',
          () => collector.stream.pendingCount(),
          (n) => this.set(n),
        );
      },
    });

    new Gauge({
      name: 'pairwatch_redis_mode',
      help: 'REDIS_MODE of this API (1 for the mode in use): standalone, sentinel or cluster',
      labelNames: ['mode'] as const,
      registers,
      collect: function (this: Gauge<'mode'>) {
        this.set({ mode: collector.workerStates.mode }, 1);
      },
    });
    new Gauge({
      name: 'pairwatch_workers_replication_short',
      help: 'Workers whose last alert went to a Redis master with fewer replicas than REDIS_WAIT_REPLICAS (sent unreplicated), from their state hashes',
      registers,
      collect: function (this: Gauge) {
        this.set(collector.workerStates.replication().workersShort);
      },
    });
    new Gauge({
      name: 'pairwatch_worker_unreplicated_alerts',
      help: 'Alerts the running workers sent while the Redis master lacked the replicas REDIS_WAIT_REPLICAS asks for, in all, from their state hashes',
      registers,
      collect: function (this: Gauge) {
        this.set(collector.workerStates.replication().unreplicatedAlerts);
      },
    });

    new Gauge({
      name: 'pairwatch_webhook_queue_depth',
      help: 'Webhook deliveries pending (due now or waiting for a retry), from Postgres',
      registers,
      collect: async function (this: Gauge) {
        await read(
          'webhook_queue',
          () => collector.webhooks.countPending(),
          (n) => this.set(n),
        );
      },
    });

    new Gauge({
      name: 'pairwatch_upstream_budget_ratio',
      help: "The upstream plan's requests per minute for the active monitors over UPHOLD_RATE_LIMIT_PER_MIN (admission refuses past 1)",
      registers,
      collect: async function (this: Gauge) {
        await read(
          'budget',
          () => collector.monitors.overview(),
          ({ plan, limitPerMin }) => this.set(plan.requestsPerMin / limitPerMin),
        );
      },
    });

    new Counter({
      name: 'pairwatch_upstream_requests_total',
      help: "Requests sent to Uphold, by endpoint (list: a currency's list, pair: one pair) and status (HTTP status or failure kind): the relay's own count (its /stats) with UPHOLD_RELAY=on, the API's pair checks with it off",
      labelNames: ['endpoint', 'status'] as const,
      registers,
      collect: async function (this: Counter<'endpoint' | 'status'>) {
        await read(
          'upstream',
          () => collector.uphold.relayUpstreamRequests(),
          (relay) => {
            if (relay) collector.relayCounts = relay;
          },
        );
        this.reset();
        const counts = new Map(Object.entries(collector.relayCounts));
        for (const [key, n] of collector.metrics.apiUpstreamRequests)
          counts.set(key, (counts.get(key) ?? 0) + n);
        for (const [key, n] of counts) {
          const [endpoint, status] = [key.slice(0, key.indexOf(':')), key.slice(key.indexOf(':') + 1)];
          if (UPSTREAM_ENDPOINTS.has(endpoint) && UPSTREAM_STATUS.test(status) && n > 0) {
            this.inc({ endpoint, status }, n);
          }
        }
      },
    });

    // Registered last: prom-client starts every metric's collect() in registration order, so this one can wait
    // for this scrape's reads and tell how each went.
    this.collectorUp = new Gauge({
      name: 'pairwatch_collector_up',
      help: 'Whether the scrape-time read behind a metric worked (1) or failed or timed out (0: the metric keeps its previous value)',
      labelNames: ['collector'] as const,
      registers,
      collect: async () => {
        await Promise.all(collector.reads);
      },
    });
  }

  private read<T>(collector: string, work: () => Promise<T>, use: (value: T) => void): Promise<void> {
    const reading = this.readOne(collector, work, use).finally(() => this.reads.delete(reading));
    this.reads.add(reading);
    return reading;
  }

  private async readOne<T>(
    collector: string,
    work: () => Promise<T>,
    use: (value: T) => void,
  ): Promise<void> {
    try {
      use(await within(work(), COLLECT_TIMEOUT_MS));
      this.collectorUp.set({ collector }, 1);
    } catch (error) {
      this.collectorUp.set({ collector }, 0);
      this.logger.debug(`metrics: ${collector} could not be read: ${(error as Error).message}`);
    }
  }
}
