import { encodeCursor } from './alert-cursor';
import {
  AlertStreamClient,
  CloseReason,
  cursorOf,
  HEARTBEAT_FRAME,
  ReplayPage,
  StreamClientOptions,
  StreamSink,
  streamedAlert,
} from './alert-stream-client';
import type { AlertDto } from './dto/alert.dto';

const MONITOR = '3f1c2b7e-8a4d-4c5e-9f60-1a2b3c4d5e6f';
const NOW = Date.parse('2026-12-01T12:00:00.000Z');

/** Alert n: observed n seconds after a fixed instant; ids sort as n does. */
function alert(n: number, overrides: Partial<AlertDto> = {}): AlertDto {
  return {
    id: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
    monitorId: MONITOR,
    pair: 'BTC-USD',
    direction: 'up',
    priceField: 'ask',
    referencePrice: '63120.45',
    price: '63126.762045',
    changePercent: '0.01',
    thresholdPercent: '0.01',
    intervalMs: 5000,
    observedAt: new Date(NOW - 600_000 + n * 1000).toISOString(),
    createdAt: new Date(NOW - 600_000 + n * 1000).toISOString(),
    ...overrides,
  };
}

/** A sink that keeps what was written; `pending` is what the "kernel" has not taken yet. */
class FakeSink implements StreamSink {
  chunks: string[] = [];
  pending = 0;
  /** Whether written bytes stay pending (a client that stopped reading). */
  stalled = false;
  destroyed = false;
  private waiters: (() => void)[] = [];

  write(chunk: string): void {
    this.chunks.push(chunk);
    if (this.stalled) this.pending += chunk.length;
  }
  pendingBytes(): number {
    return this.pending;
  }
  drained(): Promise<void> {
    if (this.pending === 0 || this.destroyed) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }
  /** The client reads everything. */
  flush(): void {
    this.pending = 0;
    this.stalled = false;
    for (const waiter of this.waiters.splice(0)) waiter();
  }
  destroy(): void {
    this.destroyed = true;
    for (const waiter of this.waiters.splice(0)) waiter();
  }
  /** The alert ids sent, in order. */
  ids(): string[] {
    return this.chunks
      .filter((c) => c.startsWith('event: alert'))
      .map((c) => (JSON.parse(c.split('\ndata: ')[1]) as AlertDto).id);
  }
}

function setup(options: Partial<StreamClientOptions> = {}, filter = {}) {
  const sink = new FakeSink();
  const closes: CloseReason[] = [];
  let now = NOW;
  const client = new AlertStreamClient(filter, sink, {
    bufferBytes: 64 * 1024,
    replayPageSize: 3,
    lateNotificationMs: 10_000,
    now: () => now,
    onClose: (reason) => closes.push(reason),
    ...options,
  });
  return { sink, client, closes, advance: (ms: number) => (now += ms) };
}

/** A history of alerts 1..n, served as the repository would: after a cursor, oldest first. */
function history(rows: AlertDto[]): ReplayPage & { calls: number } {
  const page = ((after, limit) => {
    page.calls += 1;
    const sorted = [...rows].sort(
      (a, b) => Date.parse(a.observedAt) - Date.parse(b.observedAt) || a.id.localeCompare(b.id),
    );
    return Promise.resolve(
      sorted
        .filter((r) => {
          const c = cursorOf(r);
          return c.observedAt > after.observedAt || (+c.observedAt === +after.observedAt && r.id > after.id);
        })
        .slice(0, limit),
    );
  }) as ReplayPage & { calls: number };
  page.calls = 0;
  return page;
}

const ids = (...ns: number[]) => ns.map((n) => alert(n).id);

describe('AlertStreamClient', () => {
  it('frames an alert as event: alert, id: its history cursor, data: the alert itself', () => {
    const a = alert(1);
    expect(streamedAlert(a).frame).toBe(
      `event: alert\nid: ${encodeCursor(cursorOf(a))}\ndata: ${JSON.stringify(a)}\n\n`,
    );
  });

  it('sends live alerts in the order offered, only those matching its filter', () => {
    const { sink, client } = setup({}, { pair: 'BTC-USD' });
    client.offer(streamedAlert(alert(2)));
    client.offer(streamedAlert(alert(3, { pair: 'ETH-USD' })));
    client.offer(streamedAlert(alert(1)));
    expect(sink.ids()).toEqual(ids(2, 1));
  });

  it('filters by monitor', () => {
    const { sink, client } = setup({}, { monitorId: MONITOR });
    client.offer(streamedAlert(alert(1, { monitorId: '9f1c2b7e-8a4d-4c5e-9f60-1a2b3c4d5e6f' })));
    client.offer(streamedAlert(alert(2)));
    expect(sink.ids()).toEqual(ids(2));
  });

  it('replays after the cursor in pages, then what arrived meanwhile in cursor order: no gap, no duplicate', async () => {
    const { sink, client } = setup();
    const stored = [1, 2, 3, 4, 5, 6, 7].map((n) => alert(n));
    const page = history(stored);
    // Alerts 6 and 7 are committed while the replay runs: their notifications arrive mid-replay (7 first),
    // and 8, committed after the replay's last page, only by notification; so does 1, observed before the
    // cursor but committed late (the replay, which reads after the cursor, cannot have sent it).
    const replay = client.replay(cursorOf(alert(2)), async (after, limit) => {
      const rows = await page(after, limit);
      if (page.calls === 1) {
        client.offer(streamedAlert(alert(7)));
        client.offer(streamedAlert(alert(6)));
        client.offer(streamedAlert(alert(8)));
        client.offer(streamedAlert(alert(1)));
      }
      return rows;
    });
    await replay;
    expect(sink.ids()).toEqual(ids(3, 4, 5, 6, 7, 1, 8));
    // Live now: sent at once.
    client.offer(streamedAlert(alert(9)));
    expect(sink.ids()).toEqual(ids(3, 4, 5, 6, 7, 1, 8, 9));
    // Pages of 3: [3, 4, 5], then [6, 7], short, so the last.
    expect(page.calls).toBe(2);
  });

  it('drops a late notification of a row the replay already sent, and forgets such ids later', async () => {
    const { sink, client, advance } = setup();
    // Stored just before the stream opened: its notification may still be on its way.
    const recent = alert(5, { createdAt: new Date(NOW - 1000).toISOString() });
    await client.replay(cursorOf(alert(4)), history([recent]));
    client.offer(streamedAlert(recent));
    expect(sink.ids()).toEqual(ids(5));
    // The window passes: the heartbeat clears the remembered ids (a second offer now is a new commit).
    advance(10_000);
    client.heartbeat();
    client.offer(streamedAlert(recent));
    expect(sink.ids()).toEqual(ids(5, 5));
  });

  it('does not remember old replayed rows (their notifications are long gone)', async () => {
    const { sink, client } = setup();
    await client.replay(cursorOf(alert(0)), history([alert(1)]));
    client.offer(streamedAlert(alert(1)));
    // Stored ten minutes ago: a notification now is a re-commit and is sent (the set stays small).
    expect(sink.ids()).toEqual(ids(1, 1));
  });

  it('writes the heartbeat comment to a live stream', () => {
    const { sink, client } = setup();
    client.heartbeat();
    expect(sink.chunks).toEqual([HEARTBEAT_FRAME]);
  });

  it('disconnects a live client whose unread bytes pass the limit, and sends it nothing more', () => {
    const frame = streamedAlert(alert(1)).frame.length;
    const { sink, client, closes } = setup({ bufferBytes: frame * 3 });
    sink.stalled = true;
    for (let n = 1; n <= 3; n++) client.offer(streamedAlert(alert(n)));
    expect(closes).toEqual([]);
    client.offer(streamedAlert(alert(4)));
    expect(closes).toEqual(['slow']);
    expect(sink.destroyed).toBe(true);
    expect(client.closed).toBe(true);
    client.offer(streamedAlert(alert(5)));
    client.heartbeat();
    expect(sink.ids()).toEqual(ids(1, 2, 3, 4));
  });

  it('waits for the client between replay pages, and drops it when the alerts held meanwhile pass the limit', async () => {
    const frame = streamedAlert(alert(1)).frame.length;
    const { sink, client, closes } = setup({ bufferBytes: frame * 2 });
    sink.stalled = true;
    const page = history([1, 2, 3, 4, 5, 6].map((n) => alert(n)));
    const replay = client.replay(cursorOf(alert(0)), page);
    await new Promise((resolve) => setImmediate(resolve));
    // One page written; the next is not read until the client takes it.
    expect(page.calls).toBe(1);
    expect(sink.ids()).toEqual(ids(1, 2, 3));
    client.offer(streamedAlert(alert(10)));
    client.offer(streamedAlert(alert(11)));
    expect(closes).toEqual([]);
    client.offer(streamedAlert(alert(12)));
    expect(closes).toEqual(['slow']);
    await replay;
    expect(page.calls).toBe(1);
    expect(sink.ids()).toEqual(ids(1, 2, 3));
  });

  it('a replay that keeps up sends everything, however long', async () => {
    const { sink, client, closes } = setup({ replayPageSize: 50 });
    const rows = Array.from({ length: 1000 }, (_, n) => alert(n + 1));
    await client.replay(cursorOf(alert(0)), history(rows));
    expect(sink.ids()).toEqual(rows.map((r) => r.id));
    expect(closes).toEqual([]);
  });

  it('stops replaying once the client has gone', async () => {
    const { sink, client, closes } = setup();
    const page = history([1, 2, 3, 4, 5, 6].map((n) => alert(n)));
    const replay = client.replay(cursorOf(alert(0)), async (after, limit) => {
      const rows = await page(after, limit);
      client.close('client');
      return rows;
    });
    await replay;
    expect(sink.ids()).toEqual([]);
    expect(closes).toEqual(['client']);
    // The client closed it: nothing to destroy.
    expect(sink.destroyed).toBe(false);
  });
});
