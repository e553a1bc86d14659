import Redis from 'ioredis';
import { ALERT_EVENT_FIELD, ALERTS_CONSUMER_GROUP, ALERTS_STREAM } from '@pairwatch/contracts';
import type { ApiProcess } from '../api-process';
import { streamInfo, withClient } from './alert-ledger';
import { sleep } from './util';

export interface KillReport {
  at: number;
  /** The API's consumer in the group (`<host>-<pid>-<random>`). */
  consumer: string | undefined;
  /** Entries delivered to it and not acknowledged when it died. */
  pending: number;
  /** Of those, how many had no row yet when it died (read, not yet inserted). */
  pendingNotStored: number;
  attempts: number;
}

/** The alert ids of the entries pending at one consumer. */
async function pendingAlertIds(redisUrl: string, consumer: string): Promise<string[]> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  redis.on('error', () => undefined);
  try {
    const pending = (await redis.xpending(
      ALERTS_STREAM,
      ALERTS_CONSUMER_GROUP,
      '-',
      '+',
      10_000,
      consumer,
    )) as [string, string, number, number][];
    if (pending.length === 0) return [];
    const pipeline = redis.pipeline();
    for (const [id] of pending) pipeline.xrange(ALERTS_STREAM, id, id);
    const results = (await pipeline.exec()) ?? [];
    const ids: string[] = [];
    for (const [, value] of results) {
      const entries = value as [string, string[]][];
      const fields = entries[0]?.[1] ?? [];
      const at = fields.indexOf(ALERT_EVENT_FIELD);
      if (at >= 0) ids.push((JSON.parse(fields[at + 1]) as { id: string }).id);
    }
    return ids;
  } finally {
    redis.disconnect();
  }
}

async function countStored(databaseUrl: string, ids: string[]): Promise<number> {
  if (ids.length === 0) return 0;
  return withClient(databaseUrl, async (client) => {
    const result = await client.query<{ n: string }>(
      'SELECT count(*) AS n FROM alerts WHERE id = ANY($1::uuid[])',
      [ids],
    );
    return Number(result.rows[0].n);
  });
}

export interface KillOptions {
  /** The stream and group whose entries the API must hold when it dies: the alerts' by default. */
  stream?: string;
  group?: string;
  /**
   * The alerts' database: with it, a moment when some pending alerts have no row yet is preferred for the
   * first two thirds of the attempts. Without it, any pending entry will do.
   */
  databaseUrl?: string;
  attempts?: number;
}

/**
 * SIGKILLs an API while its consumer holds unacknowledged entries (preferably, with `databaseUrl`, some whose
 * rows are not committed yet: read, not yet inserted) within `attempts`: the API is frozen (SIGSTOP), its
 * pending entries are looked at, and it is killed when they qualify, or thawed (SIGCONT) to try again a moment
 * later. A frozen process acknowledges nothing, so the pending count read is the one it dies with (an INSERT
 * it had already sent may still commit: `pendingNotStored` is an upper bound).
 */
export async function killHoldingPending(
  api: ApiProcess,
  redisUrl: string,
  { stream, group, databaseUrl, attempts = 300 }: KillOptions = {},
): Promise<KillReport> {
  const pid = api.child.pid;
  if (pid === undefined) throw new Error('the API process has no pid');
  let consumer: string | undefined;
  let pending = 0;
  let pendingNotStored = 0;
  let attempt = 0;
  for (attempt = 1; attempt <= attempts; attempt += 1) {
    process.kill(pid, 'SIGSTOP');
    const mine = (await streamInfo(redisUrl, stream, group)).consumers.find((c) =>
      c.name.includes(`-${pid}-`),
    );
    consumer = mine?.name;
    pending = mine?.pending ?? 0;
    if (consumer && pending > 0) {
      if (databaseUrl === undefined) break;
      const ids = await pendingAlertIds(redisUrl, consumer);
      pendingNotStored = ids.length - (await countStored(databaseUrl, ids));
      // Any pending entry will do in the last third of the attempts.
      if (pendingNotStored > 0 || attempt > (attempts * 2) / 3) break;
    }
    if (attempt === attempts) break;
    process.kill(pid, 'SIGCONT');
    await sleep(2 + Math.floor(Math.random() * 15));
  }
  const at = Date.now();
  await api.kill('SIGKILL');
  return { at, consumer, pending, pendingNotStored, attempts: attempt };
}
