import { createServer, IncomingHttpHeaders, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request a receiver got. */
export interface ReceivedRequest {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** Date.now() when it had arrived whole. */
  at: number;
}

export interface ReceiverAnswer {
  status: number;
  headers?: Record<string, string>;
  body?: string;
  /** Wait this long before answering (a hanging endpoint); the answer is dropped if the client hung up. */
  delayMs?: number;
  /** Answer only once this has settled (and `delayMs` after that): requests held until the test lets them go. */
  after?: Promise<unknown>;
  /** Instead of `body`, stream this many bytes, as fast as the client reads them (a huge answer). */
  streamBytes?: number;
}

/**
 * A local HTTP server standing in for users' endpoints: records every request, answers what `answer` says
 * for it (200 by default). Listens on 127.0.0.1 only.
 */
export class WebhookReceiver {
  readonly requests: ReceivedRequest[] = [];
  /** Bytes of streamed answers the client took before it closed the connection, per request (in order). */
  readonly streamed: number[] = [];
  answer: (request: ReceivedRequest, received: ReceivedRequest[]) => ReceiverAnswer = () => ({ status: 200 });
  private readonly timers = new Set<NodeJS.Timeout>();
  private listening = 0;
  private readonly server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const received: ReceivedRequest = {
        path: req.url ?? '/',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        at: Date.now(),
      };
      this.requests.push(received);
      const answer = this.answer(
        received,
        this.requests.filter((r) => r.path === received.path),
      );
      const reply = () => {
        if (res.destroyed) return;
        res.writeHead(answer.status, answer.headers);
        if (answer.streamBytes === undefined) res.end(answer.body ?? '');
        else this.stream(res, answer.streamBytes);
      };
      const wait = () => {
        if (!answer.delayMs) return reply();
        const timer = setTimeout(() => {
          this.timers.delete(timer);
          reply();
        }, answer.delayMs);
        this.timers.add(timer);
      };
      if (answer.after) void answer.after.then(wait, wait);
      else wait();
    });
  });

  /** Writes `total` bytes with back-pressure; records how many the client took once it is done or gone. */
  private stream(res: ServerResponse, total: number): void {
    const index = this.streamed.push(0) - 1;
    const chunk = Buffer.alloc(64 * 1024, 'x');
    let written = 0;
    const pump = () => {
      while (written < total && !res.destroyed) {
        const piece = chunk.subarray(0, Math.min(chunk.length, total - written));
        written += piece.length;
        this.streamed[index] = written;
        if (!res.write(piece)) return void res.once('drain', pump);
      }
      if (!res.destroyed) res.end();
    };
    res.on('close', () => {
      // What was accepted but never flushed did not reach the client.
      this.streamed[index] = written - res.writableLength;
    });
    pump();
  }

  /** Listens on `port` (default: any free one); a stopped receiver can start again on its old port. */
  async start(port = 0): Promise<this> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => {
        this.server.off('error', reject);
        this.listening = (this.server.address() as AddressInfo).port;
        resolve();
      });
    });
    return this;
  }

  get isListening(): boolean {
    return this.server.listening;
  }

  /** The port it listens on, or last listened on once stopped. */
  get port(): number {
    return this.listening;
  }

  /** http://127.0.0.1:<port><path> */
  url(path = '/'): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  /** `host:port` for WEBHOOK_ALLOWED_HOSTS. */
  get hostPort(): string {
    return `127.0.0.1:${this.port}`;
  }

  at(path: string): ReceivedRequest[] {
    return this.requests.filter((r) => r.path === path);
  }

  async stop(): Promise<void> {
    for (const timer of this.timers) clearTimeout(timer);
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** The headers a Standard Webhooks verifier takes, from a received request. */
export function signatureHeadersOf(request: ReceivedRequest): Record<string, string> {
  const header = (name: string) => String(request.headers[name] ?? '');
  return {
    'webhook-id': header('webhook-id'),
    'webhook-timestamp': header('webhook-timestamp'),
    'webhook-signature': header('webhook-signature'),
  };
}
