import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

/** What a sealed value starts with: `pw1:<key id>:<iv>:<ciphertext and tag>` (base64url parts). */
const PREFIX = 'pw1:';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** How to make a key, for the messages that ask for one. */
export const MAKE_SECRETS_KEY =
  "make one with `openssl rand -base64 32` (or `node -e \"console.log(require('crypto').randomBytes(32).toString('base64'))\"`)";

/** A short, non-secret name of a key (the first 4 bytes of its SHA-256): which key sealed a value. */
const keyId = (key: Buffer) => createHash('sha256').update(key).digest('hex').slice(0, 8);

export class SecretBoxError extends Error {
  override readonly name = 'SecretBoxError';
}

/**
 * Seals and opens the secrets kept in Postgres (webhook signing secrets, bot tokens) with AES-256-GCM under
 * SECRETS_KEY. A value sealed under SECRETS_KEY_PREVIOUS still opens during a rotation; `isCurrent` tells the
 * owner of a row to seal it again under the current key when it touches it.
 */
export class SecretBox {
  private readonly currentId: string;
  private readonly keys = new Map<string, Buffer>();

  constructor(current: Buffer, previous?: Buffer) {
    if (current.length !== 32) throw new SecretBoxError('SECRETS_KEY must be 32 bytes');
    this.currentId = keyId(current);
    this.keys.set(this.currentId, current);
    if (previous) {
      if (previous.length !== 32) throw new SecretBoxError('SECRETS_KEY_PREVIOUS must be 32 bytes');
      this.keys.set(keyId(previous), previous);
    }
  }

  static isSealed(value: string): boolean {
    return value.startsWith(PREFIX);
  }

  seal(plain: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.keys.get(this.currentId)!, iv);
    const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final(), cipher.getAuthTag()]);
    return `${PREFIX}${this.currentId}:${iv.toString('base64url')}:${body.toString('base64url')}`;
  }

  open(sealed: string): string {
    const parts = sealed.split(':');
    if (!SecretBox.isSealed(sealed) || parts.length !== 4)
      throw new SecretBoxError('the value is not a sealed secret');
    const key = this.keys.get(parts[1]);
    if (!key)
      throw new SecretBoxError(
        `the secret was sealed under a key that is neither SECRETS_KEY nor SECRETS_KEY_PREVIOUS (key id ${parts[1]})`,
      );
    const iv = Buffer.from(parts[2], 'base64url');
    const body = Buffer.from(parts[3], 'base64url');
    if (iv.length !== IV_BYTES || body.length < TAG_BYTES)
      throw new SecretBoxError('the sealed secret is damaged');
    const decipher = createDecipheriv('aes-256-gcm', key, iv);
    decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
    try {
      return Buffer.concat([
        decipher.update(body.subarray(0, body.length - TAG_BYTES)),
        decipher.final(),
      ]).toString('utf8');
    } catch {
      throw new SecretBoxError('the sealed secret does not open under its key (damaged or tampered with)');
    }
  }

  /** Whether a sealed value is under the current key (false: seal it again when its row is next written). */
  isCurrent(sealed: string): boolean {
    return sealed.startsWith(`${PREFIX}${this.currentId}:`);
  }

  /** The value sealed under the current key: as it is when it already is, else opened and sealed again. */
  reseal(sealed: string): string {
    return this.isCurrent(sealed) ? sealed : this.seal(this.open(sealed));
  }
}
