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

export class HealthDto {
  status: 'ok' | 'degraded';
  postgres: DependencyHealthDto;
  redis: DependencyHealthDto;
  runtime: RuntimeHealthDto;
}
