import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import Redis from 'ioredis';
import { Client } from 'pg';
import request from 'supertest';
import { ALERT_EVENT_FIELD, ALERTS_STREAM, AlertEvent } from '@pairwatch/contracts';
import { AlertIngestionService } from '../apps/api/src/alerts/alert-ingestion.service';
import {
  ALERTS_CHANNEL,
  NOTIFIED_IDS_PER_MESSAGE,
  parseNotifiedIds,
} from '../apps/api/src/alerts/alerts.repository';
import { LiveAlertsService } from '../apps/api/src/alerts/live-alerts.service';
import { eventually, resetTestState, startApi, TestApi } from './support/api';
import { ApiProcess, spawnApi } from './support/api-process';
import { SseClient } from './support/sse';
import { testDatabaseUrl, testRedisUrl } from './support/test-env';

const MONITOR_ID = randomUUID();
/** Observed times strictly increase in publish order, from a fixed start, one millisecond apart. */
let clock = Date.UTC(2026, 11, 1, 9);

function makeEvent(overrides: Partial<AlertEvent> = {}): AlertEvent {
  clock += 1;
  return {
    id: randomUUID(),
    monitorId: MONITOR_ID,
    pair: 'BTC-USD',
    ruleId: 'r1',
    kind: 'move',
    details: {},
    direction: 'up',
    priceField: 'ask',
    referencePrice: '63120.45',
    price: '63126.762045',
    changePercent: '0.01000000',
    thresholdPercent: '0.01',
    intervalMs: 5000,
    observedAt: new Date(clock).toISOString(),
    ...overrides,
  };
}

async function publish(redis: Redis, events: AlertEvent[]): Promise<void> {
  const tx = redis.multi();
  for (const event of events) tx.xadd(ALERTS_STREAM, '*', ALERT_EVENT_FIELD, JSON.stringify(event));
  await tx.exec();
}

async function stored(api: TestApi, ids: string[]): Promise<void> {
  await eventually(`${ids.length} alerts stored`, async () => {
    const [{ n }] = await api.db.query<{ n: number }[]>(
      'SELECT count(*)::int AS n FROM alerts WHERE id = ANY($1::uuid[])',
      [ids],
    );
    return n === ids.length ? true : undefined;
  });
}

const idsOf = (client: SseClient) => client.alerts().map((a) => a.id);

describe('GET /alerts/stream', () => {
  let api: TestApi;
  let redis: Redis;
  const open: SseClient[] = [];
  const connect = async (path: string, headers: Record<string, string> = {}) => {
    const client = await SseClient.open(`${api.url}${path}`, headers);
    open.push(client);
    return client;
  };

  beforeAll(async () => {
    redis = new Redis(testRedisUrl());
    api = await startApi({ env: { SSE_HEARTBEAT_MS: '300', SSE_MAX_CLIENTS: '4' } });
  });

  afterEach(() => {
    for (const client of open.splice(0)) client.close();
  });

  afterAll(async () => {
    await api?.close();
    redis?.disconnect();
  });

  const allClosed = () =>
    eventually('every stream closed on the API', () =>
      api.app.get(LiveAlertsService).size === 0 ? true : undefined,
    );

  it('sends each alert committed while connected once, as GET /alerts serves it, with its cursor as id', async () => {
    await allClosed();
    const client = await connect('/alerts/stream');
    expect(client.status).toBe(200);
    expect(client.headers['content-type']).toMatch(/^text\/event-stream/);
    const events = [makeEvent(), makeEvent({ pair: 'ETH-USD', direction: 'down' }), makeEvent()];
    await publish(redis, events);
    await client.waitForAlerts(3);
    // A later alert is a barrier: once it is here, a duplicate of the first three would be too.
    const barrier = makeEvent();
    await publish(redis, [barrier]);
    await client.waitForAlert(barrier.id);
    expect(idsOf(client)).toEqual([...events, barrier].map((e) => e.id));

    const history = (await request(api.url).get('/alerts').query({ limit: 4 }).expect(200)).body as {
      items: { id: string }[];
      nextCursor: string;
    };
    // Newest first there: the same objects, field for field.
    expect(client.alerts()).toEqual([...history.items].reverse());
    // The id is the history's cursor: paging on from the second newest gives the two before it.
    const second = client.events[2];
    const older = (await request(api.url).get('/alerts').query({ cursor: second.id, limit: 10 }).expect(200))
      .body as { items: { id: string }[] };
    expect(older.items.map((a) => a.id)).toEqual([events[1].id, events[0].id]);
    expect(client.events.every((e) => e.event === 'alert')).toBe(true);
  });

  it('streams a batch stored in one statement whole and in cursor order, its ids notified 200 to a message', async () => {
    const listener = new Client({ connectionString: testDatabaseUrl() });
    await listener.connect();
    const notified: string[][] = [];
    listener.on('notification', (message) => notified.push(parseNotifiedIds(message.payload)));
    try {
      await listener.query(`LISTEN ${ALERTS_CHANNEL}`);
      const client = await connect('/alerts/stream');
      // Published in one MULTI, read by one XREADGROUP of up to 1,000 and stored by one statement.
      const events = Array.from({ length: 2 * NOTIFIED_IDS_PER_MESSAGE + 50 }, () => makeEvent());
      await publish(redis, events);
      await client.waitForAlert(events[events.length - 1].id);
      const barrier = makeEvent();
      await publish(redis, [barrier]);
      await client.waitForAlert(barrier.id);
      expect(idsOf(client)).toEqual([...events, barrier].map((e) => e.id));
      const ids = notified.flat();
      expect(ids).toEqual([...events, barrier].map((e) => e.id));
      expect(notified.every((list) => list.length > 0 && list.length <= NOTIFIED_IDS_PER_MESSAGE)).toBe(true);
      expect(notified.length).toBeGreaterThanOrEqual(3);
    } finally {
      await listener.end();
    }
  });

  it('filters by pair and monitor, as GET /alerts does', async () => {
    const otherMonitor = randomUUID();
    const byPair = await connect('/alerts/stream?pair=eth-usd');
    const byMonitor = await connect(`/alerts/stream?monitorId=${otherMonitor}`);
    const eth = makeEvent({ pair: 'ETH-USD' });
    const other = makeEvent({ monitorId: otherMonitor });
    const btc = makeEvent();
    const ethLast = makeEvent({ pair: 'ETH-USD', monitorId: otherMonitor });
    await publish(redis, [eth, other, btc, ethLast]);
    await byPair.waitForAlert(ethLast.id);
    await byMonitor.waitForAlert(ethLast.id);
    expect(idsOf(byPair)).toEqual([eth.id, ethLast.id]);
    expect(idsOf(byMonitor)).toEqual([other.id, ethLast.id]);
  });

  it('sends what was committed while disconnected exactly once after reconnecting with Last-Event-ID (or ?after=)', async () => {
    const first = await connect('/alerts/stream');
    const seen = makeEvent();
    await publish(redis, [seen]);
    await first.waitForAlert(seen.id);
    const lastId = first.lastId() as string;
    first.close();

    const missed = [makeEvent(), makeEvent(), makeEvent()];
    await publish(redis, missed);
    await stored(
      api,
      missed.map((e) => e.id),
    );

    const again = await connect('/alerts/stream', { 'Last-Event-ID': lastId });
    await again.waitForAlerts(3);
    const live = makeEvent();
    await publish(redis, [live]);
    await again.waitForAlert(live.id);
    expect(idsOf(again)).toEqual([...missed, live].map((e) => e.id));

    // The same by query string, for clients that cannot set the header.
    const byQuery = await connect(`/alerts/stream?after=${encodeURIComponent(lastId)}`);
    await byQuery.waitForAlert(live.id);
    expect(idsOf(byQuery)).toEqual([...missed, live].map((e) => e.id));
  });

  it('misses nothing and repeats nothing across reconnects while alerts keep coming', async () => {
    await allClosed();
    const total = 1500;
    // Everything before this test's first alert is already known to the client.
    const start = await connect('/alerts/stream');
    const before = makeEvent();
    await publish(redis, [before]);
    await start.waitForAlert(before.id);
    let lastId = start.lastId() as string;
    start.close();
    const events = Array.from({ length: total }, () => makeEvent());

    const received: string[] = [];
    // Each chunk is committed before the next is published, so commit order is cursor order (see the README:
    // a resume is exact under that condition); the reconnects fall wherever the producer is.
    const producing = (async () => {
      for (let i = 0; i < total; i += 25) {
        const chunk = events.slice(i, i + 25);
        await publish(redis, chunk);
        await stored(
          api,
          chunk.map((e) => e.id),
        );
      }
    })();
    // Reconnect every 100 alerts or so, wherever the producer is: each seam falls somewhere else.
    while (received.length < total) {
      // The one before must be gone on the API too, or this one could find the limit reached.
      await allClosed();
      const client = await connect('/alerts/stream', { 'Last-Event-ID': lastId });
      expect(client.status).toBe(200);
      const want = Math.min(total, received.length + 100);
      await eventually(
        'the next alerts on a reconnected stream',
        () => (received.length + client.alerts().length >= want ? true : undefined),
        30_000,
        5,
      );
      client.close();
      received.push(...idsOf(client));
      lastId = client.lastId() ?? lastId;
    }
    await producing;
    expect(received).toHaveLength(total);
    expect(new Set(received).size).toBe(total);
    expect(received).toEqual(events.map((e) => e.id));
  });

  it('writes a heartbeat comment on an idle stream', async () => {
    const client = await connect('/alerts/stream');
    await eventually('a heartbeat comment', () => (client.comments.includes('heartbeat') ? true : undefined));
  });

  it('answers 503 past SSE_MAX_CLIENTS open streams, and opens again once one closes', async () => {
    await allClosed();
    const streams = [];
    for (let i = 0; i < 4; i++) streams.push(await connect('/alerts/stream'));
    expect(streams.map((s) => s.status)).toEqual([200, 200, 200, 200]);
    const refused = await connect('/alerts/stream');
    expect(refused.status).toBe(503);
    expect(refused.headers['retry-after']).toBe('5');
    expect(JSON.parse(refused.body)).toMatchObject({ message: [expect.stringMatching(/SSE_MAX_CLIENTS/)] });
    streams[0].close();
    await eventually('a stream accepted again', async () => {
      const client = await connect('/alerts/stream');
      if (client.status === 200) return true;
      client.close();
      return undefined;
    });
  });

  it('refuses bad filters and resume ids with a 400 naming the field, and opens no stream', async () => {
    await allClosed();
    const cases: [string, Record<string, string>, string][] = [
      ['?pair=BTC/USD', {}, 'pair'],
      ['?monitorId=42', {}, 'monitorId'],
      ['?after=nope', {}, 'after'],
      ['?limit=5', {}, 'limit'],
      ['', { 'Last-Event-ID': 'eyJ2IjoxLCJ0IjoiMjAyNi0xMS0yNCIsImlkIjoiMSJ9' }, 'Last-Event-ID'],
    ];
    for (const [query, headers, field] of cases) {
      const res = await request(api.url).get(`/alerts/stream${query}`).set(headers).expect(400);
      expect((res.body as { errors: { field: string }[] }).errors.map((e) => e.field)).toContain(field);
    }
    expect(api.app.get(LiveAlertsService).size).toBe(0);
  });
});

describe('GET /alerts/stream with an API key', () => {
  let api: TestApi;
  const key = 'k'.repeat(8) + randomUUID();
  const open: SseClient[] = [];

  beforeAll(async () => {
    api = await startApi({ env: { API_KEY: key } });
  });

  afterAll(async () => {
    for (const client of open) client.close();
    await api?.close();
  });

  it('needs the key, in X-API-Key or Authorization: Bearer', async () => {
    const cases: [Record<string, string>, number][] = [
      [{}, 401],
      [{ 'X-API-Key': 'wrong-key-wrong-key' }, 401],
      [{ Authorization: 'Bearer wrong-key-wrong-key' }, 401],
      [{ 'X-API-Key': key }, 200],
      [{ Authorization: `Bearer ${key}` }, 200],
    ];
    for (const [headers, status] of cases) {
      const client = await SseClient.open(`${api.url}/alerts/stream`, headers);
      open.push(client);
      expect([headers, client.status]).toEqual([headers, status]);
    }
    // The history takes the bearer key too.
    await request(api.url).get('/alerts').set('Authorization', `Bearer ${key}`).expect(200);
  });
});

describe('GET /alerts/stream on two replicas', () => {
  let a: TestApi;
  let b: TestApi;
  let redis: Redis;
  let client: SseClient | undefined;

  beforeAll(async () => {
    redis = new Redis(testRedisUrl());
    a = await startApi();
    b = await startApi({ keepState: true });
    // Only replica A ingests: whatever B's client receives was stored by A.
    await b.app.get(AlertIngestionService).onApplicationShutdown();
  });

  afterAll(async () => {
    client?.close();
    await b?.close();
    await a?.close();
    redis?.disconnect();
  });

  it('a client on replica B sees every alert replica A stored', async () => {
    client = await SseClient.open(`${b.url}/alerts/stream`);
    const events = Array.from({ length: 50 }, () => makeEvent());
    await publish(redis, events);
    await stored(
      a,
      events.map((e) => e.id),
    );
    await client.waitForAlerts(50);
    expect(idsOf(client)).toEqual(events.map((e) => e.id));
    // And it resumes on A from the last id B sent.
    const lastId = client.lastId() as string;
    client.close();
    const more = [makeEvent(), makeEvent()];
    await publish(redis, more);
    await stored(
      a,
      more.map((e) => e.id),
    );
    client = await SseClient.open(`${a.url}/alerts/stream`, { 'Last-Event-ID': lastId });
    await client.waitForAlerts(2);
    expect(idsOf(client)).toEqual(more.map((e) => e.id));
  });
});

/** Resident memory of a process, in bytes (Linux /proc). */
function rssBytes(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('VmRSS:'));
  return Number(/(\d+)/.exec(line ?? '')?.[1] ?? NaN) * 1024;
}

describe('GET /alerts/stream with a client that stops reading (the built API, as its own process)', () => {
  const TOTAL = 40_000;
  const BUFFER = 262_144;
  let api: ApiProcess | undefined;
  let redis: Redis;
  const clients: SseClient[] = [];

  beforeAll(async () => {
    await resetTestState();
    redis = new Redis(testRedisUrl());
    api = await spawnApi({ SSE_CLIENT_BUFFER_BYTES: String(BUFFER) });
  });

  afterAll(async () => {
    for (const client of clients) client.close();
    await api?.kill('SIGTERM');
    redis?.disconnect();
    await resetTestState();
  });

  it('drops it past SSE_CLIENT_BUFFER_BYTES while thousands of alerts flow (API memory printed)', async () => {
    const url = `${api!.url}/alerts/stream`;
    const pid = api!.child.pid as number;
    // A reader that keeps up (and, should it ever lag past the limit itself, resumes from its last id).
    const read: { id: string }[] = [];
    let reader = await SseClient.open(url);
    clients.push(reader);
    let bytes = 0;
    const follow = (count: number) => async () => {
      if (reader.ended) {
        read.push(...reader.alerts());
        bytes += reader.received;
        reader = await SseClient.open(url, { 'Last-Event-ID': reader.lastId() ?? '' });
        clients.push(reader);
      }
      return read.length + reader.alerts().length >= count ? true : undefined;
    };
    // Batch after batch, each received (so committed) before the next is published: commit order is cursor
    // order, which makes the resume below exact (see the README).
    const flow = async (round: AlertEvent[], from: number) => {
      for (let i = 0; i < round.length; i += 1000) {
        await publish(redis, round.slice(i, i + 1000));
        await eventually('the batch at the reading client', follow(from + i + 1000), 60_000, 20);
      }
    };
    // A first round with no slow client brings the API's heap to what this flow needs.
    const warmUp = Array.from({ length: TOTAL }, () => makeEvent());
    await flow(warmUp, 0);
    const before = rssBytes(pid);
    const bytesBefore = bytes + reader.received;

    const slow = await SseClient.open(url);
    clients.push(slow);
    slow.pause();
    const events = Array.from({ length: TOTAL }, () => makeEvent());
    await flow(events, TOTAL);
    read.push(...reader.alerts());
    expect(read.map((a) => a.id)).toEqual([...warmUp, ...events].map((e) => e.id));
    const after = rssBytes(pid);
    const frameBytes = bytes + reader.received - bytesBefore;
    console.log(
      `slow client: API RSS ${(before / 2 ** 20).toFixed(1)} MiB before, ${(after / 2 ** 20).toFixed(1)} MiB after ` +
        `${TOTAL} alerts (${(frameBytes / 2 ** 20).toFixed(1)} MiB of events per stream), buffer limit ${BUFFER} bytes`,
    );
    await eventually('the API to say it dropped the slow stream', () =>
      api!.output().includes('dropped a stream whose client fell') ? true : undefined,
    );
    // Reading again, the slow client gets what the kernel held, then the end: the server closed it, far short.
    slow.resume();
    await eventually('the slow stream to end', () => (slow.ended ? true : undefined), 30_000);
    expect(slow.received).toBeLessThan(frameBytes / 2);
    // RSS is printed, not asserted: the heap's own growth under this flow (~20 MiB here) is as large as the
    // backlog an unbounded API would keep (measured with the limit at 1 GiB: +34 MiB instead of +19 MiB).
    // It resumes from its last id and catches up, exactly.
    const resumed = await SseClient.open(url, { 'Last-Event-ID': slow.lastId() as string });
    clients.push(resumed);
    await resumed.waitForAlert(events[TOTAL - 1].id, 120_000);
    expect([...slow.alerts(), ...resumed.alerts()].map((a) => a.id)).toEqual(events.map((e) => e.id));
  }, 300_000);
});
