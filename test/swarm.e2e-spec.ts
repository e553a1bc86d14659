import request from 'supertest';
import { FakeStats, FakeUpholdServer } from '../apps/fake-ticker/src/fake-uphold.server';
import { docker, describeWithDocker } from './support/docker';
import { eventually, reconcilePassAfterNow, startApi, TestApi } from './support/api';
import { TEST_ENV } from './support/test-env';
import {
  ensureSwarm,
  removeAllServices,
  resetStoredState,
  restoreSwarm,
  taskContainers,
  workerServices,
} from './support/swarm';
import type { AlertBody, MonitorBody } from './support/bodies';
import { freePort } from './support/faults/util';
import { relayHealth } from './support/relay';

/**
 * WORKER_RUNTIME=swarm on a one-node swarm that the set-up makes (loopback only) and leaves as it found it.
 * The suite's API has an installation label of its own (TEST_INSTANCE + "-swarm"), so nothing here touches the
 * workers of the other suites (pairwatch.instance=e2e), and their clean-ups never touch these services.
 */
const INSTANCE = `${TEST_ENV.instance}-swarm`;

interface SwarmTask {
  ID: string;
  DesiredState: string;
  Status: { State: string; ContainerStatus?: { ContainerID?: string } };
}

async function runningTask(serviceId: string): Promise<SwarmTask | undefined> {
  const tasks = (await docker.listTasks({
    filters: { service: [serviceId], 'desired-state': ['running'] },
  })) as SwarmTask[];
  return tasks.find((t) => t.Status.State === 'running');
}

describeWithDocker('Swarm runtime end to end (one-node swarm, Postgres, Redis)', () => {
  let ticker: FakeUpholdServer;
  let api: TestApi;
  let relayPort: number;

  beforeAll(async () => {
    await ensureSwarm();
    await removeAllServices(INSTANCE);
    await resetStoredState();
    ticker = new FakeUpholdServer();
    const { url } = await ticker.start(0, '127.0.0.1');
    ticker.setQuote('BTC-USD', { ask: '63120.45', bid: '63100.00' });
    ticker.setQuote('ETH-USD', { ask: '3120.45', bid: '3100.00' });
    ticker.setQuote('XRP-USD', { ask: '0.5123', bid: '0.5120' });
    // keepState: the reset here and in afterAll is resetStoredState(), which leaves other suites' containers be.
    // Through the relay, as a swarm installation runs by default (UPHOLD_RELAY=on).
    relayPort = await freePort();
    api = await startApi({
      env: {
        WORKER_RUNTIME: 'swarm',
        UPHOLD_API_URL: url,
        PAIRWATCH_INSTANCE: INSTANCE,
        UPHOLD_RELAY: 'on',
        RELAY_PORT: String(relayPort),
        // A first pass that could not start the relay (a loaded engine) is tried again soon.
        RECONCILE_INTERVAL_MS: '5000',
      },
      keepState: true,
    });
    await eventually(
      '/health to report the relay up',
      async () => {
        const h = await relayHealth(api);
        return h.relay.status === 'up' ? true : undefined;
      },
      60_000,
    );
  });

  afterAll(async () => {
    try {
      await api?.close();
      await removeAllServices(INSTANCE).catch(() => undefined);
      await resetStoredState();
      await ticker?.stop();
    } finally {
      await restoreSwarm();
    }
  });

  const getMonitor = async (id: string) =>
    (await request(api.url).get(`/monitors/${id}`).expect(200)).body as MonitorBody;

  const alerts = async (monitorId: string) =>
    ((await request(api.url).get('/alerts').query({ monitorId }).expect(200)).body as { items: AlertBody[] })
      .items;

  it('runs a labelled single-replica service, alerts, outlives the loss of its container, and stops', async () => {
    const created = await request(api.url)
      .post('/monitors')
      .send({ pair: 'btc-usd', intervalMs: 1000, thresholdPercent: 0.5 })
      .expect(201);
    const monitor = created.body as MonitorBody;
    expect(monitor).toMatchObject({ pair: 'BTC-USD', status: 'running' });

    // One service, named from the pair and id only, labelled like the Docker runtime's containers.
    const [service] = await workerServices(INSTANCE, monitor.id);
    expect(service).toBeDefined();
    expect(monitor.workerId).toBe(service.ID);
    expect(service.Spec?.Name).toBe(`pw-btc-usd-${monitor.id.replace(/-/g, '')}`);
    const labels = {
      'pairwatch.managed': 'true',
      'pairwatch.instance': INSTANCE,
      'pairwatch.monitor-id': monitor.id,
      'pairwatch.pair': 'BTC-USD',
    };
    expect(service.Spec?.Labels).toMatchObject(labels);

    // start() answered once the first task ran; its container carries the same labels.
    const task = await runningTask(service.ID);
    expect(task).toBeDefined();
    const [container] = await taskContainers(INSTANCE, monitor.id);
    expect(container.Id).toBe(task!.Status.ContainerStatus?.ContainerID);
    expect(container.State).toBe('running');
    expect(container.Labels).toMatchObject({ ...labels, 'com.docker.swarm.service.id': service.ID });

    await eventually('the worker to read its first price', async () => {
      const { worker } = await getMonitor(monitor.id);
      return worker?.lastPrice === '63120.45' && worker.state === 'running' ? worker : undefined;
    });

    // Through the relay: one service on the host network, pinned to this manager, which the worker reaches at
    // the manager's swarm address (127.0.0.1 on this one-node swarm); upstream sees currency lists only.
    const [relay] = await docker.listServices({
      filters: { label: [`pairwatch.instance=${INSTANCE}`, 'pairwatch.role=relay'] },
    });
    expect(relay.Spec?.Name).toBe(`pw-relay-${INSTANCE}`);
    const relayTemplate = relay.Spec!.TaskTemplate as {
      ContainerSpec: { Command?: string[] };
      Networks: { Target: string }[];
      Placement: { Constraints: string[] };
    };
    expect(relayTemplate.ContainerSpec.Command).toEqual(['node', '/app/relay.js']);
    const node = ((await docker.info()) as { Swarm: { NodeID: string; NodeAddr: string } }).Swarm;
    expect(relayTemplate.Placement.Constraints).toEqual([`node.id==${node.NodeID}`]);
    expect((await docker.getNetwork(relayTemplate.Networks[0].Target).inspect()).Name).toBe('host');
    const workerEnv = (
      (await docker.getService(service.ID).inspect()) as {
        Spec: { TaskTemplate: { ContainerSpec: { Env: string[] } } };
      }
    ).Spec.TaskTemplate.ContainerSpec.Env;
    expect(workerEnv).toContain(`UPHOLD_API_URL=http://${node.NodeAddr}:${relayPort}`);
    const fakeStats = (await (await fetch(`${ticker.url}/__fake/stats`)).json()) as FakeStats;
    expect(fakeStats.byEndpoint.list.requests).toBeGreaterThan(0);
    expect(fakeStats.byEndpoint.pair.requests).toBe(0);

    // +0.6 % on the ask: past the 0.5 % threshold.
    ticker.setQuote('BTC-USD', { ask: '63499.1727', bid: '63480.00' });
    const [up] = await eventually('the upward alert', async () => {
      const items = await alerts(monitor.id);
      return items.length >= 1 ? items : undefined;
    });
    expect(up).toMatchObject({ direction: 'up', referencePrice: '63120.45', price: '63499.1727' });

    // The task's container is removed by hand: Swarm starts a new task in the same service, and the
    // monitor stays running with the same worker (the service), one restart further on.
    await docker.getContainer(container.Id).remove({ force: true });
    const replacement = await eventually('Swarm to run a new task', async () => {
      const next = await runningTask(service.ID);
      return next && next.ID !== task!.ID ? next : undefined;
    });
    const newContainerId = replacement.Status.ContainerStatus!.ContainerID!;
    const startedAt = Date.parse((await docker.getContainer(newContainerId).inspect()).State.StartedAt);
    const afterLoss = await eventually('the monitor to show the new task running', async () => {
      const body = await getMonitor(monitor.id);
      const tick = body.worker?.lastTickAt ? Date.parse(body.worker.lastTickAt) : 0;
      return body.worker?.state === 'running' && tick > startedAt ? body : undefined;
    });
    expect(afterLoss).toMatchObject({ status: 'running', workerId: service.ID });
    expect(afterLoss.worker).toMatchObject({ id: service.ID, state: 'running' });
    expect(afterLoss.worker!.restarts).toBeGreaterThanOrEqual(1);
    expect(await workerServices(INSTANCE, monitor.id)).toHaveLength(1);

    // The new worker took the price it found as its reference: a 1 % drop from there fires.
    ticker.setQuote('BTC-USD', { ask: '62864.180973', bid: '62800.00' });
    const items = await eventually('the downward alert from the new task', async () => {
      const found = await alerts(monitor.id);
      return found.length >= 2 ? found : undefined;
    });
    expect(items[0]).toMatchObject({
      direction: 'down',
      referencePrice: '63499.1727',
      price: '62864.180973',
      changePercent: '-1',
    });
    expect((await getMonitor(monitor.id)).status).toBe('running');

    // Stop: the service and its task containers are gone when DELETE answers; the alerts stay.
    await request(api.url).delete(`/monitors/${monitor.id}`).expect(204);
    expect(await workerServices(INSTANCE, monitor.id)).toHaveLength(0);
    expect(await taskContainers(INSTANCE, monitor.id)).toHaveLength(0);
    const stopped = await getMonitor(monitor.id);
    expect(stopped).toMatchObject({ status: 'stopped', worker: null });
    expect((await alerts(monitor.id)).map((a) => a.id)).toEqual(items.map((a) => a.id));
    await request(api.url).delete(`/monitors/${monitor.id}`).expect(204);
  });

  it('runs the worker hardened: limits, read-only root, no capabilities, non-root, host network, stop-first', async () => {
    const created = await request(api.url)
      .post('/monitors')
      .send({ pair: 'ETH-USD', intervalMs: 5000, thresholdPercent: 1 })
      .expect(201);
    const monitor = created.body as MonitorBody;
    const [service] = await workerServices(INSTANCE, monitor.id);
    const inspected = (await docker.getService(service.ID).inspect()) as {
      Spec: {
        Labels: Record<string, string>;
        TaskTemplate: {
          ContainerSpec: Record<string, unknown> & { Labels: Record<string, string>; Image: string };
          Resources: { Limits: Record<string, number> };
          RestartPolicy: Record<string, unknown>;
          Networks: { Target: string }[];
          LogDriver: { Name: string; Options: Record<string, string> };
        };
        Mode: unknown;
        UpdateConfig: { Order: string };
        RollbackConfig: { Order: string };
      };
    };
    const { TaskTemplate: template } = inspected.Spec;
    const limits = api.config.workerLimits;
    expect(template.ContainerSpec).toMatchObject({
      User: '10001:10001',
      ReadOnly: true,
      CapabilityDrop: ['ALL'],
      StopSignal: 'SIGTERM',
      StopGracePeriod: 5_000_000_000,
    });
    expect(template.ContainerSpec.Labels).toEqual(inspected.Spec.Labels);
    // A local build is pinned by image id: the engine never asks a registry for the tag.
    const image = await docker.getImage(api.config.workerImage).inspect();
    expect(template.ContainerSpec.Image).toBe(image.Id);
    expect(template.Resources.Limits).toEqual({
      NanoCPUs: limits.nanoCpus,
      MemoryBytes: limits.memoryBytes,
      Pids: limits.pids,
    });
    expect(template.RestartPolicy).toMatchObject({
      Condition: 'on-failure',
      MaxAttempts: limits.maxRestarts,
    });
    expect(template.LogDriver).toEqual({ Name: 'json-file', Options: { 'max-size': '1m', 'max-file': '3' } });
    expect(inspected.Spec.Mode).toEqual({ Replicated: { Replicas: 1 } });
    expect(inspected.Spec.UpdateConfig.Order).toBe('stop-first');
    expect(inspected.Spec.RollbackConfig.Order).toBe('stop-first');
    const [network] = template.Networks;
    expect((await docker.getNetwork(network.Target).inspect()).Name).toBe('host');

    // What the engine made of it on the task's container.
    const [container] = await taskContainers(INSTANCE, monitor.id);
    const run = await docker.getContainer(container.Id).inspect();
    // no-new-privileges is asked for, but only engines newer than 20.10 keep it (API 1.41 drops the field).
    const privileges = template.ContainerSpec.Privileges as { NoNewPrivileges?: boolean } | undefined;
    if (privileges?.NoNewPrivileges) {
      const options: string[] = run.HostConfig.SecurityOpt ?? [];
      expect(options.some((o) => o.startsWith('no-new-privileges'))).toBe(true);
    }
    expect(run.Config.User).toBe('10001:10001');
    expect(run.HostConfig).toMatchObject({
      ReadonlyRootfs: true,
      CapDrop: ['ALL'],
      Memory: limits.memoryBytes,
      NanoCpus: limits.nanoCpus,
      PidsLimit: limits.pids,
      NetworkMode: 'host',
    });

    await request(api.url).delete(`/monitors/${monitor.id}`).expect(204);
    expect(await workerServices(INSTANCE, monitor.id)).toHaveLength(0);
    expect(await taskContainers(INSTANCE, monitor.id)).toHaveLength(0);
  });

  it("fails the monitor, with the worker's last words, when its task exits for an unknown pair", async () => {
    const created = await request(api.url)
      .post('/monitors')
      .send({ pair: 'XRP-USD', intervalMs: 1000, thresholdPercent: 1 })
      .expect(201);
    const monitor = created.body as MonitorBody;
    await eventually('the worker to read its first price', async () => {
      const { worker } = await getMonitor(monitor.id);
      return worker?.lastPrice === '0.5123' ? worker : undefined;
    });

    // The ticker forgets the pair: the worker exits 3, and the task's death (seen in the engine's events,
    // keyed by the task) fails the monitor at once instead of letting Swarm restart it.
    ticker.removePair('XRP-USD');
    const failed = await eventually('the monitor to fail', async () => {
      const body = await getMonitor(monitor.id);
      return body.status === 'failed' ? body : undefined;
    });
    expect(failed.reason).toMatch(/XRP-USD is unknown at the ticker \(worker exit code 3\)/);
    expect(failed.reason).toMatch(/last log lines/);
    // The service goes, and is not made again for the failed monitor.
    await eventually('the service and its containers to go', async () => {
      const [services, containers] = await Promise.all([
        workerServices(INSTANCE, monitor.id),
        taskContainers(INSTANCE, monitor.id),
      ]);
      return services.length === 0 && containers.length === 0 ? true : undefined;
    });
    // Not made again by a reconcile pass that began after it went.
    await reconcilePassAfterNow(api);
    expect(await workerServices(INSTANCE, monitor.id)).toHaveLength(0);
    expect((await getMonitor(monitor.id)).status).toBe('failed');
  });
});
