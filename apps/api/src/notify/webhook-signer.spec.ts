import { Webhook } from 'standardwebhooks';
import { newWebhookSecret, signatureHeaders, signingSecrets } from './webhook-signer';

describe('newWebhookSecret', () => {
  it('is whsec_ and base64 of 32 bytes, new each time', () => {
    const a = newWebhookSecret();
    expect(a).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(Buffer.from(a.slice(6), 'base64')).toHaveLength(32);
    expect(newWebhookSecret()).not.toBe(a);
  });
});

describe('signatureHeaders', () => {
  const body = JSON.stringify({ type: 'webhook.test', timestamp: '2026-01-01T00:00:00.000Z', data: {} });

  it('verifies with the package, with each secret that signed', () => {
    const [current, previous, other] = [newWebhookSecret(), newWebhookSecret(), newWebhookSecret()];
    const headers = signatureHeaders('d-1', new Date(), body, [current, previous]);
    expect(headers['webhook-id']).toBe('d-1');
    expect(headers['webhook-signature'].split(' ')).toHaveLength(2);
    expect(() => new Webhook(current).verify(body, { ...headers })).not.toThrow();
    expect(() => new Webhook(previous).verify(body, { ...headers })).not.toThrow();
    expect(() => new Webhook(other).verify(body, { ...headers })).toThrow();
    expect(() => new Webhook(current).verify(`${body} `, { ...headers })).toThrow();
  });

  it("is the package's own signature, byte for byte", () => {
    const secret = newWebhookSecret();
    const at = new Date(1_767_225_600_999);
    for (const text of [body, '', 'ünïcödé €', JSON.stringify({ a: 'x'.repeat(5000) })]) {
      const headers = signatureHeaders('msg_2KWPBgLlAfxdpx2AI54pPJ85f4W', at, text, [secret]);
      expect(headers['webhook-signature']).toBe(
        new Webhook(secret).sign('msg_2KWPBgLlAfxdpx2AI54pPJ85f4W', at, text),
      );
    }
  });

  it('gives the timestamp in seconds', () => {
    const headers = signatureHeaders('d', new Date(1_767_225_600_999), body, [newWebhookSecret()]);
    expect(headers['webhook-timestamp']).toBe('1767225600');
  });
});

describe('signingSecrets', () => {
  const now = new Date('2026-01-01T00:00:00Z');
  it.each([
    [null, null, ['new']],
    ['old', new Date('2026-01-01T00:00:01Z'), ['new', 'old']],
    ['old', new Date('2026-01-01T00:00:00Z'), ['new']],
    ['old', null, ['new']],
  ])('previous %j until %j → %j', (previousSecret, previousSecretUntil, expected) => {
    expect(signingSecrets({ secret: 'new', previousSecret, previousSecretUntil }, now)).toEqual(expected);
  });
});
