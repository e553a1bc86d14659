import { Injectable } from '@nestjs/common';
import { decodeCursor, encodeCursor } from './alert-cursor';
import { AlertsRepository } from './alerts.repository';
import { AlertPageDto } from './dto/alert.dto';
import { ALERTS_LIMIT, QueryAlertsDto } from './dto/query-alerts.dto';

@Injectable()
export class AlertsService {
  constructor(private readonly alerts: AlertsRepository) {}

  async history(query: QueryAlertsDto): Promise<AlertPageDto> {
    const limit = Math.min(ALERTS_LIMIT.max, Math.max(ALERTS_LIMIT.min, query.limit ?? ALERTS_LIMIT.default));
    // One row more than asked tells whether another page exists.
    const rows = await this.alerts.history({
      pair: query.pair,
      monitorId: query.monitorId,
      since: query.since ? new Date(query.since) : undefined,
      until: query.until ? new Date(query.until) : undefined,
      after: query.cursor ? decodeCursor(query.cursor) : undefined,
      limit: limit + 1,
    });
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    // The rows are already in the served shape (AlertDto): no per-row mapping.
    return {
      items: page,
      nextCursor:
        rows.length > limit && last
          ? encodeCursor({ observedAt: new Date(last.observedAt), id: last.id })
          : null,
    };
  }
}
