import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';

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
 * The Standard Webhooks headers of one attempt, signed by the `standardwebhooks` package with every secret
 * given (the current one, and during a rotation's grace the previous one): one `v1,<sig>` each, space-separated.
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
    'webhook-signature': secrets.map((secret) => new Webhook(secret).sign(id, at, body)).join(' '),
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
