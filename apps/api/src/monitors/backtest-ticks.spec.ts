import { mergeBacktestTicks, SourcedTick } from './backtest-ticks';

const A = '0a8f0e3c-0000-4000-8000-000000000001';
const B = '0b8f0e3c-0000-4000-8000-000000000002';

const tick = (monitorId: string | null, atMs: number, ask = String(atMs)): SourcedTick => ({
  monitorId,
  atMs,
  ask,
  bid: ask,
});

describe('mergeBacktestTicks', () => {
  it('keeps ticks found in one source only, in time order', () => {
    expect(mergeBacktestTicks([tick(A, 1), tick(A, 3)], []).map((t) => t.atMs)).toEqual([1, 3]);
    expect(mergeBacktestTicks([], [tick(A, 5), tick(A, 2)]).map((t) => t.atMs)).toEqual([2, 5]);
  });

  it('counts a tick present in both sources (same monitor, same instant) once, the archive’s copy', () => {
    const merged = mergeBacktestTicks(
      [tick(A, 1), tick(A, 2, '2.0'), tick(A, 3, '3.0')],
      [tick(A, 3, '3'), tick(A, 2, '2'), tick(A, 4)],
    );
    expect(merged).toEqual([tick(A, 1), tick(A, 2, '2.0'), tick(A, 3, '3.0'), tick(A, 4)]);
  });

  it('keeps two monitors’ ticks of one instant apart, in monitor order whatever the id’s case', () => {
    const merged = mergeBacktestTicks(
      [tick(A, 1, 'a')],
      [tick(B.toUpperCase(), 1, 'b'), tick(A.toUpperCase(), 1)],
    );
    expect(merged.map((t) => t.ask)).toEqual(['a', 'b']);
  });

  it('interleaves the archive and the streams when their ranges overlap only in part', () => {
    const archived = [1, 2, 3, 4, 5].map((at) => tick(A, at));
    const streamed = [4, 5, 6, 7].map((at) => tick(A, at));
    expect(mergeBacktestTicks(archived, streamed).map((t) => t.atMs)).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });

  it('hands the archive over as it is when no stream has a tick: the same array, no copy', () => {
    const archived = [tick(null, 1), tick(null, 1, 'other monitor'), tick(A, 2)];
    expect(mergeBacktestTicks(archived, [])).toBe(archived);
  });

  it('never counts as one two archived ticks without ids at one instant (two monitors before the live hour)', () => {
    const merged = mergeBacktestTicks(
      [tick(null, 1, 'a'), tick(null, 1, 'b'), tick(A, 5, 'c')],
      [tick(A, 5, 'c live'), tick(B, 6, 'd')],
    );
    expect(merged.map((t) => t.ask)).toEqual(['a', 'b', 'c', 'd']);
  });
});
