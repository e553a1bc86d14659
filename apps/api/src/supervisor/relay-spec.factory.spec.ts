import { RelayAddress } from '../config/relay-address';
import { parseRelayEnv } from '@pairwatch/contracts';
import { AppConfig, loadConfig } from '../config/app.config';
import { RuntimeUnavailableError } from '../runtime/worker-runtime';
import { RelaySpecFactory } from './relay-spec.factory';

function withAddress(config: AppConfig): RelaySpecFactory {
  return new RelaySpecFactory(config, new RelayAddress(config));
}

describe(RelaySpecFactory.name, () => {
  it("gives the relay Uphold's address, the budget and its port, as the relay parses them", () => {
    const config = loadConfig({
      WORKER_NETWORK: 'host',
      UPHOLD_API_URL: 'http://fake-ticker:8080/',
      UPHOLD_RATE_LIMIT_PER_MIN: '120',
      RELAY_PORT: '9001',
      API_KEY: 'api-key-that-must-not-reach-the-relay',
      LOG_LEVEL: 'silent',
    });
    const spec = new RelaySpecFactory(config, new RelayAddress(config)).spec();
    expect(spec.port).toBe(9001);
    expect(parseRelayEnv(spec.env)).toEqual({
      host: '127.0.0.1',
      port: 9001,
      upholdApiUrl: 'http://fake-ticker:8080',
      rateLimitPerMin: 120,
      requestTimeoutMs: 5000,
      logLevel: 'error',
      redis: config.workerRedis,
    });
    expect(JSON.stringify(spec.env)).not.toContain('api-key-that-must-not-reach-the-relay');
  });

  it("hands the relay the workers' Redis settings, whatever the mode", () => {
    const config = loadConfig({
      WORKER_NETWORK: 'host',
      REDIS_MODE: 'cluster',
      REDIS_CLUSTER_NODES: 'r1:7000,r2:7000',
      WORKER_REDIS_URL: 'redis://:pw@redis',
    });
    const env = withAddress(config).spec().env;
    expect(env).toMatchObject({
      REDIS_MODE: 'cluster',
      REDIS_CLUSTER_NODES: 'r1:7000,r2:7000',
      REDIS_URL: 'redis://:pw@redis',
    });
    expect(parseRelayEnv(env).redis).toEqual(config.workerRedis);
  });

  it('listens on every interface of its container on a user-defined network', () => {
    const spec = withAddress(loadConfig({ WORKER_NETWORK: 'pairwatch' })).spec();
    expect(spec.env.RELAY_HOST).toBe('0.0.0.0');
  });

  it('refuses (RuntimeUnavailableError naming WORKER_NETWORK) where no worker could reach a relay', () => {
    const factory = withAddress(loadConfig({ WORKER_RUNTIME: 'docker' }));
    expect(() => factory.spec()).toThrow(RuntimeUnavailableError);
    expect(() => factory.spec()).toThrow(/WORKER_NETWORK/);
  });
});
