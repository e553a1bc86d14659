import { Inject, Injectable, OnModuleDestroy, Optional } from '@nestjs/common';
import { lookup as dnsLookup, LookupAddress } from 'node:dns';
import * as http from 'node:http';
import * as https from 'node:https';
import type { LookupFunction } from 'node:net';
import { APP_CONFIG, AppConfig } from '../config/app.config';
import { AddressPolicy, isIpLiteral, urlPort } from './address-policy';
import { WEBHOOK_LIMITS } from './webhook-events';

export interface WebhookRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
}

/** How one request went. */
export interface WebhookResponse {
  /** The HTTP status; null when no answer came. */
  status: number | null;
  durationMs: number;
  /** Why no answer came (refused, timed out, blocked), or a note about the answer; null when none. */
  error: string | null;
  /** The Retry-After header, as sent. */
  retryAfter?: string;
  /** Bytes of the answer read (at most WEBHOOK_LIMITS.maxAnswerBytes). */
  bytesRead: number;
}

/** Injection token of the send timeout (default WEBHOOK_LIMITS.timeoutMs). */
export const WEBHOOK_SEND_TIMEOUT = Symbol('WEBHOOK_SEND_TIMEOUT');

export class BlockedAddressError extends Error {
  override readonly name = 'BlockedAddressError';
}

/**
 * The one door to users' endpoints. Sends one POST: redirects are not followed, the whole exchange is cut at
 * 10 s, at most 64 KB of the answer is read. Every connection is checked on the address it is actually made
 * to (the host name is resolved here and each address put through the AddressPolicy before connecting), so
 * a name that resolves to, or rebinds to, an internal address is refused like a literal one.
 */
@Injectable()
export class WebhookSender implements OnModuleDestroy {
  private readonly policy: AddressPolicy;
  private readonly agents = {
    'http:': new http.Agent({ keepAlive: true, maxSockets: 64 }),
    'https:': new https.Agent({ keepAlive: true, maxSockets: 64 }),
  };

  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    /** Unit specs shorten the 10 s. */
    @Optional() @Inject(WEBHOOK_SEND_TIMEOUT) private readonly timeoutMs: number = WEBHOOK_LIMITS.timeoutMs,
  ) {
    this.policy = new AddressPolicy(config.webhooks.allowedHosts);
  }

  onModuleDestroy(): void {
    this.agents['http:'].destroy();
    this.agents['https:'].destroy();
  }

  send(request: WebhookRequest): Promise<WebhookResponse> {
    const started = Date.now();
    const elapsed = () => Date.now() - started;
    let target: URL;
    try {
      target = new URL(request.url);
    } catch {
      return Promise.resolve({ status: null, durationMs: 0, error: 'the URL is not valid', bytesRead: 0 });
    }
    if (target.protocol !== 'http:' && target.protocol !== 'https:') {
      return Promise.resolve({ status: null, durationMs: 0, error: 'only http and https', bytesRead: 0 });
    }
    const port = urlPort(target);
    const host = target.hostname;
    if (isIpLiteral(host)) {
      const refusal = this.policy.refusal(host.replace(/^\[|\]$/g, ''), port);
      if (refusal)
        return Promise.resolve({ status: null, durationMs: 0, error: `blocked: ${refusal}`, bytesRead: 0 });
    }
    const transport = target.protocol === 'https:' ? https : http;
    return new Promise<WebhookResponse>((resolve) => {
      let settled = false;
      const finish = (response: Omit<WebhookResponse, 'durationMs'>) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve({ ...response, durationMs: elapsed() });
      };
      const req = transport.request(target, {
        method: 'POST',
        agent: this.agents[target.protocol as 'http:' | 'https:'],
        lookup: this.checkedLookup(host, port),
        headers: {
          ...request.headers,
          'content-type': 'application/json',
          'content-length': String(Buffer.byteLength(request.body)),
          'user-agent': 'pairwatch-webhooks/0.1',
        },
      });
      const timer = setTimeout(() => {
        req.destroy(new Error(`timed out after ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      req.on('error', (error: Error) => {
        const blocked = error instanceof BlockedAddressError;
        finish({ status: null, error: blocked ? `blocked: ${error.message}` : error.message, bytesRead: 0 });
      });
      req.on('response', (res) => {
        let bytesRead = 0;
        const retryAfter = headerText(res.headers['retry-after']);
        const done = (error: string | null) =>
          finish({ status: res.statusCode ?? null, error, bytesRead, ...(retryAfter ? { retryAfter } : {}) });
        res.on('data', (chunk: Buffer) => {
          bytesRead += chunk.length;
          if (bytesRead > WEBHOOK_LIMITS.maxAnswerBytes) {
            bytesRead = WEBHOOK_LIMITS.maxAnswerBytes;
            done('answer longer than 64 KB: the rest was not read');
            res.destroy();
          }
        });
        res.on('end', () => done(null));
        res.on('error', () => done(null));
        res.on('close', () => done(null));
      });
      req.end(request.body);
    });
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

const headerText = (value: string | string[] | undefined) => (Array.isArray(value) ? value[0] : value);
