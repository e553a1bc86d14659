import type { ApiProcess } from '../support/api-process';
import { withClient } from '../support/faults/alert-ledger';
import { spawnFaultApi } from '../support/faults/fault-api';
import { PostgresCluster, startPostgresCluster } from '../support/faults/postgres-cluster';
import { PublisherFeed } from '../support/faults/publisher-feed';
import { RedisServer, startRedisServer } from '../support/faults/redis-server';
import { seconds, sleep, waitFor } from '../support/faults/util';
import { ReceivedRequest, WebhookReceiver } from '../support/webhook-receiver';

const ALERTS = 500;
/**
 * Longer than the alerts take to be made (about 12 s), so every delivery is refused at least once; then the
 * receiver is back. On a slower machine the refusal lasts until every delivery has been refused (waited for below).
 */
const REFUSED_MS = 15_000;
/** The pause between the feed's alerts: 500 of them over about 12 s, inside the refusal. */
const ALERT_GAP_MS = 60;
const QUEUED = 1_000;
/** Long enough in all (less 20 % jitter: over 35 s) to outlast the 15 s refusal; a few seconds at its end. */
const RETRY_SCHEDULE = '1s,2s,3s,4s,5s,5s,5s,5s,5s,5s';
/**
 * The dispatcher's lease (WEBHOOK_LEASE_MS, 60 s by default) at its minimum: what the killed API had in flight is
 * due again when it runs out, and that is all the second case waits on; a longer one would show the same later.
 */
const LEASE_MS = 30_000;

interface DeliveryRow {
  id: string;
  status: string;
  attempts: number;
  eventId: string;
}

async function deliveryRows(databaseUrl: string, webhookIds: string[]): Promise<DeliveryRow[]> {
  return withClient(databaseUrl, async (client) => {
    const result = await client.query<DeliveryRow>(
      `SELECT id, status, jsonb_array_length(attempts)::int AS attempts, event_id AS "eventId"
       FROM webhook_deliveries WHERE webhook_id = ANY($1::uuid[])`,
      [webhookIds],
    );
    return result.rows;
  });
}

async function register(api: ApiProcess, url: string): Promise<string> {
  const res = await fetch(`${api.url}/webhooks`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ url }),
  });
  if (res.status !== 201) throw new Error(`POST /webhooks answered ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { id: string }).id;
}

/** What a receiver got, by webhook-id: unique ids, and the requests that repeated one already seen. */
function tally(requests: ReceivedRequest[]): {
  ids: Set<string>;
  duplicates: number;
  bodies: Map<string, string>;
} {
  const ids = new Set<string>();
  const bodies = new Map<string, string>();
  let duplicates = 0;
  for (const r of requests) {
    const id = String(r.headers['webhook-id']);
    if (ids.has(id)) {
      duplicates += 1;
      // A repeat is the same message: same id, same event.
      expect(JSON.parse(r.body).data).toEqual(JSON.parse(bodies.get(id) ?? '{}').data);
    } else bodies.set(id, r.body);
    ids.add(id);
  }
  return { ids, duplicates, bodies };
}

describe('faults: webhook deliveries through a refusing receiver and a killed API', () => {
  let postgres: PostgresCluster;
  let redis: RedisServer;
  let feed: PublisherFeed | undefined;
  const receiver = new WebhookReceiver();
  const apis: ApiProcess[] = [];
  const spawn = async () => {
    const api = await spawnFaultApi(
      { postgres, redis },
      {
        WEBHOOK_ALLOWED_HOSTS: receiver.hostPort,
        WEBHOOK_RETRY_SCHEDULE: RETRY_SCHEDULE,
        WEBHOOK_LEASE_MS: String(LEASE_MS),
      },
    );
    apis.push(api);
    return api;
  };

  beforeAll(async () => {
    [postgres, redis] = await Promise.all([startPostgresCluster(), startRedisServer(), receiver.start()]);
  });

  afterAll(async () => {
    for (const api of apis) await api.kill('SIGKILL');
    await feed?.close();
    await receiver.stop().catch(() => undefined);
    await Promise.all([postgres?.destroy(), redis?.destroy()]);
  });

  it(`delivers all ${ALERTS} alerts made while the receiver refused connections for ${REFUSED_MS / 1000} s, by webhook-id`, async () => {
    const api = await spawn();
    const port = receiver.port;
    const hookId = await register(api, receiver.url('/refusing'));
    await receiver.stop();
    const refusedAt = Date.now();

    // 500 alerts over about 12 s, by four simulated workers, through the stream and the outbox.
    feed = new PublisherFeed(redis.url, 4);
    await feed.burst(ALERTS, () => sleep(ALERT_GAP_MS));
    const madeIn = Date.now() - refusedAt;
    expect(await feed.flushAll()).toBe(true);
    expect(feed.ledger.size).toBe(ALERTS);
    await waitFor(
      `${ALERTS} deliveries queued, each attempted and refused`,
      async () => {
        const rows = await deliveryRows(postgres.url, [hookId]);
        const refused = rows.filter((r) => r.status === 'pending' && r.attempts > 0).length;
        console.log(`  queued ${rows.length}, refused at least once ${refused}`);
        return rows.length === ALERTS && refused === ALERTS;
      },
      Math.max(20_000, refusedAt + REFUSED_MS - Date.now()),
      2_000,
    );
    const beforeBack = await deliveryRows(postgres.url, [hookId]);
    // The outage lasts its REFUSED_MS whatever the machine's pace: this is the fault, not a wait for an outcome.
    await sleep(Math.max(0, refusedAt + REFUSED_MS - Date.now()));
    await receiver.start(port);
    const backAt = Date.now();
    expect(receiver.requests).toHaveLength(0);

    const allAt = await waitFor(
      `all ${ALERTS} delivered`,
      async () => (await deliveryRows(postgres.url, [hookId])).every((r) => r.status === 'delivered'),
      60_000,
    );
    const rows = await deliveryRows(postgres.url, [hookId]);
    const got = tally(receiver.at('/refusing'));
    const missing = rows.filter((r) => !got.ids.has(r.id));
    const unknown = [...got.ids].filter((id) => !rows.some((r) => r.id === id));
    const alertIds = new Set(
      [...got.bodies.values()].map((b) => (JSON.parse(b) as { data: { id: string } }).data.id),
    );
    const refusedAttempts = beforeBack.reduce((sum, r) => sum + r.attempts, 0);
    console.log(
      `[faults] webhooks, receiver refusing ${seconds(REFUSED_MS)}: alerts=${ALERTS} deliveries=${rows.length} ` +
        `received=${got.ids.size} missing=${missing.length} unknownIds=${unknown.length} ` +
        `duplicates=${got.duplicates} refusedAttempts=${refusedAttempts} ` +
        `alertsMadeIn=${seconds(madeIn)} allDeliveredAfterBack=${seconds(allAt - backAt)}`,
    );
    expect(rows).toHaveLength(ALERTS);
    expect(missing).toEqual([]);
    expect(unknown).toEqual([]);
    expect(got.ids.size).toBe(ALERTS);
    expect(alertIds.size).toBe(ALERTS);
    expect([...alertIds].filter((id) => !feed?.ledger.has(id))).toEqual([]);
    await api.kill('SIGTERM');
  }, 240_000);

  it(`delivers all ${QUEUED} queued deliveries after the API is SIGKILLed with some in flight`, async () => {
    if (!receiver.isListening) await receiver.start(receiver.port);
    receiver.answer = () => ({ status: 200, delayMs: 50 });
    const first = await spawn();
    const hooks: string[] = [];
    for (const path of ['/k1', '/k2', '/k3', '/k4']) hooks.push(await register(first, receiver.url(path)));
    const paths = new Set(['/k1', '/k2', '/k3', '/k4']);
    const received = () => receiver.requests.filter((r) => paths.has(r.path));
    await withClient(postgres.url, (client) =>
      client.query(
        `INSERT INTO webhook_deliveries (webhook_id, event_type, event_id, occurred_at, payload, next_attempt_at)
         SELECT ($1::uuid[])[1 + i % 4], 'webhook.test', i::text, now(), jsonb_build_object('n', i), now()
         FROM generate_series(1, $2::int) AS i`,
        [hooks, QUEUED],
      ),
    );
    await waitFor('a quarter of them sent', () => received().length >= QUEUED / 4, 60_000);
    // Frozen, then killed: what it had in flight stays leased, unrecorded.
    process.kill(first.child.pid!, 'SIGSTOP');
    const atKill = await deliveryRows(postgres.url, hooks);
    const sentAtKill = tally(received()).ids;
    await first.kill('SIGKILL');
    const killedAt = Date.now();
    const delivered = atKill.filter((r) => r.status === 'delivered').length;
    const inFlight = atKill.filter((r) => r.status === 'pending' && sentAtKill.has(r.id)).length;
    const queued = atKill.length - delivered - inFlight;
    expect(queued).toBeGreaterThan(0);

    await spawn();
    const allAt = await waitFor(
      `all ${QUEUED} delivered after the restart`,
      async () => (await deliveryRows(postgres.url, hooks)).every((r) => r.status === 'delivered'),
      150_000,
    );
    const rows = await deliveryRows(postgres.url, hooks);
    const got = tally(received());
    const missing = rows.filter((r) => !got.ids.has(r.id));
    const unknown = [...got.ids].filter((id) => !rows.some((r) => r.id === id));
    console.log(
      `[faults] webhooks, API SIGKILL with ${QUEUED} queued: atKill delivered=${delivered} inFlight=${inFlight} ` +
        `queued=${queued}; after restart received=${got.ids.size} missing=${missing.length} ` +
        `unknownIds=${unknown.length} duplicates=${got.duplicates} allDeliveredAfterKill=${seconds(allAt - killedAt)}`,
    );
    expect(rows).toHaveLength(QUEUED);
    expect(missing).toEqual([]);
    expect(unknown).toEqual([]);
    expect(got.ids.size).toBe(QUEUED);
    // Only what was in flight at the kill (sent, its answer never recorded) can arrive twice.
    expect(got.duplicates).toBeLessThanOrEqual(inFlight);
  }, 240_000);
});
