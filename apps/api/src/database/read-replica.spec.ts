import { replayLagMs } from './read-replica';

describe('the read replica lag', () => {
  it('is 0 for a server that is not a standby, and for a standby that replayed all it received', () => {
    expect(replayLagMs({ recovering: false, caughtUp: false, sinceReplayMs: null })).toBe(0);
    // An idle primary sends nothing: an old last commit does not make a caught-up standby late.
    expect(replayLagMs({ recovering: true, caughtUp: true, sinceReplayMs: 3_600_000 })).toBe(0);
  });

  it('is the age of the last replayed commit while WAL waits to be replayed, unknown when none was', () => {
    expect(replayLagMs({ recovering: true, caughtUp: false, sinceReplayMs: 2500.5 })).toBe(2500.5);
    expect(replayLagMs({ recovering: true, caughtUp: false, sinceReplayMs: -3 })).toBe(0);
    expect(replayLagMs({ recovering: true, caughtUp: false, sinceReplayMs: null })).toBe(
      Number.POSITIVE_INFINITY,
    );
  });
});
