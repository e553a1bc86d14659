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

export class MonitorCountsDto {
  /** Active monitors whose worker has reported within its TTL. */
  running: number;
  /** Active monitors whose worker has not reported (missing, stuck, or still starting). */
  stale: number;
  /** Monitors failed by a crash loop or an unknown pair. */
  failed: number;
}

export class HealthDto {
  status: 'ok' | 'degraded';
  postgres: DependencyHealthDto;
  redis: DependencyHealthDto;
  runtime: RuntimeHealthDto;
  /** null when Postgres cannot be read. */
  monitors: MonitorCountsDto | null;
}
