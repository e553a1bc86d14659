import { Controller, Get, HttpStatus, Res } from '@nestjs/common';
import { ApiOkResponse, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { Public } from '../common/api-key.guard';
import { DatabaseRepository } from '../database/database.repository';
import { AlertStreamRepository } from '../redis/alert-stream.repository';
import { MonitorsService } from '../monitors/monitors.service';
import { WorkerRuntime } from '../runtime/worker-runtime';
import { DependencyHealthDto, HealthDto } from './dto/health.dto';

const CHECK_TIMEOUT_MS = 2000;

async function check(fn: () => Promise<unknown>): Promise<DependencyHealthDto> {
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
    return { status: 'up' };
  } catch (error) {
    return { status: 'down', error: (error as Error).message };
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
  ) {}

  /** Whether Postgres, Redis and the worker runtime can be reached. Open even when API_KEY is set. */
  @Get()
  @ApiOkResponse({ type: HealthDto })
  @ApiServiceUnavailableResponse({ type: HealthDto })
  async health(@Res({ passthrough: true }) response: Response): Promise<HealthDto> {
    const [postgres, redis, runtime] = await Promise.all([
      check(() => this.database.ping()),
      check(() => this.stream.ping()),
      check(() => this.runtime.ping()),
    ]);
    const ok = [postgres, redis, runtime].every((c) => c.status === 'up');
    const monitors = postgres.status === 'up' ? await this.monitors.counts().catch(() => null) : null;
    response.status(ok ? HttpStatus.OK : HttpStatus.SERVICE_UNAVAILABLE);
    return {
      status: ok ? 'ok' : 'degraded',
      postgres,
      redis,
      runtime: { ...runtime, kind: this.runtime.kind },
      monitors,
    };
  }
}
