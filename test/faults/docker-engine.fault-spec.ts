import Docker from 'dockerode';
import Redis from 'ioredis';
import { workerStateKey } from '@pairwatch/contracts';
import { FakeUpholdServer } from '../../apps/fake-ticker/src/fake-uphold.server';
import { demuxLogs } from '../../apps/api/src/runtime/docker-engine';
import type { ApiProcess } from '../support/api-process';
import { AlertLedger, summaryLine, waitForRows, withClient } from '../support/faults/alert-ledger';
import {
  DockerSocketProxy,
  dockerStatusSync,
  engineSocketPath,
  startDockerSocketProxy,
} from '../support/faults/docker-proxy';
import { FAULTS_INSTANCE, health, spawnFaultApi } from '../support/faults/fault-api';
import { PostgresCluster, startPostgresCluster } from '../support/faults/postgres-cluster';
import { RedisServer, startRedisServer } from '../support/faults/redis-server';
import { seconds, waitFor } from '../support/faults/util';
import { eventually } from '../support/wait';
import { alertsFromLog, parseLogText } from '../support/faults/worker-process';
import type { MonitorBody } from '../support/bodies';

const WORKER_IMAGE = process.env.WORKER_IMAGE ?? 'pairwatch-worker:latest';
const dockerStatus = dockerStatusSync(WORKER_IMAGE);
if (dockerStatus !== 'yes') {
  if (process.env.CI === 'true')
    throw new Error(`faults: the Docker engine case must run in CI: ${dockerStatus}`);
  console.warn(`!! SKIPPED the Docker engine fault case: ${dockerStatus}`);
}
const describeDocker = dockerStatus === 'yes' ? describe : describe.skip;

describeDocker('faults: the Docker engine unreachable (its socket gone)', () => {
  const engine = new Docker({ socketPath: engineSocketPath() });
  let postgres: PostgresCluster;
  let redis: RedisServer;
  let ticker: FakeUpholdServer;
  let proxy: DockerSocketProxy;
  let api: ApiProcess | undefined;

  /** This suite's worker containers (all states), straight from the engine. */
  const containers = (monitorId?: string): Promise<Docker.ContainerInfo[]> => {
    const label = [`pairwatch.instance=${FAULTS_INSTANCE}`];
    if (monitorId) label.push(`pairwatch.monitor-id=${monitorId}`);
    return engine.listContainers({ all: true, filters: { label } });
  };
  const removeContainers = async (): Promise<void> => {
    await Promise.all(
      (await containers()).map((c) =>
        engine
          .getContainer(c.Id)
          .remove({ force: true })
          .catch(() => undefined),
      ),
    );
  };
  const logsOf = async (id: string): Promise<string> =>
    demuxLogs(await engine.getContainer(id).logs({ stdout: true, stderr: true, follow: false }));
  const monitorRows = (pair: string): Promise<{ status: string }[]> =>
    withClient(
      postgres.url,
      async (c) =>
        (await c.query<{ status: string }>('SELECT status FROM monitors WHERE pair = $1', [pair])).rows,
    );
  const post = async (pair: string): Promise<{ status: number; body: Record<string, unknown> }> => {
    const res = await fetch(`${api!.url}/monitors`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ pair, intervalMs: 1000, thresholdPercent: 0.5 }),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const workerReport = async (monitorId: string): Promise<Record<string, string>> => {
    const client = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    try {
      return await client.hgetall(workerStateKey(monitorId));
    } finally {
      client.disconnect();
    }
  };
  const getMonitor = async (id: string): Promise<MonitorBody> =>
    (await (await fetch(`${api!.url}/monitors/${id}`)).json()) as MonitorBody;

  beforeAll(async () => {
    [postgres, redis] = await Promise.all([startPostgresCluster(), startRedisServer()]);
    ticker = new FakeUpholdServer();
    await ticker.start(0, '127.0.0.1');
    proxy = await startDockerSocketProxy();
    await removeContainers();
  });

  afterAll(async () => {
    await api?.kill('SIGKILL');
    await removeContainers();
    await proxy?.close();
    await ticker?.stop();
    await Promise.all([postgres?.destroy(), redis?.destroy()]);
  });

  it('answers 503 with nothing left behind, says so in /health, and reconcile restarts what should run once the engine is back', async () => {
    for (const pair of ['BTC-USD', 'ETH-USD']) ticker.setPrice(pair, '100');
    api = await spawnFaultApi(
      { postgres, redis },
      {
        WORKER_RUNTIME: 'docker',
        DOCKER_HOST: proxy.dockerHost,
        WORKER_NETWORK: 'host',
        WORKER_IMAGE,
        UPHOLD_API_URL: ticker.url,
        RECONCILE_INTERVAL_MS: '2000',
        // Workers get the API's level: at info they log every alert they publish, which the count reads.
        LOG_LEVEL: 'info',
      },
    );
    let apiExit: string | undefined;
    api.child.once('exit', (code, signal) => (apiExit = `code ${code} signal ${signal}`));

    // A monitor with its worker, alerting through the real path.
    const created = await post('BTC-USD');
    expect(created.status).toBe(201);
    const monitorId = String(created.body.id);
    await waitFor(
      'the first worker to read its price',
      async () => (await getMonitor(monitorId)).worker?.lastPrice === '100',
      30_000,
    );
    const [original] = await containers(monitorId);
    ticker.setPrice('BTC-USD', '101');
    await waitForRows(postgres.url, 1, 15_000);

    // The engine drops the connection of the container create: the monitor row is undone.
    proxy.refuse(/^POST \S*\/containers\/create$/);
    const halfway = await post('ETH-USD');
    proxy.refuse(undefined);
    expect(halfway.status).toBe(503);
    expect(String(halfway.body.message)).toMatch(
      /^Docker engine unreachable: could not create the worker container/,
    );
    expect(await monitorRows('ETH-USD')).toEqual([]);

    // The socket is gone.
    const logBeforeCut = api.output().length;
    await proxy.cut();
    const cutAt = Date.now();
    // The API's event stream was cut too: it must carry on (it once died here of an unhandled 'error').
    await waitFor(
      'the API to see its Docker event stream fail',
      () => apiExit !== undefined || api!.output().slice(logBeforeCut).includes('Docker event stream failed'),
      15_000,
      100,
    );
    if (apiExit)
      throw new Error(`the API exited (${apiExit}) when the engine went away: ${api.output().slice(-3000)}`);
    const refused = await post('ETH-USD');
    expect(refused.status).toBe(503);
    expect(String(refused.body.message)).toMatch(/Docker engine unreachable/);
    expect(await monitorRows('ETH-USD')).toEqual([]);
    expect(await containers()).toHaveLength(1);
    const down = await health(api.url);
    expect(down.status).toBe(503);
    expect(down.body).toMatchObject({
      status: 'degraded',
      postgres: { status: 'up' },
      redis: { status: 'up' },
      runtime: { status: 'down', kind: 'docker' },
    });
    const listed = await fetch(`${api.url}/monitors`);
    expect(listed.status).toBe(200);

    // Meanwhile the worker is lost (as in an engine restart that took its containers).
    const originalLog = parseLogText(await logsOf(original.Id));
    await engine.getContainer(original.Id).remove({ force: true });
    // Two reconcile passes that cannot reach the engine.
    const logBeforeLoss = api.output().length;
    await waitFor(
      'two reconcile passes to fail on the unreachable engine',
      () =>
        (
          api!
            .output()
            .slice(logBeforeLoss)
            .match(/reconcile failed: /g) ?? []
        ).length >= 2,
      30_000,
      100,
    );
    expect((await monitorRows('BTC-USD'))[0].status).toBe('running');
    expect(apiExit).toBeUndefined();

    await proxy.restore();
    const restoredAt = Date.now();
    const replacedAt = await waitFor(
      'reconcile to start a new worker',
      async () => (await containers(monitorId)).some((c) => c.State === 'running' && c.Id !== original.Id),
      30_000,
      100,
    );
    const healthyAt = await waitFor(
      '/health 200',
      async () => (await health(api!.url)).status === 200,
      30_000,
      100,
    );
    // Its own report (the old worker's lingers until its TTL): started after the restore, reference 101.
    await waitFor(
      'the new worker to read its price',
      async () => {
        const report = await workerReport(monitorId);
        return Date.parse(report.startedAt) >= restoredAt && report.lastPrice === '101';
      },
      30_000,
      100,
    );
    const monitor = await getMonitor(monitorId);
    expect(monitor.status).toBe('running');
    ticker.setPrice('BTC-USD', '102');
    await waitForRows(postgres.url, 2, 15_000);

    const [replacement] = await containers(monitorId);
    // The worker logs an alert after its MULTI, so the row can be committed before the line reaches the engine's
    // log: wait for the line itself.
    const replacementLog = await eventually(
      "the new worker's alert line in its log",
      async () => {
        const log = parseLogText(await logsOf(replacement.Id));
        return alertsFromLog(log).made.length > 0 ? log : undefined;
      },
      15_000,
      100,
    );
    const ledger = new AlertLedger();
    for (const log of [originalLog, replacementLog]) {
      const alerts = alertsFromLog(log);
      expect(alerts.dropped).toEqual([]);
      ledger.addAll(alerts.made);
    }
    const count = await ledger.count(postgres.url, redis.url);
    console.log(
      summaryLine('Docker engine unreachable', count, {
        outage: seconds(restoredAt - cutAt),
        workerRestartedAfterRestore: seconds(replacedAt - restoredAt),
        health200AfterRestore: seconds(healthyAt - restoredAt),
        postWhileDown: `${refused.status} ${JSON.stringify(refused.body.message)}`,
        postCutMidway: halfway.status,
        monitorRowsLeft: 0,
      }),
    );

    expect(monitor.workerId).toBe(replacement.Id);
    expect(count.published).toBe(2);
    expect(count.missing).toEqual([]);
    expect(count.extra).toEqual([]);
    expect(count.duplicateRows).toBe(0);

    const deletedAt = Date.now();
    const deleted = await fetch(`${api.url}/monitors/${monitorId}`, { method: 'DELETE' });
    expect(deleted.status).toBe(204);
    // A reconcile racing the DELETE may start a worker that it then removes again (see the supervisor).
    let most = 0;
    const goneAt = await waitFor(
      'no worker container left after DELETE',
      async () => {
        const left = (await containers()).filter((c) => c.State !== 'exited' && c.State !== 'dead');
        most = Math.max(most, left.length);
        return (await containers()).length === 0;
      },
      15_000,
      100,
    );
    console.log(
      `[faults] Docker engine unreachable: after DELETE, no container left after ${seconds(goneAt - deletedAt)} ` +
        `(at most ${most} running meanwhile)`,
    );
  }, 150_000);
});
