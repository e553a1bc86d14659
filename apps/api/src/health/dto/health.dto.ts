export class DependencyHealthDto {
  /** up or down */
  status: 'up' | 'down';
  /** Why it is down. */
  error?: string;
}

export class RuntimeHealthDto extends DependencyHealthDto {
  /** docker, swarm or process */
  kind: string;
}

export class UpstreamBudgetDto {
  /** What the upstream plan of the active monitors costs (through the relay, or one request per pair). */
  plannedRequestsPerMin: number;
  /** UPHOLD_RATE_LIMIT_PER_MIN. */
  limitPerMin: number;
}

export class RelayHealthDto {
  /** up or down (UPHOLD_RELAY=on), off (UPHOLD_RELAY=off: workers poll Uphold directly). */
  status: 'up' | 'down' | 'off';
  /** Where the API reaches the relay; null when it is off. */
  address: string | null;
  /** Why it is down: what the relay's /healthz said, or why the API does not run it (a crash loop…). */
  error?: string;
  /** null when Postgres cannot be read. */
  budget: UpstreamBudgetDto | null;
}

export class MonitorCountsDto {
  /** Active monitors whose worker has reported within its TTL. */
  running: number;
  /**
   * Active monitors whose worker has not reported yet and is not due to: just created or restarted (status
   * `starting`, or `running` for less than the report's TTL). GET /monitors shows them with `stale: false`.
   */
  starting: number;
  /** Active monitors whose worker's report is due and missing (the worker gone, stuck, or its report expired). */
  stale: number;
  /** Monitors failed by a crash loop or an unknown pair. */
  failed: number;
}

export class ReplicaHealthDto {
  /**
   * off (no DATABASE_READ_URL), up (serving the reads that may lag), lagging (its replay lag is past
   * READ_MAX_LAG_MS: the primary serves them) or down (not answering: the primary serves them).
   */
  status: 'off' | 'up' | 'lagging' | 'down';
  /** Its replay lag at the last check, in milliseconds; null when off, down or unknown. */
  lagMs: number | null;
  /** Whether history pages, candles, statistics and backtests are read there now. */
  serving: boolean;
  /** Why it is down. */
  error?: string;
}

export class HealthDto {
  status: 'ok' | 'degraded';
  postgres: DependencyHealthDto;
  redis: DependencyHealthDto;
  runtime: RuntimeHealthDto;
  /** The relay: a relay that is down makes the whole answer degraded (503), as no worker can tick without it. */
  relay: RelayHealthDto;
  /** The read replica: whatever its state, the answer is not degraded by it. */
  replica: ReplicaHealthDto;
  /** null when Postgres cannot be read. */
  monitors: MonitorCountsDto | null;
}
