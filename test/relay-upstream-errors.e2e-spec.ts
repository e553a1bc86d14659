import request from 'supertest';
import { FakeFault, FakeUpholdServer } from '../apps/fake-ticker/src/fake-uphold.server';
import { eventually, startApi, TestApi } from './support/api';
import type { AlertBody, ErrorBody, MonitorBody } from './support/bodies';
import { describeWithDocker, docker } from './support/docker';
import { freePort } from './support/faults/util';
import {
  relayContainers,
  relayHealth,
  relayStats,
  reportWhere,
  runningRelay,
  tickAfter,
} from './support/relay';
import { TEST_ENV } from './support/test-env';

/**
 * The relay (UPHOLD_RELAY=on, Docker runtime, real worker containers) against an upstream that misbehaves:
 * a 429 with Retry-After, lists with a watched pair missing or garbage entries, a list that is not an array,
 * a 5xx and a hang; and admission refusing a monitor that would take the upstream plan past the budget.
 * What each case asserts is seen at the fake (what reached "Uphold"), in the workers' own reports (their
 * state hashes) and in the API (alerts, monitors); the load and kill cases are in test/faults/relay-load-and-kill.fault-spec.ts.
 */
const INTERVAL_MS = 1000;
/** Each bad price below would be a move of far more than this, and so an alert, if it were served. */
const THRESHOLD_PERCENT = 0.5;
const RETRY_AFTER_S = 10;

describeWithDocker('the relay under upstream faults (UPHOLD_RELAY=on, Docker runtime)', () => {
  let ticker: FakeUpholdServer;
  let relayPort: number;
  let api: TestApi | undefined;

  beforeEach(async () => {
    ticker = new FakeUpholdServer();
    await ticker.start(0, '127.0.0.1');
    relayPort = await freePort();
  });

  afterEach(async () => {
    await api?.close();
    api = undefined;
    await ticker.stop();
  });

  /** An API with the relay on, once its relay answers (pair checks go through it). */
  async function start(env: Record<string, string> = {}): Promise<TestApi> {
    const started = await startApi({
      env: {
        UPHOLD_RELAY: 'on',
        RELAY_PORT: String(relayPort),
        UPHOLD_API_URL: ticker.url,
        RECONCILE_INTERVAL_MS: '3000',
        ...env,
      },
    });
    // A loaded engine may take a while to create and start the relay's container.
    await eventually(
      '/health to report the relay up',
      async () => {
        const h = await relayHealth(started);
        return h.relay.status === 'up' ? true : undefined;
      },
      60_000,
    );
    return started;
  }

  async function post(pair: string, intervalMs = INTERVAL_MS): Promise<request.Response> {
    return request(api!.url)
      .post('/monitors')
      .send({ pair, intervalMs, thresholdPercent: THRESHOLD_PERCENT });
  }

  /** Monitors for `pairs`, each once its worker has read its first price. */
  async function watch(pairs: string[]): Promise<Map<string, MonitorBody>> {
    const monitors = new Map<string, MonitorBody>();
    for (const pair of pairs) {
      const res = await post(pair);
      expect(res.status).toBe(201);
      monitors.set(pair, res.body as MonitorBody);
    }
    for (const monitor of monitors.values()) await tickAfter(api!, monitor.id, 0);
    return monitors;
  }

  async function alerts(): Promise<AlertBody[]> {
    return ((await request(api!.url).get('/alerts').expect(200)).body as { items: AlertBody[] }).items;
  }

  /** The relay container, still the first one and never restarted; its /healthz answers at once. */
  async function relayStillUp(id: string): Promise<void> {
    const [relay] = await relayContainers();
    expect(relay.Id).toBe(id);
    const inspected = await docker.getContainer(id).inspect();
    expect(inspected.State.Running).toBe(true);
    expect(inspected.RestartCount).toBe(0);
    const res = await fetch(`http://127.0.0.1:${relayPort}/healthz`, { signal: AbortSignal.timeout(1000) });
    expect(res.status).toBe(200);
  }

  it(`after a 429 with Retry-After: ${RETRY_AFTER_S} sends nothing upstream for ${RETRY_AFTER_S} s; workers report rate-limited, then tick again`, async () => {
    for (const pair of ['BTC-USD', 'ETH-USD']) ticker.setPrice(pair, '100');
    api = await start();
    const monitors = [...(await watch(['BTC-USD', 'ETH-USD'])).values()];

    ticker.failNextList('USD', { status: 429, retryAfterSeconds: RETRY_AFTER_S });
    const refused = await eventually('the fake to answer the USD list with a 429', () =>
      ticker.requestLog({ kind: 'list', target: 'USD', status: 429 }).at(0),
    );
    for (const monitor of monitors) {
      const report = await reportWhere(
        monitor.id,
        'rate-limited',
        (r) => r.status === 'rate-limited' && Date.parse(r.lastTickAt) >= refused.at,
      );
      expect(report.lastError).toMatch(/^rate limited by Uphold \(429\); next request in \d+ ms$/);
    }
    // Ticks resume once the pause is over, with the price the list has then.
    const pauseEnds = refused.at + RETRY_AFTER_S * 1000;
    ticker.setPrice('BTC-USD', '100.1');
    await tickAfter(api, monitors[0].id, pauseEnds, '100.1');
    await tickAfter(api, monitors[1].id, pauseEnds);

    // Counted at the fake: not one request (list or pair, any client) arrived during the pause.
    const log = ticker.requestLog();
    expect(log.filter((r) => r.at > refused.at && r.at < pauseEnds)).toEqual([]);
    const next = log.find((r) => r.at > refused.at)!;
    expect(next).toMatchObject({ kind: 'list', target: 'USD', status: 200 });
    expect(ticker.requestCount({ kind: 'pair' })).toBe(0);
    const stats = await relayStats(relayPort);
    expect(stats.upstreamRequests['list:429']).toBe(1);
    expect(stats.answers['429']).toBeGreaterThanOrEqual(monitors.length);
    console.log(
      `[relay] 429 Retry-After ${RETRY_AFTER_S}: 0 upstream requests during the pause; the next one ` +
        `${next.at - refused.at} ms after the 429; ${stats.answers['429']} answers 429 to workers; ` +
        `every worker ticked again`,
    );
    expect(await alerts()).toEqual([]);
  });

  it('serves no bad price and stays up on lists with a pair missing, garbage entries, not an array, a 5xx and a hang', async () => {
    const pairs = ['BTC-USD', 'ETH-USD', 'XRP-USD', 'LTC-USD', 'DOGE-USD', 'ADA-USD'];
    for (const pair of pairs) ticker.setPrice(pair, '100');
    api = await start();
    const monitors = await watch(pairs);
    const id = (pair: string): string => monitors.get(pair)!.id;
    const relay = await runningRelay();

    // Entries: BTC-USD missing, ETH-USD without an ask, XRP-USD at "0", LTC-USD in exponent notation,
    // DOGE-USD twice (the second at 1); ADA-USD untouched. Each bad price is a move far past the threshold.
    const armedAt = Date.now();
    ticker.omitFromList('USD', 'BTC-USD');
    ticker.editList('USD', { pair: 'ETH-USD', set: { ask: null } });
    ticker.editList('USD', { pair: 'XRP-USD', set: { ask: '0' } });
    ticker.editList('USD', { pair: 'LTC-USD', set: { ask: '1e3', bid: '1e3' } });
    ticker.editList('USD', { duplicate: 'DOGE-USD', set: { ask: '1', bid: '1' } });
    const expected: [string, RegExp][] = [
      ['ETH-USD', /^Uphold answered HTTP 502: the USD list entry for ETH-USD: .*ask/],
      ['XRP-USD', /^Uphold answered HTTP 502: the USD list entry for XRP-USD: .*ask/],
      ['LTC-USD', /^Uphold answered HTTP 502: the USD list entry for LTC-USD: .*ask/],
      ['DOGE-USD', /^Uphold answered HTTP 502: the USD list holds 2 entries for DOGE-USD; none is served$/],
    ];
    const reported: Record<string, string> = {};
    for (const [pair, error] of expected) {
      const report = await reportWhere(
        id(pair),
        String(error),
        (r) => r.status === 'retrying' && error.test(r.lastError) && Date.parse(r.lastTickAt) > armedAt,
      );
      reported[pair] = report.lastError;
    }
    // The pair no list holds any more is served by its own endpoint once the relay has the edited list (a tick
    // right after arming may still come from the list cached before it); the untouched one as before.
    await eventually("the relay to ask BTC-USD's own endpoint", () =>
      ticker.requestCount({ kind: 'pair', target: 'BTC-USD', sinceMs: armedAt }) > 0 ? true : undefined,
    );
    await tickAfter(api, id('BTC-USD'), Date.now(), '100');
    await tickAfter(api, id('ADA-USD'), armedAt, '100');
    expect((await relayStats(relayPort)).pairEndpointOnly).toEqual(['BTC-USD']);
    await relayStillUp(relay.Id);

    ticker.clearListEdits('USD');
    const fromList = pairs.filter((pair) => pair !== 'BTC-USD');
    const editsCleared = Date.now();
    for (const pair of fromList) await tickAfter(api, id(pair), editsCleared, '100');

    // Whole answers the relay cannot use: every worker it serves from the list reports it, then recovers.
    const faults: [string, FakeFault, RegExp][] = [
      [
        'a list that is not an array',
        { body: '{"not":"an array"}' },
        /HTTP 502: currency list is not a JSON array/,
      ],
      ['a 503', { status: 503 }, /^Uphold answered HTTP 503$/],
      ['a 10 s hang', { hangMs: 10_000 }, /timed out after 5000 ms/],
    ];
    for (const [what, fault, error] of faults) {
      const from = Date.now();
      ticker.failNextList('USD', fault, Infinity);
      for (const pair of fromList) {
        const report = await reportWhere(
          id(pair),
          `${what}: ${String(error)}`,
          (r) => r.status === 'retrying' && error.test(r.lastError) && Date.parse(r.lastTickAt) > from,
        );
        reported[`${pair} on ${what}`] = report.lastError;
      }
      // Meanwhile the relay answers at once (for the pair it serves from its own endpoint, too).
      await relayStillUp(relay.Id);
      await tickAfter(api, id('BTC-USD'), from, '100');
      ticker.clearFaults('USD');
      const cleared = Date.now();
      for (const pair of fromList) await tickAfter(api, id(pair), cleared, '100');
    }
    console.log(`[relay] bad upstream answers, as the workers reported them: ${JSON.stringify(reported)}`);

    // No alert came of any bad price, and the reference never moved: a real +1 % move is one alert from 100.
    expect(await alerts()).toEqual([]);
    ticker.setPrice('XRP-USD', '101');
    const [alert] = await eventually('the alert on the real move', async () => {
      const items = await alerts();
      return items.length > 0 ? items : undefined;
    });
    expect(alert).toMatchObject({ pair: 'XRP-USD', referencePrice: '100', price: '101' });
    expect(await alerts()).toHaveLength(1);
    await relayStillUp(relay.Id);
  });

  it('refuses a monitor that would take the upstream plan past the budget with 422 and the numbers, creating nothing', async () => {
    for (const pair of ['BTC-USD', 'ETH-USD', 'BTC-EUR']) ticker.setPrice(pair, '100');
    // 90 requests/min: one list at 1 s is 60.
    api = await start({ UPHOLD_RATE_LIMIT_PER_MIN: '90' });
    await watch(['BTC-USD', 'ETH-USD']); // one USD list serves both: 60, where the pairs alone would be 120

    const refused = await post('BTC-EUR');
    expect(refused.status).toBe(422);
    const body = refused.body as ErrorBody;
    expect(body.errors?.[0].field).toBe('intervalMs');
    expect(body.message[0]).toMatch(
      /active monitors use 60 of 90 requests\/min .* would take the upstream plan to 120 requests\/min, past the 90 allowed/,
    );
    const [{ count }] = await api.db.query<{ count: number }[]>(
      'SELECT count(*)::int AS count FROM monitors',
    );
    expect(count).toBe(2);
    const workers = await docker.listContainers({
      all: true,
      filters: { label: [`pairwatch.instance=${TEST_ENV.instance}`, 'pairwatch.role=worker'] },
    });
    expect(workers).toHaveLength(2);
    expect((await relayHealth(api)).relay.budget).toEqual({ plannedRequestsPerMin: 60, limitPerMin: 90 });

    // A second list at 3 s fits in what is left (60 + 20 <= 90).
    expect((await post('BTC-EUR', 3000)).status).toBe(201);
    expect((await relayHealth(api)).relay.budget).toEqual({ plannedRequestsPerMin: 80, limitPerMin: 90 });
  });
});
