import type { WorkerStateReader } from '../redis/worker-state.reader';
import type { MonitorsRepository } from '../monitors/monitors.repository';
import type { MonitorsService } from '../monitors/monitors.service';
import type { AlertStreamRepository } from '../redis/alert-stream.repository';
import type { UpholdClient } from '../uphold/uphold.client';
import type { WebhooksRepository } from '../channels/webhooks.repository';
import { parsePrometheusText, sampleValue } from '../../../../test/support/prometheus-text';
import { COLLECT_TIMEOUT_MS, MetricsCollector } from './metrics.collector';
import { PairwatchMetrics } from '../telemetry/pairwatch-metrics';

describe(MetricsCollector.name, () => {
  let metrics: PairwatchMetrics;
  const stream = { pendingCount: jest.fn() };
  const monitorsRepository = { countByStatus: jest.fn() };
  const monitors = { overview: jest.fn() };
  const webhooks = { countPending: jest.fn() };
  const uphold = { relayUpstreamRequests: jest.fn() };

  beforeEach(() => {
    metrics = new PairwatchMetrics();
    stream.pendingCount.mockResolvedValue(3);
    monitorsRepository.countByStatus.mockResolvedValue({ starting: 1, running: 4, stopped: 2, failed: 0 });
    monitors.overview.mockResolvedValue({ plan: { requests: [], requestsPerMin: 50 }, limitPerMin: 250 });
    webhooks.countPending.mockResolvedValue(7);
    uphold.relayUpstreamRequests.mockResolvedValue({
      'list:200': 40,
      'pair:404': 2,
      'list:network-error': 1,
      'pair:bad status"}': 5,
      'elsewhere:200': 9,
    });
    new MetricsCollector(
      metrics,
      stream as unknown as AlertStreamRepository,
      monitorsRepository as unknown as MonitorsRepository,
      monitors as unknown as MonitorsService,
      webhooks as unknown as WebhooksRepository,
      uphold as unknown as UpholdClient,
      {
        mode: 'cluster',
        replication: () => ({ workersShort: 1, unreplicatedAlerts: 4 }),
      } as unknown as WorkerStateReader,
    ).onModuleInit();
  });
  afterEach(() => metrics.registry.clear());

  const scrape = async () => parsePrometheusText(await metrics.registry.metrics());

  it('reads the gauges at scrape time through the doors, and says each read worked', async () => {
    const families = await scrape();
    expect(sampleValue(families, 'pairwatch_monitors', { status: 'running' })).toBe(4);
    expect(sampleValue(families, 'pairwatch_monitors', { status: 'failed' })).toBe(0);
    expect(sampleValue(families, 'pairwatch_stream_pending')).toBe(3);
    expect(sampleValue(families, 'pairwatch_webhook_queue_depth')).toBe(7);
    expect(sampleValue(families, 'pairwatch_upstream_budget_ratio')).toBe(0.2);
    expect(sampleValue(families, 'pairwatch_redis_mode', { mode: 'cluster' })).toBe(1);
    expect(sampleValue(families, 'pairwatch_workers_replication_short')).toBe(1);
    expect(sampleValue(families, 'pairwatch_worker_unreplicated_alerts')).toBe(4);
    for (const collector of ['monitors', 'stream_pending', 'webhook_queue', 'budget', 'upstream']) {
      expect(sampleValue(families, 'pairwatch_collector_up', { collector })).toBe(1);
    }
  });

  it("passes the relay's upstream counts on by endpoint and status, leaving out labels it does not know", async () => {
    metrics.apiUpstreamRequest('pair', '404');
    const families = await scrape();
    const upstream = families.get('pairwatch_upstream_requests_total')!;
    expect(upstream.samples.map((s) => [s.labels, s.value])).toEqual([
      [{ endpoint: 'list', status: '200' }, 40],
      [{ endpoint: 'pair', status: '404' }, 3],
      [{ endpoint: 'list', status: 'network-error' }, 1],
    ]);
  });

  it("keeps the relay's last counts when it stops answering, and says so", async () => {
    await scrape();
    uphold.relayUpstreamRequests.mockRejectedValue(new Error('connection refused'));
    const families = await scrape();
    expect(
      sampleValue(families, 'pairwatch_upstream_requests_total', { endpoint: 'list', status: '200' }),
    ).toBe(40);
    expect(sampleValue(families, 'pairwatch_collector_up', { collector: 'upstream' })).toBe(0);
  });

  it(`gives up on a read after ${COLLECT_TIMEOUT_MS} ms: the scrape still answers, the gauge keeps its value`, async () => {
    await scrape();
    stream.pendingCount.mockReturnValue(new Promise(() => undefined));
    const start = Date.now();
    const families = await scrape();
    expect(Date.now() - start).toBeLessThan(COLLECT_TIMEOUT_MS * 3);
    expect(sampleValue(families, 'pairwatch_stream_pending')).toBe(3);
    expect(sampleValue(families, 'pairwatch_collector_up', { collector: 'stream_pending' })).toBe(0);
  });
});
