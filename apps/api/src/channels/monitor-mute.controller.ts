import { Body, Controller, Delete, HttpCode, HttpStatus, Param, Post } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiNoContentResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiSecurity,
  ApiTags,
} from '@nestjs/swagger';
import { httpError, uuidParam } from '../common/http-errors';
import { MonitorsRepository } from '../monitors/monitors.repository';
import { SnoozeDto } from './dto/create-channel.dto';

export class MutedDto {
  id: string;
  /** Until when the monitor's alerts reach no channel; null when not muted. */
  mutedUntil: string | null;
}

/**
 * `POST /monitors/:id/mute`: the monitor keeps running and its alerts are stored and streamed, but until
 * `until` no channel sends them: each channel's delivery is logged `suppressed` (noise control, per monitor).
 */
@ApiTags('monitors')
@ApiSecurity('api-key')
@Controller('monitors/:id/mute')
export class MonitorMuteController {
  constructor(private readonly monitors: MonitorsRepository) {}

  @Post()
  @HttpCode(HttpStatus.OK)
  @ApiOkResponse({ type: MutedDto })
  @ApiBadRequestResponse({ description: '`until` is not a future date-time.' })
  @ApiNotFoundResponse({ description: 'No monitor with this id.' })
  async mute(@Param('id', uuidParam('id')) id: string, @Body() dto: SnoozeDto): Promise<MutedDto> {
    const until = new Date(dto.until);
    if (until.getTime() <= Date.now())
      throw httpError(HttpStatus.BAD_REQUEST, 'until must be in the future', 'until');
    if (!(await this.monitors.setMutedUntil(id, until))) throw notFound();
    return { id, mutedUntil: until.toISOString() };
  }

  /** Lifts the mute. */
  @Delete()
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiNoContentResponse()
  @ApiNotFoundResponse({ description: 'No monitor with this id.' })
  async unmute(@Param('id', uuidParam('id')) id: string): Promise<void> {
    if (!(await this.monitors.setMutedUntil(id, null))) throw notFound();
  }
}

const notFound = () => httpError(HttpStatus.NOT_FOUND, 'no monitor with this id', 'id');
