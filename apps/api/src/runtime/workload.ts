import { createHash } from 'node:crypto';
import { isValidPair } from '@pairwatch/contracts';
import type { AppConfig } from '../config/app.config';
import { relayContainerName, relayServiceName } from '../config/relay-address';
import { LABELS, Workload, WorkloadRole, WorkloadSpec, workloadOf } from './worker-runtime';

/**
 * What every driver shares about a workload: its names, the labels that find it again, the hardening it runs
 * under (stated here once, translated by each driver), its spec hash, how much of its log a death reports, and
 * how a driver waits on it.
 */

/** A monitor id as the API makes it: a lower-case UUID. Nothing else reaches a name, label or file path. */
export const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A process worker's state file: `<monitorId>.json`. */
export const STATE_FILE_PATTERN = new RegExp(`^(${UUID_PATTERN.source.slice(1, -1)})\\.json$`);

function assertChecked(pair: string, monitorId: string, what: string): void {
  if (!isValidPair(pair) || !UUID_PATTERN.test(monitorId)) {
    throw new Error(`refusing to name a ${what} after an unchecked pair or id`);
  }
}

/** Container name made only of the validated pair and monitor id, never of raw user text. */
export function workerContainerName(pair: string, monitorId: string): string {
  assertChecked(pair, monitorId, 'container');
  return `pairwatch-worker-${pair.toLowerCase()}-${monitorId}`;
}

/**
 * Service name made only of the validated pair and monitor id (without its dashes, so that the longest
 * pair still fits in a DNS label of 63 characters): `pw-btc-usd-3f2b8c1a5d4e4f6a9b8c7d6e5f4a3b2c`.
 */
export function workerServiceName(pair: string, monitorId: string): string {
  assertChecked(pair, monitorId, 'service');
  const name = `pw-${pair.toLowerCase()}-${monitorId.replace(/-/g, '')}`;
  if (name.length > 63) throw new Error(`service name ${name} is longer than 63 characters`);
  return name;
}

/**
 * A process worker goes by the name its container would have; a state file with a pair that is not one
 * (written by hand, or by an older version) still gets a name, made of the id alone.
 */
export function workerProcessName(pair: string, monitorId: string): string {
  return isValidPair(pair) ? workerContainerName(pair, monitorId) : `pairwatch-worker-${monitorId}`;
}

/** The workload's container (docker) or service (swarm) name. */
export function workloadName(spec: WorkloadSpec, instance: string, kind: 'container' | 'service'): string {
  if (spec.role === 'relay')
    return kind === 'container' ? relayContainerName(instance) : relayServiceName(instance);
  const { pair, monitorId } = spec.monitor;
  return kind === 'container' ? workerContainerName(pair, monitorId) : workerServiceName(pair, monitorId);
}

/** The labels that select this installation's workloads, or one workload (a worker by its monitor id). */
export function selector(instance: string, workload?: Workload): Record<string, string> {
  const base = { [LABELS.managed]: 'true', [LABELS.instance]: instance };
  if (!workload) return base;
  return workload.role === 'relay'
    ? { ...base, [LABELS.role]: 'relay' }
    : { ...base, [LABELS.monitorId]: workload.key };
}

/** Every label a workload carries (on its container, or its service and task containers). */
export function workloadLabels(
  instance: string,
  spec: WorkloadSpec,
  specHash: string,
): Record<string, string> {
  return {
    ...selector(instance, workloadOf(spec)),
    [LABELS.role]: spec.role,
    ...(spec.role === 'worker' ? { [LABELS.pair]: spec.monitor.pair } : {}),
    [LABELS.specHash]: specHash,
  };
}

/** Whose labels these are (a container's, a service's or an event's); workers predating the role label too. */
export function roleOf(labels: Record<string, string> | undefined): WorkloadRole {
  return labels?.[LABELS.role] === 'relay' ? 'relay' : 'worker';
}

/** What a WorkerInfo reads of the labels. */
export function fromLabels(labels: Record<string, string>) {
  return {
    role: roleOf(labels),
    monitorId: labels[LABELS.monitorId] ?? '',
    pair: labels[LABELS.pair] ?? '',
    specHash: labels[LABELS.specHash] ?? null,
  };
}

/** Log lines a death reports, whatever the driver. */
export const LOG_TAIL_LINES = 10;

/**
 * The CFS period a worker's CPU limit is enforced over, in µs (the quota is `WORKER_MILLICPUS` of it): 1 s, the
 * kernel's longest, not the default 100 ms. The same average share, but a worker's start (node's own start-up and
 * the replay of its stored ticks, ≈ 200 ms of CPU in all) runs at full speed within its first second instead of
 * being cut into 25 ms slices, 4× longer in wall time; a busy worker can now wait up to 750 ms of a second instead
 * of 75 ms of each 100. Workers only: every worker's request waits on the relay, which keeps the default period.
 * Swarm cannot express a period (a service has NanoCPUs only): docs/RUNTIMES.md "CPU limit".
 */
export const WORKER_CPU_PERIOD_US = 1_000_000;

/** The quota, in µs a period, that holds `nanoCpus` (billionths of a CPU) over a period of `periodUs`. */
export function cpuQuotaUs(nanoCpus: number, periodUs: number): number {
  return Math.round((nanoCpus * periodUs) / 1e9);
}

/** How every workload runs, whatever the driver: stated once, translated by the Docker and Swarm drivers. */
export function workloadPolicy(
  config: Pick<AppConfig, 'workerLimits' | 'workerNetwork'>,
  role: WorkloadRole,
) {
  const relay = {
    // The worker image's second program (docker/worker.Dockerfile copies it to /app/relay.js).
    command: ['node', '/app/relay.js'],
    // A CPU weight of 16 workers, not a limit, where the driver has one (docs/RUNTIMES.md says why).
    cpuShares: 1024 * 16,
  };
  return {
    user: '10001:10001', // the image's non-root user
    readOnlyRoot: true,
    dropCapabilities: ['ALL'],
    noNewPrivileges: true,
    stopSignal: 'SIGTERM',
    stopGraceSeconds: 5,
    limits: config.workerLimits,
    network: config.workerNetwork,
    logs: { maxSize: '1m', maxFile: '3' },
    cpuPeriodUs: role === 'worker' ? WORKER_CPU_PERIOD_US : undefined,
    ...(role === 'relay' ? relay : {}),
  };
}

/** An environment (or a label filter) as KEY=value lines. */
export function keyValueLines(entries: Record<string, string>): string[] {
  return Object.entries(entries).map(([key, value]) => `${key}=${value}`);
}

/**
 * Stamped on every workload: changes with the program (an image id, or a script's fingerprint), the env, or how
 * it runs (the engine drivers' policy: limits, network, hardening), so that a changed WORKER_MILLICPUS replaces
 * running workers as a changed image does.
 */
export function computeSpecHash(
  programId: string,
  spec: Pick<WorkloadSpec, 'env'>,
  policy?: ReturnType<typeof workloadPolicy>,
): string {
  const env = Object.entries(spec.env)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([key, value]) => `${key}=${value}`)
    .join('\n');
  const how = policy === undefined ? '' : `\n${JSON.stringify(policy)}`;
  return createHash('sha256').update(`${programId}\n${env}${how}`).digest('hex').slice(0, 16);
}

/** The last `lines` lines of a log text, each cut to a sane length: what a death reports of the log. */
export function tailLines(text: string, lines: number, maxLineLength = 400): string {
  return text
    .split('\n')
    .map((line) => line.trimEnd())
    .filter((line) => line.length > 0)
    .slice(-lines)
    .map((line) => (line.length > maxLineLength ? `${line.slice(0, maxLineLength)}…` : line))
    .join('\n');
}
