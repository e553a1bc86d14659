import { IncomingMessage, request } from 'node:http';
import { eventually } from './wait';

/** One Server-Sent Event as received. */
export interface SseEvent {
  event: string;
  id: string | undefined;
  data: string;
}

/**
 * A Server-Sent Events client on a plain HTTP request (as the dashboard reads the stream with fetch): the
 * events and comments received so far, the answer's status and headers, and a way to stop reading (`pause`)
 * without closing, as a slow client would.
 */
export class SseClient {
  readonly events: SseEvent[] = [];
  readonly comments: string[] = [];
  status = 0;
  headers: IncomingMessage['headers'] = {};
  /** The body of a non-200 answer. */
  body = '';
  /** Bytes of the body received. */
  received = 0;
  ended = false;
  private response: IncomingMessage | undefined;
  private req!: ReturnType<typeof request>;
  private buffer = '';
  private readonly answered: Promise<void>;

  constructor(url: string, headers: Record<string, string> = {}) {
    this.answered = new Promise((resolve, reject) => {
      this.req = request(url, { headers: { Accept: 'text/event-stream', ...headers } }, (res) => {
        this.response = res;
        this.status = res.statusCode ?? 0;
        this.headers = res.headers;
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          this.received += Buffer.byteLength(chunk);
          if (this.status === 200) this.parse(chunk);
          else this.body += chunk;
        });
        const end = () => (this.ended = true);
        res.on('end', end);
        res.on('close', end);
        res.on('error', end);
        resolve();
      });
      this.req.on('error', (error) => {
        this.ended = true;
        reject(error);
      });
      this.req.end();
    });
  }

  /** Opens a stream and waits for the answer's head. */
  static async open(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
    const client = new SseClient(url, headers);
    await client.answered;
    return client;
  }

  /** The alerts received, parsed. */
  alerts<T = { id: string }>(): T[] {
    return this.events.filter((e) => e.event === 'alert').map((e) => JSON.parse(e.data) as T);
  }

  lastId(): string | undefined {
    return this.events[this.events.length - 1]?.id;
  }

  /** Waits until `count` alerts have arrived, in all. */
  async waitForAlerts(count: number, timeoutMs = 20_000): Promise<void> {
    await eventually(
      `${count} alerts on the stream (have ${this.alerts().length})`,
      () => (this.alerts().length >= count ? true : undefined),
      timeoutMs,
      20,
    );
  }

  /** Waits until the alert with this id has arrived. */
  async waitForAlert(id: string, timeoutMs = 20_000): Promise<void> {
    await eventually(
      `alert ${id} on the stream`,
      () => (this.alerts().some((a) => a.id === id) ? true : undefined),
      timeoutMs,
      20,
    );
  }

  /** Stops reading: what the server sends piles up in the kernel's buffers, then in the server. */
  pause(): void {
    this.response?.pause();
  }

  resume(): void {
    this.response?.resume();
  }

  close(): void {
    this.req.destroy();
    this.ended = true;
  }

  private parse(chunk: string): void {
    this.buffer += chunk;
    let end: number;
    while ((end = this.buffer.indexOf('\n\n')) >= 0) {
      const block = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 2);
      let event = 'message';
      let id: string | undefined;
      const data: string[] = [];
      let any = false;
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) {
          this.comments.push(line.slice(1).trim());
          continue;
        }
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'event') event = value;
        else if (field === 'id') id = value;
        else if (field === 'data') data.push(value);
        else continue;
        any = true;
      }
      if (any && data.length > 0) this.events.push({ event, id, data: data.join('\n') });
    }
  }
}
