import { Injectable } from '@nestjs/common';
import { decodeCursor, encodeCursor } from './alert-cursor';
import { AlertsRepository } from './alerts.repository';
import { AlertPageDto } from './dto/alert.dto';
import { QueryAlertsDto } from './dto/query-alerts.dto';
import { pageLimit } from '../common/dto/page-query.dto';

@Injectable()
export class AlertsService {
  constructor(private readonly alerts: AlertsRepository) {}

  async history(query: QueryAlertsDto): Promise<AlertPageDto> {
    const limit = pageLimit(query);
    // One row more than asked tells whether another page exists.
    const rows = await this.alerts.history({
      pair: query.pair,
      monitorId: query.monitorId,
      kind: query.kind,
      ruleId: query.ruleId,
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
