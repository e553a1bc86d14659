import type Docker from 'dockerode';
import Redis from 'ioredis';
import request from 'supertest';
import { workerStateKey } from '@pairwatch/contracts';
import type { RelayStats } from '../../apps/worker/src/relay/ticker-relay';
import { eventually, TestApi } from './api';
import type { MonitorBody } from './bodies';
import { docker } from './docker';
import { TEST_ENV, testRedisUrl } from './test-env';

/** What /health says of the relay (apps/api/src/health/dto/health.dto.ts RelayHealthDto). */
export interface RelayHealthBody {
  status: 'up' | 'down' | 'off';
  address: string | null;
  error?: string;
  budget: { plannedRequestsPerMin: number; limitPerMin: number } | null;
}

/** The relay containers of the test installation (label pairwatch.role=relay). */
export function relayContainers(): Promise<Docker.ContainerInfo[]> {
  return docker.listContainers({
    all: true,
    filters: { label: [`pairwatch.instance=${TEST_ENV.instance}`, 'pairwatch.role=relay'] },
  });
}

/** Waits until exactly one relay container runs, other than `not` (a removed one), and inspects it. */
export function runningRelay(not?: string, timeoutMs = 30_000): Promise<Docker.ContainerInspectInfo> {
  return eventually(
    'one running relay container',
    async () => {
      const relays = await relayContainers();
      if (relays.length !== 1 || relays[0].Id === not || relays[0].State !== 'running') return undefined;
      return docker.getContainer(relays[0].Id).inspect();
    },
    timeoutMs,
  );
}

export async function relayHealth(api: TestApi): Promise<{ status: number; relay: RelayHealthBody }> {
  const res = await request(api.url).get('/health');
  return { status: res.status, relay: (res.body as { relay: RelayHealthBody }).relay };
}

export async function getMonitor(api: TestApi, id: string): Promise<MonitorBody> {
  return (await request(api.url).get(`/monitors/${id}`).expect(200)).body as MonitorBody;
}

/** Waits until the monitor's worker reports a tick made after `after` (epoch ms), with this price. */
export function tickAfter(api: TestApi, id: string, after: number, price?: string, timeoutMs = 30_000) {
  return eventually(
    `a tick of monitor ${id} after ${new Date(after).toISOString()}`,
    async () => {
      const monitor = await getMonitor(api, id);
      const at = monitor.worker?.lastTickAt ? Date.parse(monitor.worker.lastTickAt) : 0;
      const priced = price === undefined || monitor.worker?.lastPrice === price;
      return at > after && priced && monitor.worker?.state === 'running' ? monitor : undefined;
    },
    timeoutMs,
  );
}

/** A worker's own report (its state hash in Redis, as it wrote it): `status`, `lastError`, `lastTickAt`… */
export async function workerReport(monitorId: string): Promise<Record<string, string>> {
  const redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: 1 });
  try {
    return await redis.hgetall(workerStateKey(monitorId));
  } finally {
    redis.disconnect();
  }
}

/** Waits until the monitor's worker reports a state that matches, and returns it (the last one seen on timeout). */
export async function reportWhere(
  monitorId: string,
  what: string,
  match: (report: Record<string, string>) => boolean,
  timeoutMs = 30_000,
): Promise<Record<string, string>> {
  let last: Record<string, string> = {};
  try {
    return await eventually(
      `monitor ${monitorId}'s worker to report ${what}`,
      async () => {
        last = await workerReport(monitorId);
        return match(last) ? last : undefined;
      },
      timeoutMs,
    );
  } catch (error) {
    throw new Error(`${(error as Error).message}; last report ${JSON.stringify(last)}`);
  }
}

/** The relay's own GET /stats (apps/worker/src/relay/ticker-relay.ts RelayStats). */
export async function relayStats(port: number): Promise<RelayStats> {
  const res = await fetch(`http://127.0.0.1:${port}/stats`, { signal: AbortSignal.timeout(5000) });
  if (res.status !== 200) throw new Error(`the relay's /stats answered ${res.status}`);
  return (await res.json()) as RelayStats;
}
