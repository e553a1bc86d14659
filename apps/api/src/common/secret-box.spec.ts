import { randomBytes } from 'node:crypto';
import { parseSecretsKey } from '../config/secrets-key';
import { SecretBox, SecretBoxError } from './secret-box';

const KEY = randomBytes(32);
const OTHER = randomBytes(32);
const SECRET = 'whsec_' + randomBytes(32).toString('base64');

describe('parseSecretsKey', () => {
  it('reads 32 bytes as base64, base64url or hex', () => {
    expect(parseSecretsKey(KEY.toString('base64'))).toEqual(KEY);
    expect(parseSecretsKey(KEY.toString('base64url'))).toEqual(KEY);
    expect(parseSecretsKey(KEY.toString('hex'))).toEqual(KEY);
  });

  it.each([
    ['too short', randomBytes(16).toString('base64')],
    ['too long', randomBytes(48).toString('base64')],
    ['a passphrase', 'correct horse battery staple and more words'],
    ['empty', ''],
  ])('refuses %s', (_label, text) => {
    expect(parseSecretsKey(text)).toBeUndefined();
  });
});

describe('SecretBox', () => {
  const box = new SecretBox(KEY);

  it('seals to text that holds nothing of the secret, and opens it again', () => {
    const sealed = box.seal(SECRET);
    expect(SecretBox.isSealed(sealed)).toBe(true);
    expect(sealed).not.toContain(SECRET);
    expect(sealed).not.toContain(SECRET.slice(6, 20));
    expect(box.open(sealed)).toBe(SECRET);
  });

  it('seals the same secret differently each time (a fresh IV)', () => {
    expect(box.seal(SECRET)).not.toBe(box.seal(SECRET));
  });

  it('refuses a tampered value instead of opening it to something else', () => {
    const sealed = box.seal(SECRET);
    const parts = sealed.split(':');
    const body = Buffer.from(parts[3], 'base64url');
    body[0] ^= 1;
    parts[3] = body.toString('base64url');
    expect(() => box.open(parts.join(':'))).toThrow(SecretBoxError);
    expect(() => box.open('whsec_plain')).toThrow(SecretBoxError);
  });

  it('opens what the previous key sealed during a rotation, and reseals it under the new one', () => {
    const old = new SecretBox(OTHER).seal(SECRET);
    const rotated = new SecretBox(KEY, OTHER);
    expect(rotated.isCurrent(old)).toBe(false);
    expect(rotated.open(old)).toBe(SECRET);
    const resealed = rotated.reseal(old);
    expect(rotated.isCurrent(resealed)).toBe(true);
    expect(new SecretBox(KEY).open(resealed)).toBe(SECRET);
  });

  it('says which key is missing when neither key opens a value, without printing the value', () => {
    const foreign = new SecretBox(OTHER).seal(SECRET);
    expect(() => box.open(foreign)).toThrow(/neither SECRETS_KEY nor SECRETS_KEY_PREVIOUS/);
    try {
      box.open(foreign);
    } catch (error) {
      expect((error as Error).message).not.toContain(SECRET);
    }
  });
});
