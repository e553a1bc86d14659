import Docker from 'dockerode';
import { mapConcurrently } from '../../apps/api/src/common/concurrency';
import { DOCKER_STATUS_VAR, dockerAvailable, TEST_ENV } from './test-env';

export const docker = new Docker();

/**
 * `describe` for suites that need the Docker engine. Where there is none (and only outside CI: the
 * global set-up fails CI instead) the suite is reported as skipped, and the reason is printed loudly.
 */
export function describeWithDocker(name: string, fn: () => void): void {
  if (dockerAvailable()) {
    describe(name, fn);
    return;
  }
  const reason = process.env[DOCKER_STATUS_VAR] ?? 'Docker status unknown';
  console.warn(`!! SKIPPED "${name}": ${reason}`);
  describe.skip(`${name} [skipped: ${reason}]`, fn);
}

/** Containers the test API created, found by the labels every worker carries. */
export async function workerContainers(monitorId?: string): Promise<Docker.ContainerInfo[]> {
  const label = [`pairwatch.instance=${TEST_ENV.instance}`];
  if (monitorId) label.push(`pairwatch.monitor-id=${monitorId}`);
  return docker.listContainers({ all: true, filters: { label } });
}

/**
 * Removes every container carrying these labels, ten at a time, listing again until none is left: on a loaded
 * engine a force-remove can fail ("directory not empty", "removal in progress"), and 300 at once left some
 * behind. Answers how many were removed; throws when some are still there after `timeoutMs`.
 */
export async function removeContainers(label: string[], timeoutMs = 60_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  const gone = new Set<string>();
  for (;;) {
    const containers = await docker.listContainers({ all: true, filters: { label } });
    if (containers.length === 0) return gone.size;
    if (Date.now() > deadline) {
      throw new Error(`${containers.length} container(s) labelled ${label.join(', ')} could not be removed`);
    }
    const removed = await mapConcurrently(containers, 10, (c) =>
      docker
        .getContainer(c.Id)
        .remove({ force: true })
        .then(
          () => true,
          () => false,
        ),
    );
    containers.forEach((c, i) => removed[i] && gone.add(c.Id));
    // What failed is listed and asked again after a pause (the engine may still be removing it).
    if (removed.includes(false)) await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

/** Every container of the test installation (workers and relay). */
export async function removeAllWorkers(): Promise<void> {
  await removeContainers([`pairwatch.instance=${TEST_ENV.instance}`]);
}
