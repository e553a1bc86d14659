import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { Pool } from 'pg';
import { DataSource } from 'typeorm';
import { BackgroundLoop } from '../common/background-loop';
import { APP_CONFIG, type AppConfig } from '../config/app.config';
import { PairwatchMetrics } from '../telemetry/pairwatch-metrics';
import { PreparedStatement, preparedQuery, runPrepared } from './prepared-statement';

/**
 * What the replica's lag check reads, on the replica: whether it is a standby at all, whether it has replayed
 * all the WAL it received, and how long ago the last transaction it replayed was committed on the primary.
 */
const LAG_SQL = `SELECT pg_is_in_recovery() AS recovering,
  coalesce(pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn(), false) AS "caughtUp",
  (extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp()) * 1000)::float8 AS "sinceReplayMs"`;

/**
 * The replay lag the check reads: 0 for a server that is not a standby (a primary given as DATABASE_READ_URL)
 * or one that has replayed everything it received (an idle primary sends nothing, so the last replayed
 * commit may be old without the standby being behind); otherwise the age of the last replayed commit, and
 * unknown (Infinity) when none was replayed since it started.
 */
export function replayLagMs(row: {
  recovering: boolean;
  caughtUp: boolean;
  sinceReplayMs: number | null;
}): number {
  if (!row.recovering || row.caughtUp) return 0;
  return row.sinceReplayMs === null ? Number.POSITIVE_INFINITY : Math.max(0, row.sinceReplayMs);
}

/** What /health shows of the replica. */
export interface ReplicaStatus {
  /** off: no DATABASE_READ_URL; up: serving; lagging: past READ_MAX_LAG_MS; down: not answering (or not yet checked). */
  status: 'off' | 'up' | 'lagging' | 'down';
  /** The replay lag at the last check, in ms; null when off, down or unknown. */
  lagMs: number | null;
  /** Whether the reads that may lag go to the replica now. */
  serving: boolean;
  /** Why it is down. */
  error?: string;
}

/** A replica that answered no lag check for this many check periods is not read from. */
const STALE_CHECKS = 3;
/** How long a read or a check waits for a replica's connection, and for its answer. */
const CONNECT_TIMEOUT_MS = 2000;
const QUERY_TIMEOUT_MS = 10_000;

/**
 * The one door to the read replica (DATABASE_READ_URL), and the one owner of its state: a BackgroundLoop
 * measures its replay lag, and {@link read} sends the reads that may lag (history pages, candles, statistics,
 * backtests) there while the lag is under READ_MAX_LAG_MS, to the primary otherwise. A replica that is down,
 * far behind or that fails a read never fails the request (the read is made again on the primary) and never
 * stops start-up. LISTEN, the stream's replay and every write never come here: they use the primary's
 * DataSource directly. docs/STORAGE.md.
 */
@Injectable()
export class ReadReplica implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(ReadReplica.name);
  private readonly settings: { url: string; maxLagMs: number } | undefined;
  private readonly checkEveryMs: number;
  private pool: Pool | undefined;
  private loop: BackgroundLoop | undefined;
  private lagMs: number | null = null;
  private checkedAt = 0;
  private error: string | undefined = 'not checked yet';

  constructor(
    @InjectDataSource() private readonly primary: DataSource,
    @Inject(APP_CONFIG) config: AppConfig,
    private readonly metrics: PairwatchMetrics,
  ) {
    this.settings = config.readReplica;
    // Often enough that a replica falling behind is left within about half the limit, at most once a second.
    this.checkEveryMs = Math.min(1000, Math.max(100, Math.floor((this.settings?.maxLagMs ?? 1000) / 2)));
    this.metrics.replicaServing.set(0);
    this.metrics.replicaLag.set(Number.NaN);
  }

  onApplicationBootstrap(): void {
    if (!this.settings) return;
    this.pool = new Pool({
      connectionString: this.settings.url,
      max: 5,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      query_timeout: QUERY_TIMEOUT_MS,
      idleTimeoutMillis: 30_000,
      application_name: 'pairwatch-api-reads',
    });
    // An idle connection the replica dropped (a restart): the next read or check makes a new one.
    this.pool.on('error', (error) =>
      this.logger.debug(`an idle replica connection failed: ${error.message}`),
    );
    this.loop = new BackgroundLoop({
      name: 'read replica lag check',
      everyMs: this.checkEveryMs,
      pass: () => this.check(),
      // The failure is recorded in the status (and /health); one warning per outage is enough.
      onError: (error, failures) => {
        if (failures === 1) this.logger.warn(`the read replica is not answering: ${error.message}`);
      },
      logger: this.logger,
    });
    // Not awaited: a replica that is down or slow never holds up start-up; reads go to the primary meanwhile.
    this.loop.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.loop?.stop();
    await this.pool?.end().catch(() => undefined);
  }

  /** Where the reads that may lag go now, and why. */
  get status(): ReplicaStatus {
    if (!this.settings) return { status: 'off', lagMs: null, serving: false };
    const serving = this.serving();
    if (this.error !== undefined) return { status: 'down', lagMs: null, serving, error: this.error };
    const lagMs = this.lagMs === null || !Number.isFinite(this.lagMs) ? null : Math.round(this.lagMs);
    return { status: serving ? 'up' : 'lagging', lagMs, serving };
  }

  /**
   * A read that may be a little behind (at most READ_MAX_LAG_MS): on the replica while it is fresh enough,
   * else, or when the replica fails it, on the primary. Never a write, never a read that must see a commit
   * just made (the stream's replay).
   */
  async read<T>(statement: PreparedStatement, values: unknown[]): Promise<T[]> {
    const pool = this.pool;
    if (pool && this.serving()) {
      try {
        const result = await pool.query(preparedQuery(statement, values));
        this.metrics.databaseReads.inc({ server: 'replica' });
        return result.rows as T[];
      } catch (error) {
        // Down, restarted, or a query cancelled by a recovery conflict: the primary answers this one, and the
        // next check decides when the replica serves again.
        this.failed(error);
      }
    }
    const rows = await runPrepared<T>(this.primary, statement, values);
    this.metrics.databaseReads.inc({ server: 'primary' });
    return rows;
  }

  /** Measures the lag now (tests and the status; the loop does it on its own). */
  async refresh(): Promise<void> {
    await this.loop?.trigger();
  }

  private serving(): boolean {
    if (!this.settings || this.error !== undefined || this.lagMs === null) return false;
    if (Date.now() - this.checkedAt > STALE_CHECKS * this.checkEveryMs + CONNECT_TIMEOUT_MS) return false;
    return this.lagMs <= this.settings.maxLagMs;
  }

  private async check(): Promise<void> {
    const pool = this.pool;
    if (!pool) return;
    try {
      const { rows } = await pool.query<{
        recovering: boolean;
        caughtUp: boolean;
        sinceReplayMs: number | null;
      }>(LAG_SQL);
      this.lagMs = replayLagMs(rows[0]);
      this.checkedAt = Date.now();
      if (this.error !== undefined && this.error !== 'not checked yet') {
        this.logger.log('the read replica answers again');
      }
      this.error = undefined;
    } catch (error) {
      this.failed(error);
      throw error;
    } finally {
      this.metrics.replicaLag.set(
        this.error === undefined && this.lagMs !== null ? this.lagMs / 1000 : Number.NaN,
      );
      this.metrics.replicaServing.set(this.serving() ? 1 : 0);
    }
  }

  private failed(error: unknown): void {
    this.error = error instanceof Error ? error.message : String(error);
    this.lagMs = null;
    this.metrics.replicaServing.set(0);
    this.metrics.replicaLag.set(Number.NaN);
  }
}
