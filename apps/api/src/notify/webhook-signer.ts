import { createHmac, randomBytes } from 'node:crypto';

/** A new signing secret: `whsec_` + base64 of 32 random bytes. */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

export interface SignatureHeaders {
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
}

/**
 * The Standard Webhooks headers of one attempt, signed with every secret given (the current one, and during a
 * rotation's grace the previous one): one `v1,<sig>` each, space-separated. The signature is the spec's (and
 * the `standardwebhooks` package's, which the spec checks against): base64 of HMAC-SHA256 under the secret's
 * bytes (base64 after `whsec_`) of `<id>.<timestamp>.<body>`, computed by node:crypto (the package's pure-JS
 * SHA-256 cost four times as much CPU, at every delivery).
 */
export function signatureHeaders(
  id: string,
  at: Date,
  body: string,
  secrets: readonly string[],
): SignatureHeaders {
  return {
    'webhook-id': id,
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': secrets.map((secret) => sign(secret, id, at, body)).join(' '),
  };
}

/** The secrets that sign now: the current one, and the previous one until its grace ends. */
export function signingSecrets(
  webhook: { secret: string; previousSecret: string | null; previousSecretUntil: Date | null },
  now: Date,
): string[] {
  const previous =
    webhook.previousSecret !== null &&
    webhook.previousSecretUntil !== null &&
    webhook.previousSecretUntil.getTime() > now.getTime()
      ? [webhook.previousSecret]
      : [];
  return [webhook.secret, ...previous];
}

const SECRET_PREFIX = 'whsec_';

function sign(secret: string, id: string, at: Date, body: string): string {
  const key = Buffer.from(
    secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret,
    'base64',
  );
  const signed = `${id}.${Math.floor(at.getTime() / 1000)}.${body}`;
  return `v1,${createHmac('sha256', key).update(signed).digest('base64')}`;
}
