import { Controller, Get, Query } from '@nestjs/common';
import { ApiBadRequestResponse, ApiOkResponse, ApiSecurity, ApiTags } from '@nestjs/swagger';
import { AlertsService } from './alerts.service';
import { AlertPageDto } from './dto/alert.dto';
import { QueryAlertsDto } from './dto/query-alerts.dto';

@ApiTags('alerts')
@ApiSecurity('api-key')
@Controller('alerts')
export class AlertsController {
  constructor(private readonly alerts: AlertsService) {}

  /** Alert history, newest first, with keyset pagination. */
  @Get()
  @ApiOkResponse({ type: AlertPageDto })
  @ApiBadRequestResponse({ description: 'A filter is malformed; the answer names the field.' })
  history(@Query() query: QueryAlertsDto): Promise<AlertPageDto> {
    return this.alerts.history(query);
  }
}
