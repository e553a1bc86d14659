import Redis from 'ioredis';
import request from 'supertest';
import type { ChannelWithSecretDto } from '../apps/api/src/channels/dto/channel.dto';
import { alertmanagerInstalled, TestAlertmanager } from './support/alertmanager';
import { alertEvent, publishAlerts } from './support/alert-events';
import { eventually, startApi, TestApi } from './support/api';
import { testRedisUrl } from './support/test-env';

const describeWithAlertmanager = alertmanagerInstalled() || process.env.CI ? describe : describe.skip;

/** The alertmanager channel against Debian's prometheus-alertmanager, read back through its own API v2. */
describeWithAlertmanager('alertmanager channel (a real Alertmanager)', () => {
  let am: TestAlertmanager;
  let api: TestApi;
  let redis: Redis;

  beforeAll(async () => {
    am = await new TestAlertmanager().start();
    api = await startApi({ env: { CHANNEL_ALLOWED_HOSTS: `127.0.0.1:${am.port}` } });
    redis = new Redis(testRedisUrl());
  });

  afterAll(async () => {
    await api?.close();
    redis?.disconnect();
    await am?.stop();
  });

  it('posts each alert with its labels and price annotations, resolving by itself an hour on', async () => {
    const channel = (
      await request(api.url)
        .post('/channels')
        .send({ type: 'alertmanager', config: { url: am.url } })
        .expect(201)
    ).body as ChannelWithSecretDto;
    const event = alertEvent('ETH-USD', {
      direction: 'down',
      priceField: 'bid',
      referencePrice: '3120.45',
      price: '3050.10',
      changePercent: '-2.25',
      thresholdPercent: '2',
    });
    await publishAlerts(redis, [event]);
    const alert = await eventually('the alert in Alertmanager', async () =>
      (await am.alerts()).find((a) => a.labels.monitor === event.monitorId),
    );
    expect(alert.labels).toEqual({
      alertname: 'pairwatch_alert_created',
      pair: 'ETH-USD',
      kind: 'move',
      direction: 'down',
      monitor: event.monitorId,
    });
    expect(alert.annotations).toMatchObject({
      price: '3050.10',
      referencePrice: '3120.45',
      changePercent: '-2.25',
    });
    expect(alert.annotations.summary).toMatch(/^ETH-USD down 2\.25 %/);
    expect(alert.status.state).toBe('active');
    expect(Date.parse(alert.endsAt) - Date.parse(alert.startsAt)).toBe(3_600_000);
    await request(api.url).delete(`/channels/${channel.id}`).expect(204);
  });
});
