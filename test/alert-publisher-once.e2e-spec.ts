import { randomUUID } from 'node:crypto';
import Redis from 'ioredis';
import { ALERT_EVENT_FIELD, ALERTS_STREAM, alertSentKey, standaloneRedis } from '@pairwatch/contracts';
import {
  AlertPublisher,
  createWorkerRedis,
  IoRedisTransactions,
  SENT_MARKER_TTL_MS,
} from '../apps/worker/src/alert-publisher';
import { captureLogger, workerSettings } from '../apps/worker/src/testing/worker.fakes';
import { testRedisUrl } from './support/test-env';

/** Busy-waits: the event loop of a process starved of CPU (a machine at load 20 on 2 cores) for that long. */
function starve(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    // nothing: no timer, no socket read runs meanwhile
  }
}

/**
 * A worker's alert whose send ran on the real Redis while the worker's event loop was starved past its 1 s command
 * timeout: ioredis fails the command before it reads the answer, the alert stays queued and is sent again. Its
 * marker, set in the same script, makes that re-send write nothing: one stream entry, counted sent once.
 */
describe('an alert sent again after its answer was lost is on the stream once (real Redis)', () => {
  let reader: Redis;
  let publisher: AlertPublisher | undefined;

  beforeAll(() => {
    reader = new Redis(testRedisUrl());
  });

  afterAll(async () => {
    // As the worker closes it: a connection merely disconnected is connected again (reviveWhenEnded), and would
    // keep jest from exiting.
    await publisher?.close(1000);
    reader?.disconnect();
  });

  it('the command timeout fires on a starved loop after Redis ran the script: one entry, no drop, sent once', async () => {
    const { logger, lines } = captureLogger();
    const settings = workerSettings({ monitorId: randomUUID() });
    const connection = createWorkerRedis(
      standaloneRedis(testRedisUrl()),
      logger,
      'pairwatch-e2e:publish-once',
    );
    await connection.ping();
    publisher = new AlertPublisher(new IoRedisTransactions(connection), { settings, logger });
    // The loop starves right after the script went out to Redis, for longer than the command timeout (1 s).
    const evalOnce = connection.eval.bind(connection);
    let starved = false;
    connection.eval = ((...args: Parameters<typeof evalOnce>) => {
      const sent = evalOnce(...args);
      if (!starved) {
        starved = true;
        starve(1500);
      }
      return sent;
    }) as typeof connection.eval;
    const firing = {
      ruleId: 'r1',
      kind: 'move',
      details: {},
      direction: 'up',
      priceField: 'ask',
      referencePrice: '100',
      price: '101',
      changePercent: '1',
      thresholdPercent: '0.5',
    } as const;

    const first = await publisher.publish(firing, Date.now());
    // Redis ran it, but the worker could not know: kept, as the lost answer may have been a failure.
    expect(first).toMatchObject({ kind: 'queued' });
    if (first.kind !== 'queued') throw new Error('unreachable');
    const id = first.event.id;
    const second = await publisher.publish({ ...firing, price: '102' }, Date.now());
    if (second.kind !== 'sent') throw new Error(`the second alert was not sent: ${second.kind}`);

    const entries = (await reader.xrange(ALERTS_STREAM, '-', '+')).filter(([, fields]) => {
      const json = fields[fields.indexOf(ALERT_EVENT_FIELD) + 1];
      return json.includes(`"monitorId":"${settings.monitorId}"`);
    });
    const ids = entries.map(([, fields]) => (JSON.parse(fields[1]) as { id: string }).id);
    expect(ids).toEqual([id, second.event.id]);
    expect(publisher.stats).toMatchObject({ sent: 2, pending: 0, dropped: 0 });
    expect(lines.map((l) => l.msg)).toContain(
      'alert already on Redis (an earlier send ran, its answer was lost): not written again',
    );
    const ttl = await reader.pttl(alertSentKey(id));
    expect(ttl).toBeGreaterThan(SENT_MARKER_TTL_MS - 60_000);
    expect(ttl).toBeLessThanOrEqual(SENT_MARKER_TTL_MS);
    await reader.xdel(ALERTS_STREAM, ...entries.map(([entryId]) => entryId));
  });
});
