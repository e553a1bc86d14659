import { AlertCursor, encodeCursor } from './alert-cursor';
import type { AlertDto } from './dto/alert.dto';

/** One committed alert as a stream sends it: the alert, and its SSE frame (made once, shared by every client). */
export interface StreamedAlert {
  alert: AlertDto;
  cursor: AlertCursor;
  frame: string;
}

/** The cursor of an alert: its place in the history, the `id:` of its event. */
export function cursorOf(alert: Pick<AlertDto, 'observedAt' | 'id'>): AlertCursor {
  return { observedAt: new Date(alert.observedAt), id: alert.id };
}

export function streamedAlert(alert: AlertDto): StreamedAlert {
  const cursor = cursorOf(alert);
  return {
    alert,
    cursor,
    frame: `event: alert\nid: ${encodeCursor(cursor)}\ndata: ${JSON.stringify(alert)}\n\n`,
  };
}

/** Cursor order: the history's, oldest first. */
export function compareCursors(a: AlertCursor, b: AlertCursor): number {
  const byTime = a.observedAt.getTime() - b.observedAt.getTime();
  if (byTime !== 0) return byTime;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

export const HEARTBEAT_FRAME = ': heartbeat\n\n';

/** Where a stream's bytes go: the HTTP response, behind an interface so the logic is tested without one. */
export interface StreamSink {
  write(chunk: string): void;
  /** Bytes written and not yet taken by the kernel. */
  pendingBytes(): number;
  /** Resolves when the client has taken enough of the pending bytes for more to be written (or it closed). */
  drained(): Promise<void>;
  /** Drops the connection at once, discarding what is pending. */
  destroy(): void;
}

export interface StreamFilter {
  pair?: string;
  monitorId?: string;
}

/** One page of the history after a cursor, oldest first. */
export type ReplayPage = (after: AlertCursor, limit: number) => Promise<AlertDto[]>;

export type CloseReason = 'client' | 'slow' | 'feed-lost' | 'shutdown' | 'error';

export interface StreamClientOptions {
  /** Bytes a client may have waiting: pending in its connection, or held while its replay runs. */
  bufferBytes: number;
  replayPageSize: number;
  /**
   * A replayed row stored less than this long before the stream opened may still be notified after the replay
   * read it (the notification and the replay's query travel on different connections): such ids are kept, to
   * drop that notification, until the stream has been live this long.
   */
  lateNotificationMs: number;
  now(): number;
  onClose(reason: CloseReason): void;
}

/**
 * One open stream. Live alerts are offered from the moment it exists; while it replays what the client missed,
 * they are held (keyed by id), every replayed row takes its own out of the hold, and when the replay is done
 * the rest is sent in cursor order: no gap, no duplicate at the seam. Past `bufferBytes` waiting (a client
 * that does not read, or a hold that outgrows it), the connection is dropped; the client resumes from the last
 * id it received.
 */
export class AlertStreamClient {
  private phase: 'replaying' | 'live' | 'closed' = 'live';
  private readonly held = new Map<string, StreamedAlert>();
  private heldBytes = 0;
  /** Ids replayed that might still be notified; cleared a while after the stream went live. */
  private readonly replayed = new Set<string>();
  private readonly openedAt: number;
  private liveSince: number;

  constructor(
    private readonly filter: StreamFilter,
    private readonly sink: StreamSink,
    private readonly options: StreamClientOptions,
  ) {
    this.openedAt = options.now();
    this.liveSince = this.openedAt;
  }

  get closed(): boolean {
    return this.phase === 'closed';
  }

  matches(alert: AlertDto): boolean {
    return (
      (this.filter.pair === undefined || alert.pair === this.filter.pair) &&
      (this.filter.monitorId === undefined || alert.monitorId === this.filter.monitorId)
    );
  }

  /** A committed alert, in commit order. */
  offer(streamed: StreamedAlert): void {
    if (this.phase === 'closed' || !this.matches(streamed.alert)) return;
    if (this.replayed.delete(streamed.alert.id)) return;
    if (this.phase === 'replaying') {
      if (this.held.has(streamed.alert.id)) return;
      this.held.set(streamed.alert.id, streamed);
      this.heldBytes += streamed.frame.length;
      this.checkBuffer();
    } else {
      this.send(streamed.frame);
    }
  }

  /**
   * Sends what the history holds after `from`, oldest first, a page at a time (waiting for the client to take
   * each), then what was held meanwhile, and goes live. Resolves when live (or closed).
   */
  async replay(from: AlertCursor, page: ReplayPage): Promise<void> {
    if (this.phase !== 'live') return;
    this.phase = 'replaying';
    let cursor = from;
    for (;;) {
      const rows = await page(cursor, this.options.replayPageSize);
      if (this.closed) return;
      for (const row of rows) {
        const held = this.held.get(row.id);
        if (held) {
          this.held.delete(row.id);
          this.heldBytes -= held.frame.length;
        } else if (Date.parse(row.createdAt) >= this.openedAt - this.options.lateNotificationMs) {
          this.replayed.add(row.id);
        }
        this.sink.write(streamedAlert(row).frame);
      }
      // The replay is pulled a page at a time, as fast as the client takes it: its pages never pile up here.
      if (this.sink.pendingBytes() > 0) await this.sink.drained();
      if (this.closed) return;
      if (rows.length < this.options.replayPageSize) break;
      cursor = cursorOf(rows[rows.length - 1]);
    }
    const rest = [...this.held.values()].sort((a, b) => compareCursors(a.cursor, b.cursor));
    this.held.clear();
    this.heldBytes = 0;
    this.phase = 'live';
    this.liveSince = this.options.now();
    for (const streamed of rest) this.send(streamed.frame);
  }

  /** The keep-alive comment; also forgets the replayed ids once no late notification can name them. */
  heartbeat(): void {
    if (this.phase === 'closed') return;
    if (this.phase === 'live' && this.options.now() - this.liveSince >= this.options.lateNotificationMs) {
      this.replayed.clear();
    }
    this.send(HEARTBEAT_FRAME);
  }

  close(reason: CloseReason): void {
    if (this.phase === 'closed') return;
    this.phase = 'closed';
    this.held.clear();
    this.heldBytes = 0;
    this.replayed.clear();
    if (reason !== 'client') this.sink.destroy();
    this.options.onClose(reason);
  }

  private send(chunk: string): void {
    if (this.phase !== 'live') return;
    this.sink.write(chunk);
    this.checkBuffer();
  }

  /** Live: the bytes the client has not taken; replaying: the live alerts held for after the replay. */
  private checkBuffer(): void {
    if (this.phase === 'closed') return;
    const waiting = this.phase === 'replaying' ? this.heldBytes : this.sink.pendingBytes();
    if (waiting > this.options.bufferBytes) this.close('slow');
  }
}
