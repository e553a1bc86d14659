import { Controller, Get, Headers, HttpException, HttpStatus, Query, Req, Res } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiHeader,
  ApiOkResponse,
  ApiProduces,
  ApiSecurity,
  ApiServiceUnavailableResponse,
  ApiTags,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { once } from 'node:events';
import { decodeCursor } from './alert-cursor';
import type { StreamSink } from './alert-stream-client';
import { AlertsService } from './alerts.service';
import { AlertPageDto, AlertStatsBucketDto } from './dto/alert.dto';
import { QueryAlertStatsDto } from './dto/query-alert-stats.dto';
import { QueryAlertsDto } from './dto/query-alerts.dto';
import { StreamAlertsQueryDto } from './dto/stream-alerts-query.dto';
import { LiveAlertsService } from './live-alerts.service';

/** How long an EventSource waits before it reconnects after the stream ends (the `retry:` field). */
const RECONNECT_MS = 1000;
const RETRY_AFTER_SECONDS = '5';

/** An Express response as a stream's sink. */
function responseSink(res: Response): StreamSink {
  return {
    write: (chunk) => void res.write(chunk),
    pendingBytes: () => res.writableLength,
    // 'drain' comes only after a write found the buffer past its high-water mark; below it there is no wait.
    drained: async () => {
      if (res.destroyed || !res.writableNeedDrain) return;
      await Promise.race([once(res, 'drain'), once(res, 'close')]);
    },
    destroy: () => void res.destroy(),
  };
}

@ApiTags('alerts')
@ApiSecurity('api-key')
@Controller('alerts')
export class AlertsController {
  constructor(
    private readonly alerts: AlertsService,
    private readonly live: LiveAlertsService,
  ) {}

  /** Alert history, newest first, with keyset pagination. */
  @Get()
  @ApiOkResponse({ type: AlertPageDto })
  @ApiBadRequestResponse({ description: 'A filter is malformed; the answer names the field.' })
  history(@Query() query: QueryAlertsDto): Promise<AlertPageDto> {
    return this.alerts.history(query);
  }

  /**
   * Alert counts per UTC bucket (hour or day), by rule kind and direction, oldest first, one entry per bucket
   * from since's to until's (empty buckets too, with total 0), at most 1,000.
   */
  @Get('stats')
  @ApiOkResponse({ type: [AlertStatsBucketDto] })
  @ApiBadRequestResponse({
    description:
      'Bad pair, bucket, since or until, since after until, or more than 1,000 buckets; `errors` names the parameter.',
  })
  stats(@Query() query: QueryAlertStatsDto): Promise<AlertStatsBucketDto[]> {
    return this.alerts.stats(query);
  }

  /**
   * Server-Sent Events: every alert once its row is committed, whichever API replica stored it, as
   * `event: alert`, `id: <its history cursor>`, `data: <the alert as in GET /alerts>`. With `Last-Event-ID`
   * (or `?after=`), the alerts stored after that id are replayed from the history first, then the stream is
   * live, with nothing missed or repeated at the seam. A `: heartbeat` comment every 15 s. A client that falls
   * too far behind (SSE_CLIENT_BUFFER_BYTES) is disconnected and resumes from its last id; past
   * SSE_MAX_CLIENTS open streams the answer is 503. The key goes in `X-API-Key` or `Authorization: Bearer`.
   */
  @Get('stream')
  @ApiProduces('text/event-stream')
  @ApiHeader({
    name: 'Last-Event-ID',
    required: false,
    description: 'The id of the last event received: resume after it (wins over ?after=).',
  })
  @ApiOkResponse({
    description: 'An endless text/event-stream of `alert` events.',
    content: {
      'text/event-stream': {
        schema: { type: 'string' },
        example:
          'event: alert\nid: eyJ2IjoxLCJ0Ijoi…\ndata: {"id":"…","pair":"BTC-USD",…}\n\n: heartbeat\n\n',
      },
    },
  })
  @ApiBadRequestResponse({
    description: 'A filter or the resume id is malformed; the answer names the field.',
  })
  @ApiUnauthorizedResponse({ description: 'API_KEY is set and the request does not carry it.' })
  @ApiServiceUnavailableResponse({
    description:
      'Too many open streams (SSE_MAX_CLIENTS), or the live feed is away; Retry-After says when to retry.',
  })
  async stream(
    @Query() query: StreamAlertsQueryDto,
    @Headers('last-event-id') lastEventId: string | undefined,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    const resumeFrom =
      lastEventId !== undefined && lastEventId !== ''
        ? decodeCursor(lastEventId, 'Last-Event-ID')
        : query.after !== undefined
          ? decodeCursor(query.after, 'after')
          : undefined;
    const filter = { pair: query.pair, monitorId: query.monitorId };
    let client;
    try {
      client = this.live.open(filter, responseSink(res));
    } catch (error) {
      if (
        error instanceof HttpException &&
        error.getStatus() === (HttpStatus.SERVICE_UNAVAILABLE as number)
      ) {
        res.setHeader('Retry-After', RETRY_AFTER_SECONDS);
      }
      throw error;
    }
    const opened = client;
    res.on('close', () => opened.close('client'));
    req.socket.setNoDelay(true);
    res.writeHead(HttpStatus.OK, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-transform',
      Connection: 'keep-alive',
      // nginx and the like would hold the events back otherwise.
      'X-Accel-Buffering': 'no',
    });
    res.write(`retry: ${RECONNECT_MS}\n\n`);
    if (resumeFrom) await this.live.resume(opened, filter, resumeFrom);
  }
}
