/**
 * A Sentinel client that ended by itself is connected again (every program's Redis factory applies this).
 *
 * ioredis gives up on a connection for good (status `end`, every later command refused with "Connection is
 * closed.") when its connector fails while connecting. In Sentinel mode that happens after a failover: the
 * failover detector of the connection to the dead master is still subscribed to the sentinels while the client
 * reconnects, and the `+switch-master` it then hears closes the connector in the middle of asking a sentinel for
 * the master (ioredis 5, SentinelConnector: `if (!this.connecting) throw`). On a loaded machine, where asking
 * takes long enough, some of a burst's clients ended that way and never sent their queues
 * (test/faults/redis-failover.fault-spec.ts). Only a close its program asked for ({@link closingOnPurpose})
 * leaves a client ended.
 */

/** The slice of an ioredis client this needs. */
export interface RevivableClient {
  readonly status: string;
  on(event: 'end', listener: () => void): unknown;
  connect(): Promise<void>;
}

const closedOnPurpose = new WeakSet<object>();

/** Delay before an ended client is connected again: the failover it ended on is over by then. */
export const REVIVE_DELAY_MS = 100;

/** Marks `client` as closed by its program, before its QUIT or disconnect: it stays ended. */
export function closingOnPurpose(client: object): void {
  closedOnPurpose.add(client);
}

/**
 * Connects `client` again, `delayMs` after it ends without {@link closingOnPurpose}; `onRevive` is told (to log
 * it). A connection attempt that fails the same way ends the client again, and so is retried again.
 */
export function reviveWhenEnded(
  client: RevivableClient,
  onRevive: () => void = () => undefined,
  delayMs = REVIVE_DELAY_MS,
): void {
  client.on('end', () => {
    if (closedOnPurpose.has(client)) return;
    const timer = setTimeout(() => {
      if (client.status !== 'end' || closedOnPurpose.has(client)) return;
      onRevive();
      // A failure here ends the client again, which lands back in this listener.
      client.connect().catch(() => undefined);
    }, delayMs);
    timer.unref?.();
  });
}
