import Redis, { Cluster } from 'ioredis';
import request from 'supertest';
import { ALERTS_STREAM, alertsChannel, workerStateKey } from '@pairwatch/contracts';
import { FakeUpholdServer } from '../apps/fake-ticker/src/fake-uphold.server';
import { eventually, startApi, TestApi } from './support/api';
import { describeWithDocker } from './support/docker';
import {
  RedisClusterSet,
  RedisProcess,
  SentinelSet,
  startRedisCluster,
  startSentinelSet,
} from './support/redis-topology';
import { SseClient } from './support/sse';
import { WebhookReceiver } from './support/webhook-receiver';

interface Topology {
  env(): Record<string, string>;
  /** The master holding the alert stream now. */
  streamMaster(): Promise<RedisProcess>;
  /** Reads a key wherever it lives. */
  client(): Redis;
  destroy(): Promise<void>;
}

const PAIR = 'BTC-USD';

/**
 * The whole slice on each Redis mode (its own servers on free ports, the API and a Docker worker pointed at
 * them, REDIS_WAIT_REPLICAS at its default of 1): a monitor's worker ticks, an alert is stored, listed in the
 * history, streamed over SSE, published on the live channel and delivered to a webhook, and the recent prices
 * are served.
 */
describe.each([
  [
    'sentinel',
    async (): Promise<Topology> => {
      const set: SentinelSet = await startSentinelSet();
      return {
        env: () => set.env(),
        streamMaster: () => set.master(),
        client: () =>
          new Redis({
            sentinels: set.sentinels.map((s) => ({ host: '127.0.0.1', port: s.port })),
            name: set.name,
          }),
        destroy: () => set.destroy(),
      };
    },
  ],
  [
    'cluster',
    async (): Promise<Topology> => {
      const set: RedisClusterSet = await startRedisCluster();
      return {
        env: () => set.env(),
        streamMaster: async () => (await set.shardOf(ALERTS_STREAM)).master,
        client: () =>
          new Cluster(
            set.nodes.slice(0, 3).map((n) => ({ host: '127.0.0.1', port: n.port })),
          ) as unknown as Redis,
        destroy: () => set.destroy(),
      };
    },
  ],
])('Redis in %s mode', (mode, start) => {
  describeWithDocker(`monitors → alerts → history, SSE, live channel, prices and a webhook (${mode})`, () => {
    let topology: Topology;
    let ticker: FakeUpholdServer;
    let receiver: WebhookReceiver;
    let api: TestApi;
    let reader: Redis;

    beforeAll(async () => {
      topology = await start();
      ticker = new FakeUpholdServer();
      await ticker.start(0, '127.0.0.1');
      ticker.setQuote(PAIR, { ask: '100', bid: '99.9' });
      receiver = await new WebhookReceiver().start();
      api = await startApi({
        env: {
          ...topology.env(),
          UPHOLD_API_URL: ticker.url,
          WEBHOOK_ALLOWED_HOSTS: receiver.hostPort,
        },
      });
      reader = topology.client();
    }, 120_000);

    afterAll(async () => {
      await api?.close();
      reader?.disconnect();
      await receiver?.stop();
      await ticker?.stop();
      await topology?.destroy();
    });

    it('runs the slice end to end', async () => {
      const hook = (
        await request(api.url)
          .post('/webhooks')
          .send({ url: receiver.url('/hook'), description: mode })
          .expect(201)
      ).body as { id: string };
      const stream = await SseClient.open(`${api.url}/alerts/stream`);
      const master = await topology.streamMaster();
      const live = new Redis(master.port, '127.0.0.1');
      const published: string[] = [];
      live.on('message', (_channel: string, message: string) => published.push(message));
      live.on('smessage', (_channel: string, message: string) => published.push(message));
      if (mode === 'cluster') await live.ssubscribe(alertsChannel(PAIR));
      else await live.subscribe(alertsChannel(PAIR));

      try {
        const monitor = (
          await request(api.url)
            .post('/monitors')
            .send({ pair: PAIR, intervalMs: 1000, thresholdPercent: 0.5 })
            .expect(201)
        ).body as { id: string };
        const prices = await eventually(
          'recent prices served',
          async () => {
            const res = await request(api.url).get(`/monitors/${monitor.id}/prices`).expect(200);
            const body = res.body as { at: string; ask: string }[] | { items: { at: string; ask: string }[] };
            const items = Array.isArray(body) ? body : body.items;
            return items.length > 0 ? items : undefined;
          },
          60_000,
        );
        expect(prices[0].ask).toBe('100');

        ticker.setQuote(PAIR, { ask: '102', bid: '101.9' });
        const [alert] = await eventually(
          'the alert in the history',
          async () => {
            const res = await request(api.url).get('/alerts').query({ pair: PAIR }).expect(200);
            const items = (res.body as { items: { id: string; price: string; monitorId: string }[] }).items;
            return items.length > 0 ? items : undefined;
          },
          30_000,
        );
        expect(alert).toMatchObject({ monitorId: monitor.id, price: '102' });
        await stream.waitForAlert(alert.id);
        await eventually('the alert on the live channel', () =>
          published.some((m) => (JSON.parse(m) as { id: string }).id === alert.id) ? true : undefined,
        );
        await eventually('the webhook delivery', () => (receiver.at('/hook').length > 0 ? true : undefined));
        expect(JSON.parse(receiver.at('/hook')[0].body)).toMatchObject({
          type: 'alert.created',
          data: { id: alert.id },
        });
        const deliveries = (await request(api.url).get(`/webhooks/${hook.id}/deliveries`).expect(200))
          .body as {
          items: { status: string }[];
        };
        expect(deliveries.items[0]).toMatchObject({
          status: expect.stringMatching(/delivered|pending|sending/),
        });

        // The worker waited for a replica (REDIS_WAIT_REPLICAS defaults to 1 here) and says so.
        const state = await reader.hgetall(workerStateKey(monitor.id));
        expect(state).toMatchObject({ status: 'running', replication: 'confirmed', unreplicatedAlerts: '0' });
        const health = (await request(api.url).get('/health').expect(200)).body as Record<string, unknown>;
        expect(JSON.stringify(health)).toMatch(/redis/i);
      } finally {
        stream.close();
        live.disconnect();
      }
    });
  });
});
