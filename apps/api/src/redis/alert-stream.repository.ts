import { Inject, Injectable } from '@nestjs/common';
import {
  ALERT_EVENT_FIELD,
  ALERTS_CONSUMER_GROUP,
  ALERTS_DEAD_LETTER_STREAM,
  ALERTS_STREAM,
  LEGACY_ALERTS_STREAM,
} from '@pairwatch/contracts';
import { APP_CONFIG, AppConfig } from '../config/app.config';
import { EventStreamRepository } from './event-stream.repository';

export { compareIds, nextId } from './event-stream.repository';
export type { StreamEntry } from './event-stream.repository';

/** The alert streams the API reads: today's, and the one of the key names before the hash tags (upgrades). */
export type AlertStreamKey = typeof ALERTS_STREAM | typeof LEGACY_ALERTS_STREAM;

/**
 * The alerts stream, read by the API's alert ingestion (its connections are named pairwatch-api…); the stream
 * of the old key names (LEGACY_ALERTS_STREAM) is drained through it after an upgrade.
 */
@Injectable()
export class AlertStreamRepository extends EventStreamRepository {
  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    super(
      config.redis,
      {
        stream: ALERTS_STREAM,
        group: ALERTS_CONSUMER_GROUP,
        deadLetter: ALERTS_DEAD_LETTER_STREAM,
        field: ALERT_EVENT_FIELD,
        legacy: LEGACY_ALERTS_STREAM,
      },
      'pairwatch-api',
    );
  }
}
