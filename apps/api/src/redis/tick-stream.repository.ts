import { Inject, Injectable } from '@nestjs/common';
import {
  TICK_EVENT_FIELD,
  TICKS_CONSUMER_GROUP,
  TICKS_DEAD_LETTER_STREAM,
  TICKS_STREAM,
} from '@pairwatch/contracts';
import { APP_CONFIG, AppConfig } from '../config/app.config';
import { EventStreamRepository } from './event-stream.repository';

/** The ticks stream, read by the API's tick archive (its connections are named pairwatch-archive…). */
@Injectable()
export class TickStreamRepository extends EventStreamRepository {
  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    super(
      config.redis,
      {
        stream: TICKS_STREAM,
        group: TICKS_CONSUMER_GROUP,
        deadLetter: TICKS_DEAD_LETTER_STREAM,
        field: TICK_EVENT_FIELD,
      },
      'pairwatch-archive',
      // One round trip a batch less at 300 ticks/s (bench/archive.bench.ts); the alerts' stream acks at once.
      { ackWithNextRead: true },
    );
  }
}
