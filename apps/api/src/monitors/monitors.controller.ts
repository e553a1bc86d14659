import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  HttpStatus,
  Param,
  Patch,
  ParseUUIDPipe,
  Post,
  Query,
  Res,
} from '@nestjs/common';
import type { Response } from 'express';
import {
  ApiBadRequestResponse,
  ApiConflictResponse,
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiSecurity,
  ApiServiceUnavailableResponse,
  ApiTags,
  ApiUnprocessableEntityResponse,
} from '@nestjs/swagger';
import { httpError } from '../common/http-errors';
import { ThrottleMonitorCreation } from '../common/monitor-create.throttle';
import { CreateMonitorDto } from './dto/create-monitor.dto';
import { MonitorDto } from './dto/monitor.dto';
import { UpdateMonitorDto } from './dto/update-monitor.dto';
import { BacktestDto, BacktestResultDto } from './dto/backtest.dto';
import type { BacktestResult } from '@pairwatch/contracts';
import { PriceTickDto } from './dto/price-tick.dto';
import { QueryMonitorsDto } from './dto/query-monitors.dto';
import { QueryPricesDto } from './dto/query-prices.dto';
import { MonitorsService } from './monitors.service';

const uuidPipe = new ParseUUIDPipe({
  exceptionFactory: () => httpError(HttpStatus.BAD_REQUEST, 'id must be a UUID', 'id'),
});

@ApiTags('monitors')
@ApiSecurity('api-key')
@Controller('monitors')
export class MonitorsController {
  constructor(private readonly monitors: MonitorsService) {}

  /** Starts watching a pair: checks it at the ticker, records the monitor and starts its worker. */
  @Post()
  @ThrottleMonitorCreation()
  @ApiCreatedResponse({ type: MonitorDto })
  @ApiBadRequestResponse({ description: 'Invalid body; `errors` names each field and what was wrong.' })
  @ApiConflictResponse({ description: 'The pair already has an active monitor.' })
  @ApiUnprocessableEntityResponse({
    description: 'Unknown pair at the ticker, or the Uphold rate budget would be exceeded.',
  })
  @ApiServiceUnavailableResponse({
    description: 'The worker runtime or the ticker cannot be reached; nothing was created.',
  })
  create(@Body() dto: CreateMonitorDto): Promise<MonitorDto> {
    return this.monitors.create(dto);
  }

  /**
   * Runs rules over the stored ticks of a pair with the detectors the worker runs: the alerts they would have
   * fired, one by one, and how many per rule. Nothing is created. The answer (megabytes for a noisy rule over
   * a day) is written as JSON directly, without the ETag Express would compute over it for `res.json` (a hash
   * of the whole body, 5–19 ms at 6 MB): a POST's answer is never revalidated. Errors still go through the
   * exception filter (nothing is sent before).
   */
  @Post('backtest')
  @HttpCode(HttpStatus.OK)
  @ApiOkResponse({ type: BacktestResultDto })
  @ApiBadRequestResponse({ description: 'Bad rules (e.g. `rules[0].level`), pair or range (over 30 days).' })
  @ApiUnprocessableEntityResponse({ description: 'No ticks of the pair are stored in the range.' })
  async backtest(@Body() dto: BacktestDto, @Res() res: Response): Promise<void> {
    const result: BacktestResult = await this.monitors.backtest(dto);
    res.status(HttpStatus.OK).type('application/json; charset=utf-8').end(JSON.stringify(result));
  }

  /** Lists monitors with the live state of their workers. */
  @Get()
  @ApiOkResponse({ type: [MonitorDto] })
  list(@Query() query: QueryMonitorsDto): Promise<MonitorDto[]> {
    return this.monitors.list(query);
  }

  /** One monitor: its config, status and the live state of its worker. */
  @Get(':id')
  @ApiOkResponse({ type: MonitorDto })
  @ApiNotFoundResponse({ description: 'No monitor with this id.' })
  get(@Param('id', uuidPipe) id: string): Promise<MonitorDto> {
    return this.monitors.get(id);
  }

  /**
   * The worker's recent ticks (the last hour at most, PRICE_HISTORY_MS), newest last. The body comes ready as
   * JSON bytes (up to 3,600 ticks, mostly the bytes the worker stored), so it is sent as it is rather than
   * through Nest's serialisation; errors still go through the exception filter (nothing is sent before).
   */
  @Get(':id/prices')
  @ApiOkResponse({ type: [PriceTickDto] })
  @ApiBadRequestResponse({ description: 'Bad id or since; `errors` names the field.' })
  @ApiNotFoundResponse({ description: 'No monitor with this id.' })
  @ApiServiceUnavailableResponse({ description: 'Redis cannot be read.' })
  async prices(
    @Param('id', uuidPipe) id: string,
    @Query() query: QueryPricesDto,
    @Res() res: Response,
  ): Promise<void> {
    const body = await this.monitors.pricesJson(id, query.since);
    res.type('application/json; charset=utf-8').send(body);
  }

  /**
   * Edits a monitor's interval and rules: validated like a create, the budget checked again, its history and
   * rule ids kept, its worker replaced. A stopped monitor is edited and stays stopped. The pair cannot change.
   */
  @Patch(':id')
  @ApiOkResponse({ type: MonitorDto })
  @ApiBadRequestResponse({
    description: 'Invalid body (e.g. `rules[1].level`, or `pair`, which cannot change).',
  })
  @ApiNotFoundResponse({ description: 'No monitor with this id.' })
  @ApiUnprocessableEntityResponse({ description: 'The new interval would exceed the Uphold rate budget.' })
  @ApiServiceUnavailableResponse({ description: 'The worker runtime cannot be reached.' })
  update(@Param('id', uuidPipe) id: string, @Body() dto: UpdateMonitorDto): Promise<MonitorDto> {
    return this.monitors.update(id, dto);
  }

  /** Puts a failed or stopped monitor back to work: checks the pair and the budget again, then starts a worker. */
  @Post(':id/restart')
  @ThrottleMonitorCreation()
  @HttpCode(HttpStatus.OK)
  @ApiOkResponse({ type: MonitorDto })
  @ApiNotFoundResponse({ description: 'No monitor with this id.' })
  @ApiConflictResponse({
    description: 'The monitor is already active, or its pair is monitored by another one.',
  })
  @ApiUnprocessableEntityResponse({
    description: 'The pair is unknown at the ticker, or the rate budget would be exceeded.',
  })
  @ApiBadRequestResponse({ description: 'Bad id, or a body: a restart takes none (each field is named).' })
  @ApiServiceUnavailableResponse({
    description:
      'The worker runtime or the ticker cannot be reached (nothing changed), or the worker could not be ' +
      'started (the monitor stays starting and the supervisor tries again).',
  })
  restart(@Param('id', uuidPipe) id: string, @Body() body: unknown): Promise<MonitorDto> {
    // Unknown fields are refused everywhere: a restart has no field at all (it keeps the monitor's settings).
    const fields = typeof body === 'object' && body !== null ? Object.keys(body) : [];
    if (fields.length > 0) {
      throw httpError(
        HttpStatus.BAD_REQUEST,
        `${fields[0]} is not an accepted field: a restart takes no body (it keeps the monitor's settings)`,
        fields[0],
      );
    }
    return this.monitors.restart(id);
  }

  /** Stops and removes the worker. The monitor is kept as `stopped`, and its alerts are kept. */
  @Delete(':id')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiNoContentResponse({ description: 'Stopped (or already stopped).' })
  @ApiNotFoundResponse({ description: 'No monitor with this id.' })
  @ApiServiceUnavailableResponse({
    description:
      'The worker runtime cannot be reached (the monitor is unchanged), or the worker could not be removed ' +
      '(the monitor is stopped and the supervisor removes it later).',
  })
  stop(@Param('id', uuidPipe) id: string): Promise<void> {
    return this.monitors.stop(id);
  }
}
