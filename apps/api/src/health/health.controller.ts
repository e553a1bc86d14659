import { Controller, Get, HttpStatus, Inject, Res } from '@nestjs/common';
import { ApiOkResponse, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import { HealthCheck, HealthCheckResult, HealthCheckService, HealthIndicatorService } from '@nestjs/terminus';
import type { Response } from 'express';
import { Public } from '../common/api-key.guard';
import { DatabaseRepository } from '../database/database.repository';
import { ReadReplica } from '../database/read-replica';
import { AlertStreamRepository } from '../redis/alert-stream.repository';
import { MonitorsService } from '../monitors/monitors.service';
import { WorkerRuntime } from '../runtime/worker-runtime';
import { UpholdClient } from '../uphold/uphold.client';
import { APP_CONFIG, AppConfig } from '../config/app.config';
import { RelayStatus } from '../supervisor/relay-status.service';
import { DependencyHealthDto, HealthDto, RelayHealthDto, UpstreamBudgetDto } from './dto/health.dto';

/** Requests a minute as /health shows them: two decimals (a 7 s interval is 8.571428…). */
const round = (n: number): number => Math.round(n * 100) / 100;

const CHECK_TIMEOUT_MS = 2000;

/** One dependency as a terminus health indicator: `{status: 'up'}`, or `{status: 'down', error}`. */
async function check(
  indicators: HealthIndicatorService,
  key: string,
  fn: () => Promise<unknown>,
): Promise<DependencyHealthDto> {
  const indicator = indicators.check(key);
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      fn(),
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)),
          CHECK_TIMEOUT_MS,
        );
      }),
    ]);
    return indicator.up()[key];
  } catch (error) {
    return indicator.down({ error: (error as Error).message })[key];
  } finally {
    clearTimeout(timer);
  }
}

@ApiTags('health')
@Public()
@Controller('health')
export class HealthController {
  constructor(
    private readonly database: DatabaseRepository,
    private readonly stream: AlertStreamRepository,
    private readonly runtime: WorkerRuntime,
    private readonly monitors: MonitorsService,
    private readonly uphold: UpholdClient,
    private readonly relayStatus: RelayStatus,
    private readonly replica: ReadReplica,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly indicators: HealthIndicatorService,
    private readonly terminus: HealthCheckService,
  ) {}

  /** Liveness: 200 while the process runs and answers; no dependency is asked (that is GET /health). */
  @Get('live')
  @HealthCheck({ swaggerDocumentation: false })
  @ApiOkResponse({ description: 'The process is alive: `{"status":"ok",…}`.' })
  live(): Promise<HealthCheckResult> {
    return this.terminus.check([]);
  }

  /**
   * Whether Postgres, Redis, the worker runtime and (UPHOLD_RELAY=on) the relay can be reached, the
   * upstream budget, and the read replica's lag (DATABASE_READ_URL; never a reason for a 503). Open even when API_KEY is set.
   */
  @Get()
  @ApiOkResponse({ type: HealthDto })
  @ApiServiceUnavailableResponse({ type: HealthDto })
  async health(@Res({ passthrough: true }) response: Response): Promise<HealthDto> {
    const postgresCheck = check(this.indicators, 'postgres', () => this.database.ping());
    // The monitors are read as soon as Postgres answers, while the other checks are still out.
    const overviewRead = postgresCheck.then((p) =>
      p.status === 'up' ? this.monitors.overview().catch(() => null) : null,
    );
    const [postgres, redis, runtime, relayCheck, overview] = await Promise.all([
      postgresCheck,
      check(this.indicators, 'redis', () => this.stream.ping()),
      check(this.indicators, 'runtime', () => this.runtime.ping()),
      this.config.upholdRelay ? check(this.indicators, 'relay', () => this.uphold.relayHealthy()) : null,
      overviewRead,
    ]);
    const monitors = overview?.counts ?? null;
    const budget = overview
      ? { plannedRequestsPerMin: round(overview.plan.requestsPerMin), limitPerMin: overview.limitPerMin }
      : null;
    const relay = this.relayHealth(relayCheck, budget);
    const ok = [postgres, redis, runtime].every((c) => c.status === 'up') && relay.status !== 'down';
    response.status(ok ? HttpStatus.OK : HttpStatus.SERVICE_UNAVAILABLE);
    return {
      status: ok ? 'ok' : 'degraded',
      postgres,
      redis,
      runtime: { ...runtime, kind: this.runtime.kind },
      relay,
      // A replica that is down or behind never degrades the API: its reads go to the primary.
      replica: this.replica.status,
      monitors,
    };
  }

  private relayHealth(checked: DependencyHealthDto | null, budget: UpstreamBudgetDto | null): RelayHealthDto {
    if (!checked) return { status: 'off', address: null, budget };
    const address = this.uphold.baseUrl;
    if (checked.status === 'up') return { status: 'up', address, budget };
    // Why the supervisor runs none (a crash loop, a relay that cannot start) says more than "refused".
    const error = this.relayStatus.current.failure ?? checked.error;
    return { status: 'down', address, error, budget };
  }
}
