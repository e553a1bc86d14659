import { createHash } from 'node:crypto';
import { isValidPair } from '@pairwatch/contracts';
import { LABELS, RelaySpec, ROLE, WorkerSpec } from './worker-runtime';

/**
 * What every runtime shares about who a worker is: its names, the id patterns that guard them, the spec
 * hash stamped on it, and how much of its log a death reports. The runtimes import this and the interface,
 * never each other.
 */

/** A monitor id as the API makes it: a lower-case UUID. Nothing else reaches a name, label or file path. */
export const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A process worker's state file: `<monitorId>.json`. */
export const STATE_FILE_PATTERN = new RegExp(`^(${UUID_PATTERN.source.slice(1, -1)})\\.json$`);

/** Swarm's names are DNS labels: at most 63 characters. */
const SERVICE_NAME_MAX = 63;

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
 * pair still fits in a DNS label): `pw-btc-usd-3f2b8c1a5d4e4f6a9b8c7d6e5f4a3b2c`.
 */
export function workerServiceName(pair: string, monitorId: string): string {
  assertChecked(pair, monitorId, 'service');
  const name = `pw-${pair.toLowerCase()}-${monitorId.replace(/-/g, '')}`;
  if (name.length > SERVICE_NAME_MAX) throw new Error(`service name ${name} is longer than 63 characters`);
  return name;
}

/**
 * A process worker goes by the name its container would have; a state file with a pair that is not one
 * (written by hand, or by an older version) still gets a name, made of the id alone.
 */
export function workerProcessName(pair: string, monitorId: string): string {
  return isValidPair(pair) ? workerContainerName(pair, monitorId) : `pairwatch-worker-${monitorId}`;
}

/** The relay is the worker image's second program (docker/worker.Dockerfile copies it to /app/relay.js). */
export const RELAY_COMMAND = ['node', '/app/relay.js'] as const;

/** Whether labels (of a container, service or event) are the relay's. */
export function isRelay(labels: Record<string, string> | undefined): boolean {
  return labels?.[LABELS.role] === ROLE.relay;
}

/** The relay's container name: one per installation (PAIRWATCH_INSTANCE is already checked). */
export function relayContainerName(instance: string): string {
  return `pairwatch-relay-${instance}`;
}

/** The relay's service name on Swarm; a DNS label, as the instance is at most 32 characters. */
export function relayServiceName(instance: string): string {
  return `pw-relay-${instance}`;
}

/**
 * Stamped on every worker: changes when the program (an image id, or the process runtime's fingerprint of
 * the worker script) or anything in the worker's environment changes.
 */
export function computeSpecHash(programId: string, spec: WorkerSpec | RelaySpec): string {
  const env = Object.entries(spec.env)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([key, value]) => `${key}=${value}`)
    .join('\n');
  return createHash('sha256').update(`${programId}\n${env}`).digest('hex').slice(0, 16);
}

/** The last `lines` lines of a log text, each cut to a sane length: what a death reports of the worker's log. */
export function tailLines(text: string, lines: number, maxLineLength = 400): string {
  return text
    .split('\n')
    .map((line) => line.trimEnd())
    .filter((line) => line.length > 0)
    .slice(-lines)
    .map((line) => (line.length > maxLineLength ? `${line.slice(0, maxLineLength)}…` : line))
    .join('\n');
}
