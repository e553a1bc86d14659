import { ApiProcess, spawnApi } from '../api-process';
import type { PostgresCluster } from './postgres-cluster';
import type { RedisServer } from './redis-server';
import { eventually } from '../wait';
import { sleep } from './util';

/** Label on anything the fault suites start (containers included), apart from every other suite's. */
export const FAULTS_INSTANCE = process.env.TEST_INSTANCE ?? 'e2e-faults';

/**
 * The built API as a child process, on the case's own Postgres and Redis. Workers run as processes unless
 * the case asks for Docker; the ticker is nowhere unless the case gives its fake.
 */
export function spawnFaultApi(
  servers: { postgres: PostgresCluster; redis: RedisServer },
  env: Record<string, string> = {},
): Promise<ApiProcess> {
  return spawnApi({
    DATABASE_URL: servers.postgres.url,
    REDIS_URL: servers.redis.url,
    WORKER_RUNTIME: 'process',
    PAIRWATCH_INSTANCE: FAULTS_INSTANCE,
    RECONCILE_INTERVAL_MS: '600000',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'warn',
    ...env,
  });
}

/** GET /health: status code and body; `0` when the API does not answer at all. */
export async function health(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  try {
    const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(5000) });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  } catch (error) {
    return { status: 0, body: { error: (error as Error).message } };
  }
}

export interface HealthSample {
  /** When the request was sent (epoch ms). */
  at: number;
  /** How long the answer took. */
  ms: number;
  status: number;
  body: Record<string, unknown>;
}

/**
 * Records /health every `everyMs`, one request at a time (a slow answer delays the next request; requests
 * never queue up behind it), with its time, until stopped.
 */
export class HealthProbe {
  readonly samples: HealthSample[] = [];
  private running = false;
  private loop: Promise<void> = Promise.resolve();

  constructor(
    private readonly url: string,
    private readonly everyMs = 500,
  ) {}

  start(): void {
    this.running = true;
    this.loop = (async () => {
      while (this.running) {
        const at = Date.now();
        const { status, body } = await health(this.url);
        this.samples.push({ at, ms: Date.now() - at, status, body });
        await sleep(Math.max(0, at + this.everyMs - Date.now()));
      }
    })();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  /** Samples sent at or after `from` and answered by `to`. */
  between(from: number, to: number): HealthSample[] {
    return this.samples.filter((s) => s.at >= from && s.at + s.ms <= to);
  }

  /**
   * Waits for the first answer to a request sent at or after `from` (default: now) that `match`es, and
   * returns it: an observation at that point, however slowly the machine answers.
   */
  async next(
    what: string,
    timeoutMs: number,
    match: (sample: HealthSample) => boolean = () => true,
    from = Date.now(),
  ): Promise<HealthSample> {
    return eventually(
      `/health: ${what}`,
      () => this.samples.find((s) => s.at >= from && match(s)),
      timeoutMs,
      100,
    );
  }
}
