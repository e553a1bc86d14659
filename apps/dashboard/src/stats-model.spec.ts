import { LiveRefresh, type RefreshTimers, statsBars } from './stats-model';

describe('alerts per day', () => {
  it('reads counts by kind per bucket, oldest first', () => {
    expect(
      statsBars([
        { t: '2026-12-02T00:00:00Z', byKind: { move: 2, cross: { up: 1, down: 2 } } },
        { t: '2026-12-01T00:00:00Z', byKind: { window: 1 } },
      ]),
    ).toEqual([
      { t: '2026-12-01T00:00:00Z', byKind: { window: 1 }, total: 1 },
      { t: '2026-12-02T00:00:00Z', byKind: { move: 2, cross: 3 }, total: 5 },
    ]);
  });

  it('reads one row per bucket, kind and direction, under items', () => {
    expect(
      statsBars({
        items: [
          { bucket: '2026-12-01T00:00:00Z', kind: 'move', direction: 'up', count: 2 },
          { bucket: '2026-12-01T00:00:00Z', kind: 'move', direction: 'down', count: '1' },
          { bucket: '2026-12-01T00:00:00Z', kind: 'spread', direction: 'up', count: 4 },
          'garbage',
        ],
      }),
    ).toEqual([{ t: '2026-12-01T00:00:00Z', byKind: { move: 3, spread: 4 }, total: 7 }]);
    expect(statsBars(null)).toEqual([]);
  });
});

describe('LiveRefresh: reloads after live alerts, coalesced', () => {
  /** A clock and timers moved by hand. */
  function fakeTimers(): RefreshTimers & { advance(ms: number): void } {
    let now = 1_000_000;
    let timers: { at: number; run: () => void }[] = [];
    return {
      now: () => now,
      setTimeout: (run, ms) => {
        const timer = { at: now + ms, run };
        timers.push(timer);
        return timer;
      },
      clearTimeout: (timer) => (timers = timers.filter((t) => t !== timer)),
      advance(ms) {
        const until = now + ms;
        for (;;) {
          const next = timers.filter((t) => t.at <= until).sort((a, b) => a.at - b.at)[0];
          if (!next) break;
          timers = timers.filter((t) => t !== next);
          now = next.at;
          next.run();
        }
        now = until;
      },
    };
  }

  function setUp() {
    const timers = fakeTimers();
    const loads: number[] = [];
    const refresh: LiveRefresh = new LiveRefresh(
      () => {
        refresh.loaded();
        loads.push(timers.now());
      },
      1000,
      5000,
      timers,
    );
    return { timers, loads, refresh };
  }

  it('reloads once, settleMs after the first alert of a burst', () => {
    const { timers, loads, refresh } = setUp();
    refresh.poke();
    timers.advance(300);
    refresh.poke();
    refresh.poke();
    timers.advance(699);
    expect(loads).toEqual([]);
    timers.advance(1);
    expect(loads).toEqual([1_001_000]);
    timers.advance(60_000);
    expect(loads).toHaveLength(1);
  });

  it('reloads at most once every everyMs, counting any load (the periodic one too)', () => {
    const { timers, loads, refresh } = setUp();
    refresh.poke();
    timers.advance(1000); // a load at +1 s
    refresh.poke(); // the next no sooner than +6 s
    timers.advance(4999);
    expect(loads).toHaveLength(1);
    timers.advance(1);
    expect(loads).toEqual([1_001_000, 1_006_000]);
    timers.advance(10_000);
    refresh.loaded(); // the periodic load, at +16 s
    refresh.poke();
    timers.advance(4999);
    expect(loads).toHaveLength(2);
    timers.advance(1);
    expect(loads).toEqual([1_001_000, 1_006_000, 1_021_000]);
  });

  it('reloads nothing once stopped', () => {
    const { timers, loads, refresh } = setUp();
    refresh.poke();
    refresh.stop();
    timers.advance(10_000);
    expect(loads).toEqual([]);
  });
});
