import Docker from 'dockerode';
import Redis from 'ioredis';
import { Client } from 'pg';
import { docker } from './docker';
import { testDatabaseUrl, testRedisUrl } from './test-env';

/**
 * A one-node swarm for the Swarm suites, made by the test set-up and left as it was found: when the engine
 * is not in a swarm, ensureSwarm() makes one that listens and advertises on loopback only, and
 * restoreSwarm() leaves it again and removes the bridge network the swarm added. An engine that already
 * manages a swarm is used as it is and left alone, unless the swarm is one this set-up made in a run that
 * was killed before it could leave (its node carries MADE_BY_TESTS): that one is left at the end.
 */
interface SwarmState {
  /** True when ensureSwarm() initialised the swarm, so restoreSwarm() must leave it. */
  initialised: boolean;
  /** Networks that existed before the swarm was made. */
  networksBefore: Set<string>;
}

let state: SwarmState | undefined;

/**
 * Node label marking a swarm made by this set-up, so that a run killed before it could leave is recognised
 * by the next one, which then leaves that swarm too instead of taking it for the machine's own.
 */
const MADE_BY_TESTS = 'pairwatch.e2e-made-this-swarm';

interface SwarmInfo {
  LocalNodeState?: string;
  ControlAvailable?: boolean;
  NodeID?: string;
  Error?: string;
}

interface NodeInspect {
  Version: { Index: number };
  Spec: { Labels?: Record<string, string> } & Record<string, unknown>;
}

async function swarmInfo(): Promise<SwarmInfo> {
  const info = (await docker.info()) as { Swarm?: SwarmInfo };
  return info.Swarm ?? {};
}

async function ownNode(swarm: SwarmInfo): Promise<NodeInspect> {
  return (await docker.getNode(swarm.NodeID ?? '').inspect()) as NodeInspect;
}

export async function ensureSwarm(): Promise<void> {
  const swarm = await swarmInfo();
  if (swarm.LocalNodeState === 'active' && swarm.ControlAvailable) {
    const made = (await ownNode(swarm)).Spec.Labels?.[MADE_BY_TESTS] === 'true';
    state = { initialised: made, networksBefore: new Set() };
    return;
  }
  if (swarm.LocalNodeState !== 'inactive') {
    throw new Error(
      `the Swarm suite needs an engine that is a swarm manager or in no swarm at all; this one is ` +
        `"${swarm.LocalNodeState}"${swarm.ControlAvailable === false ? ' (a worker node)' : ''}` +
        `${swarm.Error ? `: ${swarm.Error}` : ''}`,
    );
  }
  const networksBefore = new Set((await docker.listNetworks()).map((n) => n.Name));
  await docker.swarmInit({ ListenAddr: '127.0.0.1:2377', AdvertiseAddr: '127.0.0.1' });
  state = { initialised: true, networksBefore };
  const made = await swarmInfo();
  const node = await ownNode(made);
  await docker.getNode(made.NodeID ?? '').update({
    _query: { version: node.Version.Index },
    _body: { ...node.Spec, Labels: { ...node.Spec.Labels, [MADE_BY_TESTS]: 'true' } },
  });
}

export async function restoreSwarm(): Promise<void> {
  const made = state;
  state = undefined;
  if (!made?.initialised) return;
  await docker.swarmLeave({ force: true });
  // The swarm leaves docker_gwbridge (a local bridge it made for its tasks) behind: remove it if it is new.
  const added = (await docker.listNetworks()).filter(
    (n) => !made.networksBefore.has(n.Name) && n.Name === 'docker_gwbridge',
  );
  for (const network of added) await removeNetwork(network);
}

async function removeNetwork(network: Docker.NetworkInspectInfo): Promise<void> {
  for (let attempt = 0; ; attempt += 1) {
    try {
      await docker.getNetwork(network.Id).remove();
      return;
    } catch (error) {
      const status = (error as { statusCode?: number }).statusCode;
      if (status === 404) return;
      // Still in use for a moment while the swarm's sandboxes go.
      if (attempt >= 20) throw error;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

/** Services (and their task containers) of one pairwatch installation, found by label. */
export async function workerServices(instance: string, monitorId?: string): Promise<Docker.Service[]> {
  const label = [`pairwatch.instance=${instance}`];
  if (monitorId) label.push(`pairwatch.monitor-id=${monitorId}`);
  return docker.listServices({ filters: { label } });
}

export async function taskContainers(instance: string, monitorId?: string): Promise<Docker.ContainerInfo[]> {
  const label = [`pairwatch.instance=${instance}`, 'com.docker.swarm.service.id'];
  if (monitorId) label.push(`pairwatch.monitor-id=${monitorId}`);
  return docker.listContainers({ all: true, filters: { label } });
}

/** Removes every service of the installation and waits (bounded) until their containers are gone. */
export async function removeAllServices(instance: string): Promise<void> {
  const services = await workerServices(instance);
  await Promise.all(
    services.map((s) =>
      docker
        .getService(s.ID)
        .remove()
        .catch(() => undefined),
    ),
  );
  const deadline = Date.now() + 15_000;
  while ((await taskContainers(instance)).length > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/**
 * Empties the test database's tables and the test Redis database, and nothing else: unlike startApi's own
 * reset it leaves every container alone, so a Swarm run never removes the workers of another suite running
 * on the same engine. Call it when no test API runs.
 */
export async function resetStoredState(): Promise<void> {
  const client = new Client({ connectionString: testDatabaseUrl() });
  await client.connect();
  try {
    const { rows } = await client.query<{ name: string }>(
      `SELECT quote_ident(tablename) AS name FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'migrations'`,
    );
    if (rows.length > 0) await client.query(`TRUNCATE ${rows.map((r) => r.name).join(', ')}`);
  } finally {
    await client.end();
  }
  const redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: 1 });
  try {
    await redis.flushdb();
  } finally {
    redis.disconnect();
  }
}
