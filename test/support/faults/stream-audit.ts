import Redis from 'ioredis';
import { ALERT_EVENT_FIELD, ALERTS_STREAM } from '@pairwatch/contracts';
import { groupCaughtUp } from '../stream';
import { eventually } from '../wait';
import { sleep } from './util';

/** Stream ids are "ms-seq": compared as numbers. */
function compareStreamIds(a: string, b: string): number {
  const [am, as] = a.split('-').map(BigInt);
  const [bm, bs] = b.split('-').map(BigInt);
  if (am !== bm) return am < bm ? -1 : 1;
  return as === bs ? 0 : as < bs ? -1 : 1;
}

/** A consumer group of the test's own on the alerts stream: it sees every entry, in stream order. */
export const AUDIT_GROUP = 'pairwatch-faults-audit';

export interface AuditedEntry {
  streamId: string;
  alertId: string;
  monitorId: string;
}

/**
 * Reads the alerts stream through a group of its own (acknowledging as it goes, so the API's trimming,
 * which waits for every group, never takes an entry before it was seen) and keeps every entry in order:
 * what the workers actually appended, re-sends included. Rides out Redis outages.
 */
export class StreamAudit {
  readonly entries: AuditedEntry[] = [];
  private readonly redis: Redis;
  private running = true;
  private readonly loop: Promise<void>;

  /** `group`: the consumer group's name; two audits on one stream each need their own (a group splits entries). */
  constructor(
    redisUrl: string,
    private readonly group = AUDIT_GROUP,
  ) {
    this.redis = new Redis(redisUrl, { maxRetriesPerRequest: null, connectionName: group });
    this.redis.on('error', () => undefined);
    this.loop = this.run();
  }

  /** Reads what is left (until its group has been handed and has acknowledged every entry), then stops. */
  async stop(timeoutMs = 15_000): Promise<void> {
    if (!this.running) return;
    try {
      await eventually(
        'the audit to have read the whole alerts stream',
        async () => ((await groupCaughtUp(this.redis, ALERTS_STREAM, this.group)) ? true : undefined),
        timeoutMs,
        100,
      );
    } finally {
      this.running = false;
      await this.loop;
      this.redis.disconnect();
    }
  }

  /** Each monitor's alert ids in stream order, first appearance only. */
  orderByMonitor(): Map<string, string[]> {
    const seen = new Set<string>();
    const order = new Map<string, string[]>();
    for (const entry of [...this.entries].sort((a, b) => compareStreamIds(a.streamId, b.streamId))) {
      if (seen.has(entry.alertId)) continue;
      seen.add(entry.alertId);
      order.set(entry.monitorId, [...(order.get(entry.monitorId) ?? []), entry.alertId]);
    }
    return order;
  }

  /** Entries whose alert id appeared earlier in the stream (a re-send after an unanswered MULTI). */
  get duplicates(): number {
    return this.entries.length - new Set(this.entries.map((e) => e.alertId)).size;
  }

  private async run(): Promise<void> {
    let ready = false;
    const seen = new Set<string>();
    while (this.running) {
      try {
        if (!ready) {
          await this.redis
            .xgroup('CREATE', ALERTS_STREAM, this.group, '0', 'MKSTREAM')
            .catch((error: Error) => {
              if (!error.message.includes('BUSYGROUP')) throw error;
            });
          ready = true;
        }
        // Entries delivered to us whose reply was lost (a connection cut; ioredis re-sends the read) are
        // still pending: read them back first, as the API's consumer does.
        let batch = await this.read('0');
        if (batch.length === 0) batch = await this.read('>');
        for (const [streamId, fields] of batch) {
          if (seen.has(streamId)) continue;
          seen.add(streamId);
          const at = fields.indexOf(ALERT_EVENT_FIELD);
          const event = JSON.parse(fields[at + 1]) as { id: string; monitorId: string };
          this.entries.push({ streamId, alertId: event.id, monitorId: event.monitorId });
        }
        if (batch.length > 0) await this.redis.xack(ALERTS_STREAM, this.group, ...batch.map(([id]) => id));
      } catch {
        await sleep(100);
      }
    }
  }

  private async read(from: '0' | '>'): Promise<[string, string[]][]> {
    const args: (string | number)[] = ['GROUP', this.group, 'audit', 'COUNT', 1000];
    if (from === '>') args.push('BLOCK', 200);
    args.push('STREAMS', ALERTS_STREAM, from);
    const reply = (await this.redis.call('XREADGROUP', ...args)) as [string, [string, string[]][]][] | null;
    return reply?.[0]?.[1] ?? [];
  }
}
