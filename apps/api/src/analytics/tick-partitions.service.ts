import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { BackgroundLoop } from '../common/background-loop';
import { APP_CONFIG, AppConfig } from '../config/app.config';
import { DatabaseLock, DatabaseRepository } from '../database/database.repository';
import { MaintenanceReport, TickPartitionsRepository, utcDay } from './tick-partitions.repository';

const DAY_MS = 86_400_000;

export const PARTITION_MAINTENANCE = {
  /** Days after today that get their partition ahead of time. */
  aheadDays: 3,
  /** How often a pass runs (and at start). Partitions exist days ahead, so an hour is plenty. */
  everyMs: 3_600_000,
  /** After a failed pass, the next try comes sooner (doubled at each failure in a row, up to everyMs). */
  retryMs: 60_000,
} as const;

/**
 * Keeps price_ticks' day partitions (docs/STORAGE.md): at start and every hour, under an advisory lock so one
 * API replica does it, it makes the partitions of today and the next days, moves ticks that landed in the
 * default partition (their day had none: maintenance was down at midnight) into their day's partition, and
 * drops the days past TICK_RETENTION_DAYS. A pass that fails is tried again a minute later; ticks keep flowing
 * into the default partition meanwhile, so none is lost.
 */
@Injectable()
export class TickPartitionsService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(TickPartitionsService.name);
  private running: Promise<unknown> | undefined;
  private readonly loop = new BackgroundLoop({
    name: 'tick partition maintenance',
    pass: async () => {
      const report = await this.maintain();
      if (report && (report.created.length > 0 || report.dropped.length > 0 || report.moved > 0)) {
        this.logger.log({ msg: 'tick partitions maintained', ...report });
      }
    },
    everyMs: PARTITION_MAINTENANCE.everyMs,
    backoff: { baseMs: PARTITION_MAINTENANCE.retryMs, maxMs: PARTITION_MAINTENANCE.everyMs },
    logger: this.logger,
  });

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly partitions: TickPartitionsRepository,
    private readonly database: DatabaseRepository,
  ) {}

  onApplicationBootstrap(): void {
    this.loop.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.loop.stop();
    await this.running;
  }

  /**
   * One pass now (single-flight: a call while one runs shares it). Undefined when another replica holds the
   * lock.
   */
  maintain(now = Date.now()): Promise<MaintenanceReport | undefined> {
    const pass = (this.running ??= this.database
      .tryWithLock(DatabaseLock.TickPartitions, () => this.pass(now))
      .then((attempt) => (attempt.acquired ? attempt.value : undefined))
      .finally(() => {
        this.running = undefined;
      }));
    return pass as Promise<MaintenanceReport | undefined>;
  }

  private async pass(now: number): Promise<MaintenanceReport> {
    const today = utcDay(now);
    const oldestKept = today - this.config.archive.retentionDays * DAY_MS;
    const lastAhead = today + PARTITION_MAINTENANCE.aheadDays * DAY_MS;
    const report: MaintenanceReport = { created: [], moved: 0, dropped: [], expiredInDefault: 0 };

    report.expiredInDefault = await this.partitions.deleteExpiredDefault(new Date(oldestKept));
    const existing = new Set(await this.partitions.partitionDays());
    const wanted = new Set<number>();
    for (let day = today; day <= lastAhead; day += DAY_MS) wanted.add(day);
    for (const day of await this.partitions.defaultDays()) {
      // A tick stamped far in the future stays in the default partition rather than making a partition for it.
      if (day >= oldestKept && day <= lastAhead) wanted.add(day);
    }
    for (const day of [...wanted].sort((a, b) => a - b)) {
      if (existing.has(day)) continue;
      report.moved += await this.partitions.createPartition(day);
      report.created.push(new Date(day).toISOString().slice(0, 10));
    }
    for (const day of existing) {
      if (day >= oldestKept) continue;
      await this.partitions.dropPartition(day);
      report.dropped.push(new Date(day).toISOString().slice(0, 10));
    }
    await this.partitions.deleteExpiredCandles(new Date(oldestKept));
    return report;
  }
}
