import { randomUUID } from 'node:crypto';
import { sampleAlertEvent } from '../alerts/testing/alert-event.fixture';
import { labelValues, parsePrometheusText, sampleValue } from '../../../../test/support/prometheus-text';
import { MAX_PAIR_LABELS, OTHER_PAIR, PairwatchMetrics } from './pairwatch-metrics';

const T0 = Date.parse('2026-12-01T20:00:00.000Z');

const alert = (pair: string, observedAtMs = T0) =>
  sampleAlertEvent({ id: randomUUID(), pair, observedAt: new Date(observedAtMs).toISOString() });

const scrape = async (metrics: PairwatchMetrics) => parsePrometheusText(await metrics.registry.metrics());

describe(PairwatchMetrics.name, () => {
  let metrics: PairwatchMetrics;
  beforeEach(() => (metrics = new PairwatchMetrics()));
  afterEach(() => metrics.registry.clear());

  it('exposes strict Prometheus text with help texts, default process metrics included', async () => {
    const families = await scrape(metrics);
    expect(families.get('process_cpu_user_seconds_total')?.type).toBe('counter');
    expect(families.get('pairwatch_ingest_lag_seconds')?.type).toBe('histogram');
    for (const family of families.values()) expect(family.help.length).toBeGreaterThan(5);
  });

  it('counts only the new alerts of a batch, by pair, with their lag from observedAt to commit', async () => {
    const batch = [alert('BTC-USD', T0 - 40), alert('BTC-USD', T0 - 2000), alert('ETH-EUR', T0 - 40)];
    const duplicate = alert('ETH-EUR');
    metrics.alertsStored([...batch, duplicate], new Set(batch.map((a) => a.id)), T0);
    const families = await scrape(metrics);
    expect(sampleValue(families, 'pairwatch_alerts_ingested_total', { pair: 'BTC-USD' })).toBe(2);
    expect(sampleValue(families, 'pairwatch_alerts_ingested_total', { pair: 'ETH-EUR' })).toBe(1);
    const count = 'pairwatch_ingest_lag_seconds_count';
    expect(sampleValue(families, 'pairwatch_ingest_lag_seconds', {}, count)).toBe(3);
    const bucket = 'pairwatch_ingest_lag_seconds_bucket';
    expect(sampleValue(families, 'pairwatch_ingest_lag_seconds', { le: '0.05' }, bucket)).toBe(2);
    expect(sampleValue(families, 'pairwatch_ingest_lag_seconds', { le: '2.5' }, bucket)).toBe(3);
  });

  it(`keeps the pair label bounded: invalid pairs and those past ${MAX_PAIR_LABELS} count as "${OTHER_PAIR}"`, async () => {
    const events = Array.from({ length: MAX_PAIR_LABELS + 5 }, (_, i) => alert(`P${i}-USD`));
    events.push(alert('btc-usd"}'), alert('X'));
    metrics.alertsStored(events, new Set(events.map((e) => e.id)), T0);
    const pairs = labelValues(await scrape(metrics), 'pair');
    expect(pairs.size).toBe(MAX_PAIR_LABELS + 1);
    expect(pairs.has('btc-usd"}')).toBe(false);
    expect(sampleValue(await scrape(metrics), 'pairwatch_alerts_ingested_total', { pair: OTHER_PAIR })).toBe(
      7,
    );
  });

  it('counts webhook attempts by outcome and worker deaths', async () => {
    metrics.webhookAttempt('delivered');
    metrics.webhookAttempt('retrying');
    metrics.webhookAttempt('retrying');
    metrics.workerDied();
    const families = await scrape(metrics);
    expect(sampleValue(families, 'pairwatch_webhook_deliveries_total', { outcome: 'retrying' })).toBe(2);
    expect(sampleValue(families, 'pairwatch_webhook_deliveries_total', { outcome: 'delivered' })).toBe(1);
    expect(sampleValue(families, 'pairwatch_worker_restarts_total')).toBe(1);
  });

  it('counts channel deliveries by type and outcome, held and suppressed ones too', async () => {
    metrics.channelDelivery('email', 'delivered');
    metrics.channelDelivery('telegram', 'held', 3);
    metrics.channelDelivery('telegram', 'suppressed', 0);
    const families = await scrape(metrics);
    expect(
      sampleValue(families, 'pairwatch_channel_deliveries_total', { type: 'email', outcome: 'delivered' }),
    ).toBe(1);
    expect(
      sampleValue(families, 'pairwatch_channel_deliveries_total', { type: 'telegram', outcome: 'held' }),
    ).toBe(3);
    expect(
      sampleValue(families, 'pairwatch_channel_deliveries_total', {
        type: 'telegram',
        outcome: 'suppressed',
      }),
    ).toBeUndefined();
  });
});

describe(parsePrometheusText.name, () => {
  it.each([
    ['a sample without TYPE', 'x 1\n'],
    ['a TYPE without HELP', '# TYPE x counter\nx 1\n'],
    ['an empty help', '# HELP x \n# TYPE x gauge\nx 1\n'],
    ['a bad label', '# HELP x h\n# TYPE x gauge\nx{a=b} 1\n'],
    ['a bad value', '# HELP x h\n# TYPE x gauge\nx 1,5\n'],
    ['a sample of another family', '# HELP x h\n# TYPE x gauge\ny 1\n'],
    ['a histogram without +Inf', '# HELP h h\n# TYPE h histogram\nh_bucket{le="1"} 1\nh_count 1\nh_sum 1\n'],
    ['no final newline', '# HELP x h\n# TYPE x gauge\nx 1'],
  ])('refuses %s', (_name, text) => {
    expect(() => parsePrometheusText(text)).toThrow();
  });
});
