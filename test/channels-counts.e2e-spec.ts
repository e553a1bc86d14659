import Redis from 'ioredis';
import { eventually, startApi, type TestApi } from './support/api';
import {
  expectedDeliveries,
  runScenario,
  scenarioSettled,
  tallyScenario,
  tallyTable,
  type ScenarioHost,
} from './support/noise-scenario';
import { testRedisUrl } from './support/test-env';
import { WebhookReceiver } from './support/webhook-receiver';

/**
 * The noise rules counted: 400 alerts in two waves to 20 channels (plain, digests, quiet hours in three zones,
 * quiet hours with a digest, snoozed; filters by pair and monitor; two muted monitors). What the receiver got
 * (own messages, digests and the alerts in each) and the log's `suppressed` entries must be exactly what
 * test/support/noise-oracle.ts predicts from the rules' definition and the alerts' commit times, every alert
 * in exactly one of its own message, a digest, a suppressed entry. bench/channels.bench.ts runs the same at
 * 10,000 alerts with real quiet-hour ends.
 */
describe('channels: messages and digests counted as the noise rules predict', () => {
  let receiver: WebhookReceiver;
  let api: TestApi;
  let redis: Redis;

  beforeAll(async () => {
    receiver = await new WebhookReceiver().start();
    api = await startApi({ env: { CHANNEL_ALLOWED_HOSTS: receiver.hostPort } });
    redis = new Redis(testRedisUrl());
  });

  afterAll(async () => {
    await api?.close();
    redis?.disconnect();
    await receiver?.stop();
  });

  it('400 alerts, 20 channels: every count as predicted, every alert accounted for once', async () => {
    const host: ScenarioHost = {
      apiUrl: api.url,
      receiverUrl: `http://${receiver.hostPort}`,
      query: <T>(sql: string, params: unknown[] = []) => api.db.query<T[]>(sql, params),
      redis,
    };
    // Quiet windows that end well after the test: their end is brought forward below, as the clock would.
    const quietEnd = new Date(Math.ceil((Date.now() + 20 * 60_000) / 60_000) * 60_000);
    const run = await runScenario(host, {
      alerts: 400,
      waves: 2,
      digestWindowMs: 1500,
      waveGapMs: 4000,
      quietEnd,
    });
    const ids = [...run.ids.values()];
    // Everything decided, and every hold but the quiet windows' let go.
    await eventually(
      'all but the quiet holds settled',
      async () => {
        const [row] = await api.db.query<{ alerts: number; open: number; early: number }[]>(
          `SELECT count(*) FILTER (WHERE event_type = 'alert.created')::int AS alerts,
                  count(*) FILTER (WHERE status = 'pending')::int AS open,
                  count(*) FILTER (WHERE status = 'held' AND next_attempt_at < $2)::int AS early
           FROM webhook_deliveries WHERE webhook_id = ANY ($1::uuid[])`,
          [ids, quietEnd],
        );
        return row.alerts === expectedDeliveries(run) && row.open === 0 && row.early === 0 ? true : undefined;
      },
      30_000,
    );
    await api.db.query(
      `UPDATE webhook_deliveries SET next_attempt_at = now() WHERE status = 'held' AND webhook_id = ANY ($1::uuid[])`,
      [ids],
    );
    await eventually(
      'every delivery settled',
      async () => ((await scenarioSettled(host, run)) ? true : undefined),
      30_000,
    );

    const tallies = await tallyScenario(host, run, receiver.requests);
    const mismatches = tallies.filter((t) => t.problems.length > 0);
    expect(mismatches.length ? tallyTable(tallies) : []).toEqual([]);
    // Not vacuous: every outcome happens, on the channels meant for it.
    const total = (pick: (t: (typeof tallies)[number]) => number) => tallies.reduce((n, t) => n + pick(t), 0);
    expect(total((t) => t.got.own)).toBeGreaterThan(0);
    expect(total((t) => t.got.digests)).toBeGreaterThanOrEqual(19);
    expect(total((t) => t.got.suppressed)).toBeGreaterThan(0);
    expect(tallies.find((t) => t.key === 'snoozed-all')?.got.suppressed).toBe(400);
  });
});
