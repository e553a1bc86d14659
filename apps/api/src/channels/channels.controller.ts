import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  HttpStatus,
  Param,
  Patch,
  Post,
  Query,
} from '@nestjs/common';
import {
  ApiAcceptedResponse,
  ApiBadRequestResponse,
  ApiConflictResponse,
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiSecurity,
  ApiTags,
  ApiUnprocessableEntityResponse,
} from '@nestjs/swagger';
import { uuidParam } from '../common/http-errors';
import { ChannelsService } from './channels.service';
import { ChannelDto, ChannelWithSecretDto } from './dto/channel.dto';
import { ChannelDeliveryPageDto } from './dto/channel-delivery.dto';
import { CreateChannelDto, SnoozeDto, UpdateChannelDto } from './dto/create-channel.dto';
import { QueryDeliveriesDto } from './dto/query-deliveries.dto';
import { QueuedDeliveryDto } from './dto/webhook.dto';

@ApiTags('channels')
@ApiSecurity('api-key')
@Controller('channels')
export class ChannelsController {
  constructor(private readonly channels: ChannelsService) {}

  /** Adds a channel of any type; a webhook, Slack or Discord channel's answer carries its signing secret (only here). */
  @Post()
  @ApiCreatedResponse({ type: ChannelWithSecretDto })
  @ApiBadRequestResponse({ description: 'Invalid body; `errors` names each field and what was wrong.' })
  @ApiUnprocessableEntityResponse({ description: 'An internal target, or email without SMTP_URL.' })
  create(@Body() dto: CreateChannelDto): Promise<ChannelWithSecretDto> {
    return this.channels.create(dto);
  }

  /** Every channel, oldest first (no secrets). */
  @Get()
  @ApiOkResponse({ type: [ChannelDto] })
  list(): Promise<ChannelDto[]> {
    return this.channels.list();
  }

  @Get(':id')
  @ApiOkResponse({ type: ChannelDto })
  @ApiNotFoundResponse({ description: 'No channel with this id.' })
  get(@Param('id', uuidParam('id')) id: string): Promise<ChannelDto> {
    return this.channels.get(id);
  }

  /** Changes the fields given (config whole); `enabled: false` fails its pending deliveries. */
  @Patch(':id')
  @ApiOkResponse({ type: ChannelDto })
  @ApiBadRequestResponse({ description: 'Invalid body; `errors` names each field and what was wrong.' })
  @ApiNotFoundResponse({ description: 'No channel with this id.' })
  @ApiUnprocessableEntityResponse({ description: 'An internal target.' })
  update(@Param('id', uuidParam('id')) id: string, @Body() dto: UpdateChannelDto): Promise<ChannelDto> {
    return this.channels.update(id, dto);
  }

  /** Removes the channel and its delivery log. */
  @Delete(':id')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiNoContentResponse()
  @ApiNotFoundResponse({ description: 'No channel with this id.' })
  remove(@Param('id', uuidParam('id')) id: string): Promise<void> {
    return this.channels.remove(id);
  }

  /**
   * A new signing secret (webhook, Slack, Discord), shown only in this answer; the previous one keeps signing
   * alongside for 24 h (two signatures per delivery, `previousSecretValidUntil`).
   */
  @Post(':id/rotate-secret')
  @HttpCode(HttpStatus.OK)
  @ApiOkResponse({ type: ChannelWithSecretDto })
  @ApiNotFoundResponse({ description: 'No channel with this id.' })
  @ApiConflictResponse({
    description: 'The channel has no signing secret (email, telegram, ntfy, alertmanager).',
  })
  rotateSecret(@Param('id', uuidParam('id')) id: string): Promise<ChannelWithSecretDto> {
    return this.channels.rotateSecret(id);
  }

  /** Queues a `channel.test` message for this channel. */
  @Post(':id/test')
  @HttpCode(HttpStatus.ACCEPTED)
  @ApiAcceptedResponse({ type: QueuedDeliveryDto })
  @ApiNotFoundResponse({ description: 'No channel with this id.' })
  test(@Param('id', uuidParam('id')) id: string): Promise<QueuedDeliveryDto> {
    return this.channels.test(id);
  }

  /** Until `until`, nothing is sent: deliveries are logged `suppressed`. */
  @Post(':id/snooze')
  @HttpCode(HttpStatus.OK)
  @ApiOkResponse({ type: ChannelDto })
  @ApiBadRequestResponse({ description: '`until` is not a future date-time.' })
  @ApiNotFoundResponse({ description: 'No channel with this id.' })
  snooze(@Param('id', uuidParam('id')) id: string, @Body() dto: SnoozeDto): Promise<ChannelDto> {
    return this.channels.snooze(id, new Date(dto.until));
  }

  /** Lifts the snooze. */
  @Delete(':id/snooze')
  @HttpCode(HttpStatus.OK)
  @ApiOkResponse({ type: ChannelDto })
  @ApiNotFoundResponse({ description: 'No channel with this id.' })
  unsnooze(@Param('id', uuidParam('id')) id: string): Promise<ChannelDto> {
    return this.channels.snooze(id, null);
  }

  /** The delivery log, newest first: each alert's delivery, and the digest that carried it. */
  @Get(':id/deliveries')
  @ApiOkResponse({ type: ChannelDeliveryPageDto })
  @ApiBadRequestResponse({ description: 'A filter is malformed; the answer names the field.' })
  @ApiNotFoundResponse({ description: 'No channel with this id.' })
  deliveries(
    @Param('id', uuidParam('id')) id: string,
    @Query() query: QueryDeliveriesDto,
  ): Promise<ChannelDeliveryPageDto> {
    return this.channels.deliveries(id, query);
  }

  /** Re-queues a delivery for one more attempt now. */
  @Post(':id/deliveries/:deliveryId/retry')
  @HttpCode(HttpStatus.ACCEPTED)
  @ApiAcceptedResponse({ type: QueuedDeliveryDto })
  @ApiNotFoundResponse({ description: 'No channel, or no delivery of it, with this id.' })
  @ApiConflictResponse({ description: 'The channel is disabled, or the delivery went out in a digest.' })
  retry(
    @Param('id', uuidParam('id')) id: string,
    @Param('deliveryId', uuidParam('deliveryId')) deliveryId: string,
  ): Promise<QueuedDeliveryDto> {
    return this.channels.retry(id, deliveryId);
  }
}
