import { HttpException } from '@nestjs/common';
import { loadConfig } from '../config/app.config';
import { AddressPolicy } from '../notify/address-policy';
import { assertReachable } from './webhooks.service';

/** The policy /webhooks and /channels build from the environment. */
const policyOf = (env: NodeJS.ProcessEnv) => new AddressPolicy(loadConfig(env).webhooks.allowedHosts);

const refusal = (policy: AddressPolicy, url: string, field: string) => {
  try {
    assertReachable(policy, url, field);
  } catch (caught) {
    expect(caught).toBeInstanceOf(HttpException);
    return (caught as HttpException).getResponse() as { statusCode: number; message: string[] };
  }
  return undefined;
};

describe('assertReachable', () => {
  // POST /channels with an internal URL was told to set WEBHOOK_ALLOWED_HOSTS, while docs/CONFIGURATION.md names
  // CHANNEL_ALLOWED_HOSTS for channels. Both are read, into one list, for webhooks and channels alike.
  it.each(['CHANNEL_ALLOWED_HOSTS', 'WEBHOOK_ALLOWED_HOSTS'])(
    '%s lets a listed internal host:port through',
    (name) => {
      const policy = policyOf({ [name]: '127.0.0.1:9000' });
      expect(refusal(policy, 'http://127.0.0.1:9000/hook', 'config.url')).toBeUndefined();
      expect(refusal(policy, 'http://127.0.0.1:9001/hook', 'config.url')?.statusCode).toBe(422);
    },
  );

  it('names the variable to set, CHANNEL_ALLOWED_HOSTS first', () => {
    expect(refusal(policyOf({}), 'http://169.254.169.254:9093', 'config.url')?.message).toEqual([
      'config.url must not point at an internal address: 169.254.169.254 is linkLocal ' +
        '(CHANNEL_ALLOWED_HOSTS, or the older WEBHOOK_ALLOWED_HOSTS, can list host:port)',
    ]);
  });
});
