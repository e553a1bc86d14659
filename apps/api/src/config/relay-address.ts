import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from './app.config';

export type RelayAddressConfig = Pick<
  AppConfig,
  'workerRuntime' | 'workerNetwork' | 'instance' | 'relayPort'
>;

/** The relay's container name: one per installation (PAIRWATCH_INSTANCE is already checked). */
export function relayContainerName(instance: string): string {
  return `pairwatch-relay-${instance}`;
}

/** The relay's service name on Swarm; a DNS label, as the instance is at most 32 characters. */
export function relayServiceName(instance: string): string {
  return `pw-relay-${instance}`;
}

/** Where the relay listens, and how the workers and this API reach it, for the runtime in use. */
export interface RelayEndpoints {
  /** RELAY_HOST: the address the relay binds. */
  listenHost: string;
  /** The workers' UPHOLD_API_URL. */
  workers: string;
  /** The base URL of the API's pair checks and of /health's look at the relay. */
  api: string;
  /** Set when no worker could reach a relay with this configuration; the relay is then not started. */
  problem?: string;
}

/**
 * The one place that knows the relay's addresses.
 * - process, and docker with WORKER_NETWORK=host: everything on this machine's loopback.
 * - docker on a user-defined network: the relay's container name, which the engine's DNS resolves for every
 *   container on that network (the API too, when it runs there, as in docker-compose.yml).
 * - swarm on the host network: the relay runs on the host network of the manager the API talks to, pinned
 *   there; workers on every node and the API reach it at that manager's swarm address (`relayHost`, from the
 *   runtime; 127.0.0.1 until the runtime has read it).
 * - swarm on an overlay: the relay's port is published on the ingress routing mesh, so every node answers
 *   on it (the API uses 127.0.0.1); workers use the service name (docs/SWARM.md).
 * - docker or swarm with no WORKER_NETWORK: the engine's default bridge has no names, so no worker could
 *   find the relay: `problem` says so.
 */
export function relayEndpoints(config: RelayAddressConfig, relayHost?: string): RelayEndpoints {
  const port = config.relayPort;
  const loopback = `http://127.0.0.1:${port}`;
  const network = config.workerNetwork;
  switch (config.workerRuntime) {
    case 'process':
      return { listenHost: '127.0.0.1', workers: loopback, api: loopback };
    case 'docker':
    case 'swarm': {
      if (network === undefined) {
        return {
          listenHost: '0.0.0.0',
          workers: loopback,
          api: loopback,
          problem:
            `UPHOLD_RELAY=on with WORKER_RUNTIME=${config.workerRuntime} needs WORKER_NETWORK (host, or a ` +
            `${config.workerRuntime === 'swarm' ? 'swarm-scoped overlay' : 'user-defined'} network): on the ` +
            `engine's default network workers cannot find the relay; or set UPHOLD_RELAY=off`,
        };
      }
      if (config.workerRuntime === 'docker') {
        if (network === 'host') return { listenHost: '127.0.0.1', workers: loopback, api: loopback };
        const byName = `http://${relayContainerName(config.instance)}:${port}`;
        return { listenHost: '0.0.0.0', workers: byName, api: byName };
      }
      if (network === 'host') {
        const pinned = relayHost
          ? `http://${relayHost.includes(':') ? `[${relayHost}]` : relayHost}:${port}`
          : loopback;
        return { listenHost: '0.0.0.0', workers: pinned, api: pinned };
      }
      return {
        listenHost: '0.0.0.0',
        workers: `http://${relayServiceName(config.instance)}:${port}`,
        api: loopback,
      };
    }
  }
}

/**
 * The one provider of the relay's addresses for the API (its pair checks, /health), the workers' spec and the
 * relay's own. The swarm runtime tells it the manager it pins a host-network relay to (`pin`), once known.
 */
@Injectable()
export class RelayAddress {
  private pinnedHost: string | undefined;

  constructor(@Inject(APP_CONFIG) private readonly config: RelayAddressConfig) {}

  /** The host every worker reaches a relay placed by the runtime at (swarm on the host network). */
  pin(host: string): void {
    this.pinnedHost = host;
  }

  endpoints(): RelayEndpoints {
    return relayEndpoints(this.config, this.pinnedHost);
  }
}
