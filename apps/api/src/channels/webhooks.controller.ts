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
import { CreateWebhookDto } from './dto/create-webhook.dto';
import { QueryDeliveriesDto } from './dto/query-deliveries.dto';
import { UpdateWebhookDto } from './dto/update-webhook.dto';
import { DeliveryPageDto, QueuedDeliveryDto, WebhookDto, WebhookWithSecretDto } from './dto/webhook.dto';
import { WebhooksService } from './webhooks.service';

@ApiTags('webhooks')
@ApiSecurity('api-key')
@Controller('webhooks')
export class WebhooksController {
  constructor(private readonly webhooks: WebhooksService) {}

  /** Registers an endpoint; the answer carries its signing secret, shown only here and at rotation. */
  @Post()
  @ApiCreatedResponse({ type: WebhookWithSecretDto })
  @ApiBadRequestResponse({ description: 'Invalid body; `errors` names each field and what was wrong.' })
  @ApiUnprocessableEntityResponse({ description: 'The URL points at an internal address.' })
  create(@Body() dto: CreateWebhookDto): Promise<WebhookWithSecretDto> {
    return this.webhooks.create(dto);
  }

  /** Every webhook, oldest first (no secrets). */
  @Get()
  @ApiOkResponse({ type: [WebhookDto] })
  list(): Promise<WebhookDto[]> {
    return this.webhooks.list();
  }

  @Get(':id')
  @ApiOkResponse({ type: WebhookDto })
  @ApiNotFoundResponse({ description: 'No webhook with this id.' })
  get(@Param('id', uuidParam('id')) id: string): Promise<WebhookDto> {
    return this.webhooks.get(id);
  }

  /** Changes the fields given; `enabled: false` fails its pending deliveries. */
  @Patch(':id')
  @ApiOkResponse({ type: WebhookDto })
  @ApiBadRequestResponse({ description: 'Invalid body; `errors` names each field and what was wrong.' })
  @ApiNotFoundResponse({ description: 'No webhook with this id.' })
  @ApiUnprocessableEntityResponse({ description: 'The URL points at an internal address.' })
  update(@Param('id', uuidParam('id')) id: string, @Body() dto: UpdateWebhookDto): Promise<WebhookDto> {
    return this.webhooks.update(id, dto);
  }

  /** Removes the webhook and its delivery log. */
  @Delete(':id')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiNoContentResponse()
  @ApiNotFoundResponse({ description: 'No webhook with this id.' })
  remove(@Param('id', uuidParam('id')) id: string): Promise<void> {
    return this.webhooks.remove(id);
  }

  /** A new secret; the previous one keeps signing alongside for 24 h (two signatures per delivery). */
  @Post(':id/rotate-secret')
  @HttpCode(HttpStatus.OK)
  @ApiOkResponse({ type: WebhookWithSecretDto })
  @ApiNotFoundResponse({ description: 'No webhook with this id.' })
  rotateSecret(@Param('id', uuidParam('id')) id: string): Promise<WebhookWithSecretDto> {
    return this.webhooks.rotateSecret(id);
  }

  /** Queues a `webhook.test` event for this webhook. */
  @Post(':id/test')
  @HttpCode(HttpStatus.ACCEPTED)
  @ApiAcceptedResponse({ type: QueuedDeliveryDto })
  @ApiNotFoundResponse({ description: 'No webhook with this id.' })
  test(@Param('id', uuidParam('id')) id: string): Promise<QueuedDeliveryDto> {
    return this.webhooks.test(id);
  }

  /** The delivery log, newest first, with keyset pagination. */
  @Get(':id/deliveries')
  @ApiOkResponse({ type: DeliveryPageDto })
  @ApiBadRequestResponse({ description: 'A filter is malformed; the answer names the field.' })
  @ApiNotFoundResponse({ description: 'No webhook with this id.' })
  deliveries(
    @Param('id', uuidParam('id')) id: string,
    @Query() query: QueryDeliveriesDto,
  ): Promise<DeliveryPageDto> {
    return this.webhooks.deliveries(id, query);
  }

  /** Re-queues a delivery for one more attempt now. */
  @Post(':id/deliveries/:deliveryId/retry')
  @HttpCode(HttpStatus.ACCEPTED)
  @ApiAcceptedResponse({ type: QueuedDeliveryDto })
  @ApiNotFoundResponse({ description: 'No webhook, or no delivery of it, with this id.' })
  @ApiConflictResponse({ description: 'The webhook is disabled.' })
  retry(
    @Param('id', uuidParam('id')) id: string,
    @Param('deliveryId', uuidParam('deliveryId')) deliveryId: string,
  ): Promise<QueuedDeliveryDto> {
    return this.webhooks.retry(id, deliveryId);
  }
}
