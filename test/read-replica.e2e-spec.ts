import { randomUUID } from 'node:crypto';
import request from 'supertest';
import type { AlertEvent, TickEvent } from '@pairwatch/contracts';
import { encodeCursor } from '../apps/api/src/alerts/alert-cursor';
import { AlertsRepository } from '../apps/api/src/alerts/alerts.repository';
import { TickArchiveRepository } from '../apps/api/src/analytics/tick-archive.repository';
import { ReadReplica } from '../apps/api/src/database/read-replica';
import { eventually, startApi, TestApi, truncateAll } from './support/api';
import { parsePrometheusText, sampleValue } from './support/prometheus-text';
import { describeWithPostgresServer, StreamingPair } from './support/replica';
import { SseClient } from './support/sse';

const MONITOR_ID = randomUUID();
/** Ticks of an hour ago: in today's partition (made at start), in the past. */
const TICK_MINUTE = Math.floor((Date.now() - 3_600_000) / 60_000) * 60_000;

let clock = Date.parse('2026-11-20T08:00:00.000Z');
function alert(): AlertEvent {
  clock += 1000;
  return {
    id: randomUUID(),
    monitorId: MONITOR_ID,
    pair: 'BTC-USD',
    ruleId: 'r1',
    kind: 'move',
    details: {},
    direction: 'up',
    priceField: 'ask',
    referencePrice: '100',
    price: '101',
    changePercent: '1',
    thresholdPercent: '0.5',
    intervalMs: 5000,
    observedAt: new Date(clock).toISOString(),
  };
}

interface Health {
  status: string;
  replica: { status: string; lagMs: number | null; serving: boolean; error?: string };
}

describeWithPostgresServer('read replica: DATABASE_READ_URL serves the reads that may lag', () => {
  let pair: StreamingPair;
  let api: TestApi | undefined;

  const start = async (maxLagMs: number, keepRows = false) => {
    api = await startApi({
      env: {
        DATABASE_URL: pair.primaryUrl,
        DATABASE_READ_URL: pair.replicaUrl,
        READ_MAX_LAG_MS: String(maxLagMs),
      },
    });
    // This suite's own primary: what an earlier test stored there is removed (the replica replays that too).
    if (!keepRows) await truncateAll(api.db);
    return api;
  };
  const stop = async () => {
    await api?.close();
    api = undefined;
  };
  const health = async (on: TestApi) => (await request(on.url).get('/health').expect(200)).body as Health;
  const historyIds = async (on: TestApi) =>
    (
      (await request(on.url).get('/alerts?limit=500').expect(200)).body as { items: { id: string }[] }
    ).items.map((a) => a.id);
  const replicaReads = async (on: TestApi) =>
    sampleValue(
      parsePrometheusText((await request(on.url).get('/metrics').expect(200)).text),
      'pairwatch_database_reads_total',
      { server: 'replica' },
    ) ?? 0;
  const replicaHas = async (id: string) =>
    (await pair.onReplica('SELECT 1 FROM alerts WHERE id = $1', [id])).length === 1;
  const serving = (on: TestApi, want: boolean) =>
    eventually(`the replica ${want ? 'serving' : 'left'}`, async () => {
      const body = await health(on);
      return body.replica.serving === want ? body : undefined;
    });

  beforeAll(async () => {
    pair = await StreamingPair.start();
  }, 120_000);

  afterEach(stop);

  afterAll(async () => {
    await stop();
    await pair?.close();
  });

  it('reads there while it keeps up; paused past READ_MAX_LAG_MS the primary answers, and the replica again once it caught up', async () => {
    const on = await start(1000);
    const alerts = on.app.get(AlertsRepository);
    const first = alert();
    await alerts.insertBatch([first]);
    const body = await serving(on, true);
    expect(body.replica).toMatchObject({ status: 'up', serving: true });
    expect(body.replica.lagMs).toEqual(expect.any(Number));
    await eventually('the first alert on the replica', async () =>
      (await replicaHas(first.id)) ? true : undefined,
    );
    const before = await replicaReads(on);
    expect(await historyIds(on)).toEqual([first.id]);
    expect(await replicaReads(on)).toBeGreaterThan(before);

    await pair.pauseReplay();
    const second = alert();
    await alerts.insertBatch([second]);
    // The replica has not replayed it; once its lag passes 1 s the history comes from the primary, with it.
    const lagging = await serving(on, false);
    expect(lagging.status).toBe('ok');
    expect(lagging.replica.status).toBe('lagging');
    expect(lagging.replica.lagMs).toBeGreaterThan(1000);
    expect(await historyIds(on)).toEqual([second.id, first.id]);
    expect(await replicaHas(second.id)).toBe(false);
    const metrics = parsePrometheusText((await request(on.url).get('/metrics').expect(200)).text);
    expect(sampleValue(metrics, 'pairwatch_replica_serving')).toBe(0);
    expect(sampleValue(metrics, 'pairwatch_replica_lag_seconds')).toBeGreaterThan(1);

    await pair.resumeReplay();
    await serving(on, true);
    expect(await replicaHas(second.id)).toBe(true);
    const again = await replicaReads(on);
    expect(await historyIds(on)).toEqual([second.id, first.id]);
    expect(await replicaReads(on)).toBeGreaterThan(again);
  });

  it('resumes the stream exactly from the primary while the replica lags behind what it serves', async () => {
    // A limit far above the pause: the replica keeps serving history pages, without the rows it has not replayed.
    const on = await start(600_000);
    const alerts = on.app.get(AlertsRepository);
    const seen = alert();
    await alerts.insertBatch([seen]);
    await serving(on, true);
    await eventually('the first alert on the replica', async () =>
      (await replicaHas(seen.id)) ? true : undefined,
    );
    await pair.pauseReplay();
    try {
      const missed = [alert(), alert(), alert()];
      await alerts.insertBatch(missed);
      expect((await health(on)).replica.serving).toBe(true);
      expect(await historyIds(on)).toEqual([seen.id]);

      const client = await SseClient.open(`${on.url}/alerts/stream`, {
        'Last-Event-ID': encodeCursor({ observedAt: new Date(seen.observedAt), id: seen.id }),
      });
      try {
        for (const a of missed) await client.waitForAlert(a.id);
        const live = alert();
        await alerts.insertBatch([live]);
        await client.waitForAlert(live.id);
        expect(client.alerts().map((a) => a.id)).toEqual([...missed, live].map((a) => a.id));
      } finally {
        client.close();
      }
    } finally {
      await pair.resumeReplay();
    }
  });

  it('answers every read from the primary while the replica is stopped, and starts with it stopped', async () => {
    const ticks: TickEvent[] = [0, 20, 40].map((s, i) => ({
      monitorId: MONITOR_ID,
      pair: 'BTC-USD',
      at: new Date(TICK_MINUTE + s * 1000).toISOString(),
      ask: `${100 + i}.5`,
      bid: `${100 + i}`,
    }));
    let on = await start(1000);
    await on.app.get(TickArchiveRepository).insertBatch(ticks);
    const stored = alert();
    await on.app.get(AlertsRepository).insertBatch([stored]);
    await serving(on, true);

    const reads = async (to: TestApi) => {
      const since = new Date(TICK_MINUTE).toISOString();
      const until = new Date(TICK_MINUTE + 60_000).toISOString();
      expect(await historyIds(to)).toContain(stored.id);
      const candles = (
        await request(to.url)
          .get(`/pairs/BTC-USD/candles?interval=1m&since=${since}&until=${until}`)
          .expect(200)
      ).body as { open: string; close: string; ticks: number }[];
      expect(candles).toEqual([expect.objectContaining({ open: '100.5', close: '102.5', ticks: 3 })]);
      const stats = (await request(to.url).get('/alerts/stats?since=2026-11-20&until=2026-11-21').expect(200))
        .body as { total: number }[];
      expect(stats[0].total).toBeGreaterThanOrEqual(1);
      const archived = await to.app
        .get(TickArchiveRepository)
        .ticks('BTC-USD', new Date(since), new Date(until), 10);
      expect(archived.map((t) => t.ask)).toEqual(['100.5', '101.5', '102.5']);
    };

    pair.stopReplica();
    try {
      // Straight after the stop, before any check saw it: the reads the replica fails are made on the primary.
      await reads(on);
      const down = await eventually('the replica reported down', async () => {
        const body = await health(on);
        return body.replica.status === 'down' ? body : undefined;
      });
      expect(down.status).toBe('ok');
      expect(down.replica).toMatchObject({ serving: false, lagMs: null, error: expect.any(String) });
      await reads(on);

      await stop();
      on = await start(1000, true);
      expect((await health(on)).replica.serving).toBe(false);
      await reads(on);
    } finally {
      await pair.startReplica();
    }
    await serving(on, true);
    const back = await replicaReads(on);
    await reads(on);
    expect(await replicaReads(on)).toBeGreaterThan(back);
    expect(on.app.get(ReadReplica).status.status).toBe('up');
  });
});
