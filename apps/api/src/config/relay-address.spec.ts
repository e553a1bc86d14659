import { RelayAddress, relayEndpoints, RelayAddressConfig, RelayEndpoints } from './relay-address';

const base: RelayAddressConfig = {
  workerRuntime: 'docker',
  workerNetwork: 'host',
  instance: 'dev',
  relayPort: 8095,
};

describe(relayEndpoints.name, () => {
  it.each<[string, Partial<RelayAddressConfig>, RelayEndpoints]>([
    [
      'process: loopback for everyone',
      { workerRuntime: 'process', workerNetwork: undefined },
      { listenHost: '127.0.0.1', workers: 'http://127.0.0.1:8095', api: 'http://127.0.0.1:8095' },
    ],
    [
      'docker on the host network: loopback, listening on loopback only',
      {},
      { listenHost: '127.0.0.1', workers: 'http://127.0.0.1:8095', api: 'http://127.0.0.1:8095' },
    ],
    [
      'docker on a user-defined network: the container name, for workers and the API on it',
      { workerNetwork: 'pairwatch', relayPort: 9000 },
      {
        listenHost: '0.0.0.0',
        workers: 'http://pairwatch-relay-dev:9000',
        api: 'http://pairwatch-relay-dev:9000',
      },
    ],
    [
      'swarm with host-network workers, before the runtime knows its manager: loopback',
      { workerRuntime: 'swarm' },
      { listenHost: '0.0.0.0', workers: 'http://127.0.0.1:8095', api: 'http://127.0.0.1:8095' },
    ],
    [
      'swarm on an overlay: workers by service name, the API through the published port',
      { workerRuntime: 'swarm', workerNetwork: 'pairwatch' },
      { listenHost: '0.0.0.0', workers: 'http://pw-relay-dev:8095', api: 'http://127.0.0.1:8095' },
    ],
  ])('%s', (_case, config, expected) => {
    expect(relayEndpoints({ ...base, ...config })).toEqual(expected);
  });

  it.each([
    ['10.0.0.5', 'http://10.0.0.5:8095'],
    ['fd00::5', 'http://[fd00::5]:8095'],
  ])(
    'swarm with host-network workers: the swarm address of the manager the relay is pinned to (%s)',
    (relayHost, url) => {
      const endpoints = relayEndpoints({ ...base, workerRuntime: 'swarm' }, relayHost);
      expect(endpoints).toEqual({ listenHost: '0.0.0.0', workers: url, api: url });
    },
  );

  it("only swarm on the host network takes the runtime's relay host", () => {
    for (const config of [
      {},
      { workerRuntime: 'process' as const },
      { workerRuntime: 'swarm' as const, workerNetwork: 'pairwatch' },
    ])
      expect(relayEndpoints({ ...base, ...config }, '10.0.0.5')).toEqual(
        relayEndpoints({ ...base, ...config }),
      );
  });

  it.each(['docker', 'swarm'] as const)(
    '%s with no WORKER_NETWORK: a problem naming WORKER_NETWORK and UPHOLD_RELAY',
    (workerRuntime) => {
      const { problem } = relayEndpoints({ ...base, workerRuntime, workerNetwork: undefined });
      expect(problem).toMatch(/WORKER_NETWORK/);
      expect(problem).toMatch(/UPHOLD_RELAY=off/);
    },
  );
});

describe(RelayAddress.name, () => {
  it('answers the endpoints for its configuration, with the host the runtime pinned the relay to', () => {
    const address = new RelayAddress({ ...base, workerRuntime: 'swarm' });
    expect(address.endpoints().workers).toBe('http://127.0.0.1:8095');
    address.pin('10.0.0.5');
    expect(address.endpoints()).toEqual(relayEndpoints({ ...base, workerRuntime: 'swarm' }, '10.0.0.5'));
  });
});
