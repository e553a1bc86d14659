import * as http from 'node:http';
import * as https from 'node:https';
import type { LookupFunction } from 'node:net';
import { WEBHOOK_LIMITS } from './webhook-events';

/** A connection refused by the address policy before it was made (see WebhookSender's checked lookup). */
export class BlockedAddressError extends Error {
  override readonly name = 'BlockedAddressError';
}

/** How one POST went. */
export interface PostOutcome {
  /** The HTTP status; null when no answer came. */
  status: number | null;
  /** Why no answer came (refused, timed out, blocked), or a note about the answer; null when none. */
  error: string | null;
  /** The Retry-After header, as sent. */
  retryAfter?: string;
  /** Bytes of the answer read (at most WEBHOOK_LIMITS.maxAnswerBytes). */
  bytesRead: number;
  /** The answer read, as UTF-8, when `keepAnswer` asked for it. */
  answer?: string;
}

export interface PostOptions {
  headers: Record<string, string>;
  body: string;
  timeoutMs: number;
  /** Connections kept open between requests, one agent per scheme. */
  agents: KeptAliveAgents;
  /** How the host name is resolved (WebhookSender's puts every address through its policy). */
  lookup?: LookupFunction;
  /** Keep the answer's text (Telegram's JSON); otherwise only its bytes are counted. */
  keepAnswer?: boolean;
}

/** Kept-alive agents for http and https, 64 sockets each; destroyed with the module that owns them. */
export class KeptAliveAgents {
  private readonly agents = {
    'http:': new http.Agent({ keepAlive: true, maxSockets: 64 }),
    'https:': new https.Agent({ keepAlive: true, maxSockets: 64 }),
  };

  of(target: URL): http.Agent {
    return this.agents[target.protocol === 'https:' ? 'https:' : 'http:'];
  }

  destroy(): void {
    this.agents['http:'].destroy();
    this.agents['https:'].destroy();
  }
}

/**
 * One POST of `body` to an http or https `target`: redirects are not followed, the whole exchange is cut at
 * `timeoutMs`, at most WEBHOOK_LIMITS.maxAnswerBytes of the answer is read. Never rejects: a request that got no
 * answer resolves with status null and the reason.
 */
export function postOnce(target: URL, options: PostOptions): Promise<PostOutcome> {
  const transport = target.protocol === 'https:' ? https : http;
  return new Promise<PostOutcome>((resolve) => {
    let settled = false;
    const finish = (outcome: PostOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(outcome);
    };
    const req = transport.request(target, {
      method: 'POST',
      agent: options.agents.of(target),
      ...(options.lookup ? { lookup: options.lookup } : {}),
      headers: { ...options.headers, 'content-length': String(Buffer.byteLength(options.body)) },
    });
    const timer = setTimeout(() => {
      req.destroy(new Error(`timed out after ${options.timeoutMs} ms`));
    }, options.timeoutMs);
    req.on('error', (error: Error) => {
      const blocked = error instanceof BlockedAddressError;
      finish({ status: null, error: blocked ? `blocked: ${error.message}` : error.message, bytesRead: 0 });
    });
    req.on('response', (res) => {
      let bytesRead = 0;
      const chunks: Buffer[] = [];
      const retryAfter = headerText(res.headers['retry-after']);
      const done = (error: string | null) =>
        finish({
          status: res.statusCode ?? null,
          error,
          bytesRead,
          ...(retryAfter ? { retryAfter } : {}),
          ...(options.keepAnswer ? { answer: Buffer.concat(chunks).toString('utf8') } : {}),
        });
      res.on('data', (chunk: Buffer) => {
        const room = WEBHOOK_LIMITS.maxAnswerBytes - bytesRead;
        if (options.keepAnswer) chunks.push(chunk.length > room ? chunk.subarray(0, room) : chunk);
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
    req.end(options.body);
  });
}

const headerText = (value: string | string[] | undefined) => (Array.isArray(value) ? value[0] : value);
