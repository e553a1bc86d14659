import { ValidateBy, ValidationOptions } from 'class-validator';
import { WEBHOOK_LIMITS } from '../../notify/webhook-events';

/** Why `value` is not a webhook URL (http or https, at most 2,048 characters, no credentials), or undefined. */
export function webhookUrlProblem(value: unknown): string | undefined {
  if (typeof value !== 'string') return 'url must be a string';
  if (value.length > WEBHOOK_LIMITS.urlLength)
    return `url must be at most ${WEBHOOK_LIMITS.urlLength} characters`;
  // The URL parser would quietly percent-encode or drop these; a URL is stored as given, so refuse them.
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0020\u007f]/.test(value)) return 'url must not contain spaces or control characters';
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'url must be an absolute URL, e.g. https://example.com/hooks/pairwatch';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'url must use http or https';
  if (url.username !== '' || url.password !== '') return 'url must not carry credentials (user:password@)';
  if (url.hostname === '') return 'url must name a host';
  return undefined;
}

export function IsWebhookUrl(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isWebhookUrl',
      validator: {
        validate: (value: unknown) => webhookUrlProblem(value) === undefined,
        defaultMessage: (args) => webhookUrlProblem(args?.value) ?? 'url is not valid',
      },
    },
    options,
  );
}
