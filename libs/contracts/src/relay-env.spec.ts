import { parseRelayEnv, RELAY_DEFAULT_PORT, toRelayEnv } from './relay-env';

describe('relay environment', () => {
  const minimal = { UPHOLD_API_URL: 'https://api.uphold.com/' };

  it('takes the defaults and strips the trailing slash of the upstream URL', () => {
    expect(parseRelayEnv(minimal)).toEqual({
      host: '127.0.0.1',
      port: RELAY_DEFAULT_PORT,
      upholdApiUrl: 'https://api.uphold.com',
      rateLimitPerMin: 250,
      requestTimeoutMs: 5000,
      logLevel: 'info',
    });
  });

  it('round-trips what the API hands the relay', () => {
    const settings = {
      host: '0.0.0.0',
      port: 18095,
      upholdApiUrl: 'http://127.0.0.1:8099',
      rateLimitPerMin: 120,
      requestTimeoutMs: 4000,
      logLevel: 'debug',
    };
    expect(parseRelayEnv(toRelayEnv(settings))).toEqual(settings);
  });

  it.each<[string, Record<string, string>, string]>([
    ['no upstream', {}, 'UPHOLD_API_URL is required'],
    [
      'an upstream that is not http(s)',
      { UPHOLD_API_URL: 'ftp://x' },
      'UPHOLD_API_URL must be an http(s) URL',
    ],
    ['a port of 0', { ...minimal, RELAY_PORT: '0' }, 'RELAY_PORT must be at least 1'],
    [
      'a limit that is not a number',
      { ...minimal, UPHOLD_RATE_LIMIT_PER_MIN: 'lots' },
      'UPHOLD_RATE_LIMIT_PER_MIN must be a whole number',
    ],
    [
      'a host name to listen on',
      { ...minimal, RELAY_HOST: 'example.com' },
      'RELAY_HOST must be an IP address',
    ],
  ])('refuses %s, naming the variable', (_what, env, message) => {
    expect(() => parseRelayEnv(env)).toThrow(message);
    expect(() => parseRelayEnv(env)).toThrow(/^invalid relay configuration: /);
  });
});

describe('parseRelayEnv: Redis settings', () => {
  const base = { UPHOLD_API_URL: 'http://u:1' };

  it('reads them when given, and refuses a bad one naming the variable', () => {
    expect(parseRelayEnv({ ...base, REDIS_URL: 'redis://r:6379' }).redis).toMatchObject({
      mode: 'standalone',
    });
    expect(parseRelayEnv(base).redis).toBeUndefined();
    expect(() => parseRelayEnv({ ...base, REDIS_URL: 'redis://r', REDIS_MODE: 'cluster' })).toThrow(
      'invalid relay configuration: REDIS_CLUSTER_NODES must list at least one host:port',
    );
  });
});
