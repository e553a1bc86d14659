import { Inject, Injectable, OnModuleDestroy, Optional } from '@nestjs/common';
import { lookup as dnsLookup, LookupAddress } from 'node:dns';
import type { LookupFunction } from 'node:net';
import { APP_CONFIG, AppConfig } from '../config/app.config';
import { AddressPolicy, isIpLiteral, urlPort } from './address-policy';
import { BlockedAddressError, KeptAliveAgents, postOnce, type PostOutcome } from './http-post';
import { WEBHOOK_LIMITS } from './webhook-events';

export interface WebhookRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
}

/** How one request went, and how long it took. */
export type WebhookResponse = Omit<PostOutcome, 'answer'> & { durationMs: number };

/** Injection token of the send timeout (default WEBHOOK_LIMITS.timeoutMs). */
export const WEBHOOK_SEND_TIMEOUT = Symbol('WEBHOOK_SEND_TIMEOUT');

/**
 * The one door to users' endpoints. Sends one POST: redirects are not followed, the whole exchange is cut at
 * 10 s, at most 64 KB of the answer is read. Every connection is checked on the address it is actually made
 * to (the host name is resolved here and each address put through the AddressPolicy before connecting), so
 * a name that resolves to, or rebinds to, an internal address is refused like a literal one.
 */
@Injectable()
export class WebhookSender implements OnModuleDestroy {
  private readonly policy: AddressPolicy;
  private readonly agents = new KeptAliveAgents();

  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    /** Unit specs shorten the 10 s. */
    @Optional() @Inject(WEBHOOK_SEND_TIMEOUT) private readonly timeoutMs: number = WEBHOOK_LIMITS.timeoutMs,
  ) {
    this.policy = new AddressPolicy(config.webhooks.allowedHosts);
  }

  onModuleDestroy(): void {
    this.agents.destroy();
  }

  async send(request: WebhookRequest): Promise<WebhookResponse> {
    const started = Date.now();
    let target: URL;
    try {
      target = new URL(request.url);
    } catch {
      return { status: null, durationMs: 0, error: 'the URL is not valid', bytesRead: 0 };
    }
    if (target.protocol !== 'http:' && target.protocol !== 'https:') {
      return { status: null, durationMs: 0, error: 'only http and https', bytesRead: 0 };
    }
    const port = urlPort(target);
    const host = target.hostname;
    if (isIpLiteral(host)) {
      const refusal = this.policy.refusal(host.replace(/^\[|\]$/g, ''), port);
      if (refusal) return { status: null, durationMs: 0, error: `blocked: ${refusal}`, bytesRead: 0 };
    }
    const outcome = await postOnce(target, {
      agents: this.agents,
      lookup: this.checkedLookup(host, port),
      timeoutMs: this.timeoutMs,
      headers: {
        ...request.headers,
        'content-type': 'application/json',
        'user-agent': 'pairwatch-webhooks/0.1',
      },
      body: request.body,
    });
    return { ...outcome, durationMs: Date.now() - started };
  }

  /** A dns lookup that refuses internal addresses unless `host:port` or the address:port is allowed. */
  private checkedLookup(host: string, port: number): LookupFunction {
    const policy = this.policy;
    return (hostname, options, callback) => {
      dnsLookup(hostname, { ...options, all: true }, (error, addresses: LookupAddress[]) => {
        if (error) return callback(error, '', 0);
        if (!policy.isAllowed(host, port)) {
          const refusal = addresses.map((a) => policy.refusal(a.address, port)).find((r) => r !== undefined);
          if (refusal) return callback(new BlockedAddressError(`${hostname} resolves to ${refusal}`), '', 0);
        }
        if (options.all)
          return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, addresses);
        const first = addresses[0];
        return callback(null, first.address, first.family);
      });
    };
  }
}
