import Docker from 'dockerode';
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

export async function removeAllWorkers(): Promise<void> {
  const containers = await workerContainers();
  await Promise.all(
    containers.map((c) =>
      docker
        .getContainer(c.Id)
        .remove({ force: true })
        .catch(() => undefined),
    ),
  );
}
