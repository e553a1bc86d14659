import type { ReplayTick } from '@pairwatch/contracts';

/**
 * A stored tick of a pair, from the archive or a worker's recent-tick stream: the monitor that saw it (null for
 * an archived tick older than every live stream's, which no streamed tick can be), when.
 */
export interface SourcedTick {
  monitorId: string | null;
  atMs: number;
  ask: string;
  bid: string;
}

/**
 * Time order, then monitor (the archive's ORDER BY at, monitor_id: a uuid orders as its lower-case text). An
 * archived tick without its monitor's id never shares an instant with a streamed tick (see SourcedTick).
 */
function compare(a: SourcedTick, b: SourcedTick): number {
  if (a.atMs !== b.atMs) return a.atMs - b.atMs;
  const x = a.monitorId?.toLowerCase() ?? '';
  const y = b.monitorId?.toLowerCase() ?? '';
  return x < y ? -1 : x > y ? 1 : 0;
}

/** The same tick: same monitor, same instant (the archive's idempotency key); never for a tick without an id. */
function same(a: SourcedTick, b: SourcedTick): boolean {
  return (
    a.atMs === b.atMs &&
    a.monitorId !== null &&
    b.monitorId !== null &&
    a.monitorId.toLowerCase() === b.monitorId.toLowerCase()
  );
}

/**
 * The ticks a backtest runs over: the archive's (already in time order, as TickArchiveRepository.ticks reads
 * them) and the live streams' (the last hour, any order), merged in time order. A tick in both — the same
 * monitor at the same instant, the archive's idempotency key — counts once (the archive's copy is kept; both
 * hold the quote the worker evaluated). Linear in the archive's length; the streams' ticks are sorted first.
 * The ticks are the sources' own objects, not copies; with no streamed tick, the archive's array itself.
 */
export function mergeBacktestTicks(
  archived: readonly SourcedTick[],
  streamed: readonly SourcedTick[],
): readonly ReplayTick[] {
  if (streamed.length === 0) return archived;
  const live = [...streamed].sort(compare);
  const merged: ReplayTick[] = [];
  let last: SourcedTick | undefined;
  const push = (tick: SourcedTick) => {
    if (last !== undefined && same(last, tick)) return;
    last = tick;
    merged.push(tick);
  };
  let i = 0;
  let j = 0;
  while (i < archived.length || j < live.length) {
    if (j >= live.length || (i < archived.length && compare(archived[i], live[j]) <= 0)) push(archived[i++]);
    else push(live[j++]);
  }
  return merged;
}
