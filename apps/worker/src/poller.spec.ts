import { systemClock } from './clock';
import { Poller, PollerExit, TickDecision } from './poller';
import { captureLogger } from './testing/worker.fakes';

const INTERVAL = 1000;
const nextSlot: TickDecision = { kind: 'next-slot' };

/**
 * A tick whose duration and decision come from a script (the last entry repeats). It records when each
 * tick started and ended, and how many ran at once.
 */
function scriptedTick(script: Array<{ takesMs: number; decision?: TickDecision; throws?: boolean }>) {
  const starts: number[] = [];
  const ends: number[] = [];
  const signals: AbortSignal[] = [];
  let active = 0;
  let maxActive = 0;
  let calls = 0;
  const tick = async (signal: AbortSignal): Promise<TickDecision> => {
    const step = script[Math.min(calls, script.length - 1)];
    calls += 1;
    starts.push(Date.now());
    signals.push(signal);
    active += 1;
    maxActive = Math.max(maxActive, active);
    try {
      await systemClock.sleep(step.takesMs, signal);
      if (step.throws) throw new Error('bug in tick');
      return step.decision ?? nextSlot;
    } finally {
      active -= 1;
      ends.push(Date.now());
    }
  };
  return { tick, starts, ends, signals, maxActive: () => maxActive };
}

describe('Poller', () => {
  beforeEach(() => jest.useFakeTimers({ now: 0 }));
  afterEach(() => jest.useRealTimers());

  function start(tick: (signal: AbortSignal) => Promise<TickDecision>, intervalMs = INTERVAL) {
    const { logger, lines } = captureLogger();
    const poller = new Poller(tick, { intervalMs, logger });
    let exit: PollerExit | undefined;
    const done = poller.run().then((result) => (exit = result));
    return { poller, lines, done, exit: () => exit };
  }

  it('ticks at once, then on a fixed timeline that does not drift with tick duration', async () => {
    const ticks = scriptedTick([
      { takesMs: 300 },
      { takesMs: 10 },
      { takesMs: 999 },
      { takesMs: 0 },
      { takesMs: 450 },
    ]);
    const { poller, done } = start(ticks.tick);
    await jest.advanceTimersByTimeAsync(10_500);
    poller.stop();
    await jest.advanceTimersByTimeAsync(60_000); // lets a tick in progress finish
    await done;
    expect(ticks.starts).toEqual([0, 1000, 2000, 3000, 4000, 5000, 6000, 7000, 8000, 9000, 10_000]);
  });

  it('never runs two ticks at once, whatever they take', async () => {
    const ticks = scriptedTick([
      { takesMs: 1500 },
      { takesMs: 3200 },
      { takesMs: 10 },
      { takesMs: 999 },
      { takesMs: 1000 },
      { takesMs: 2001 },
      { takesMs: 5 },
    ]);
    const { poller, done } = start(ticks.tick);
    await jest.advanceTimersByTimeAsync(30_000);
    poller.stop();
    await jest.advanceTimersByTimeAsync(60_000); // lets a tick in progress finish
    await done;
    expect(ticks.maxActive()).toBe(1);
    for (let i = 1; i < ticks.starts.length; i += 1)
      expect(ticks.starts[i]).toBeGreaterThanOrEqual(ticks.ends[i - 1]);
  });

  it('skips the slots a long tick ran past instead of bursting to catch up', async () => {
    const ticks = scriptedTick([{ takesMs: 2500 }, { takesMs: 100 }]);
    const { poller, done, lines } = start(ticks.tick);
    await jest.advanceTimersByTimeAsync(5000);
    poller.stop();
    await jest.advanceTimersByTimeAsync(60_000); // lets a tick in progress finish
    await done;
    // 1000 and 2000 were missed while the first tick ran: next is 3000, and the timeline holds.
    expect(ticks.starts).toEqual([0, 3000, 4000, 5000]);
    expect(poller.stats.skippedSlots).toBe(2);
    expect(lines).toContainEqual(expect.objectContaining({ level: 'warn', skipped: 2, tickMs: 2500 }));
  });

  it('runs the next tick at once when a tick ends exactly on the next slot', async () => {
    const ticks = scriptedTick([{ takesMs: 1000 }, { takesMs: 0 }]);
    const { poller, done } = start(ticks.tick);
    await jest.advanceTimersByTimeAsync(2000);
    poller.stop();
    await jest.advanceTimersByTimeAsync(60_000); // lets a tick in progress finish
    await done;
    expect(ticks.starts).toEqual([0, 1000, 2000]);
    expect(poller.stats.skippedSlots).toBe(0);
  });

  it('waits as long as a tick asks instead of the interval, then restarts the timeline', async () => {
    const ticks = scriptedTick([
      { takesMs: 100, decision: { kind: 'wait', ms: 5000 } },
      { takesMs: 200 },
      { takesMs: 200 },
    ]);
    const { poller, done } = start(ticks.tick);
    await jest.advanceTimersByTimeAsync(7200);
    poller.stop();
    await jest.advanceTimersByTimeAsync(60_000); // lets a tick in progress finish
    await done;
    expect(ticks.starts).toEqual([0, 5100, 6100, 7100]);
  });

  it('keeps going after a tick throws, counting and logging it', async () => {
    const ticks = scriptedTick([{ takesMs: 10, throws: true }, { takesMs: 10 }]);
    const { poller, done, lines } = start(ticks.tick);
    await jest.advanceTimersByTimeAsync(2000);
    poller.stop();
    await jest.advanceTimersByTimeAsync(60_000); // lets a tick in progress finish
    await done;
    expect(ticks.starts).toEqual([0, 1000, 2000]);
    expect(poller.stats).toEqual({ ticks: 3, skippedSlots: 0, tickFailures: 1 });
    expect(lines).toContainEqual(
      expect.objectContaining({
        level: 'error',
        msg: 'tick failed unexpectedly; carrying on',
        tickFailures: 1,
      }),
    );
  });

  it('ends when a tick asks to stop, with its exit code', async () => {
    const ticks = scriptedTick([
      { takesMs: 10 },
      { takesMs: 10, decision: { kind: 'stop', exitCode: 3, reason: 'unknown pair' } },
    ]);
    const { done, exit } = start(ticks.tick);
    await jest.advanceTimersByTimeAsync(5000);
    await done;
    expect(exit()).toEqual({ reason: 'tick', exitCode: 3, message: 'unknown pair' });
    expect(ticks.starts).toEqual([0, 1000]);
  });

  it('stop() during the wait ends the loop at once', async () => {
    const ticks = scriptedTick([{ takesMs: 10 }]);
    const { poller, done, exit } = start(ticks.tick, 60_000);
    await jest.advanceTimersByTimeAsync(100);
    poller.stop();
    await jest.advanceTimersByTimeAsync(0);
    expect(exit()).toEqual({ reason: 'stopped' });
    await done;
    expect(ticks.starts).toEqual([0]);
  });

  it('stop() during a backoff wait ends the loop at once', async () => {
    const ticks = scriptedTick([{ takesMs: 10, decision: { kind: 'wait', ms: 60_000 } }]);
    const { poller, exit } = start(ticks.tick);
    await jest.advanceTimersByTimeAsync(100);
    poller.stop();
    await jest.advanceTimersByTimeAsync(0);
    expect(exit()).toEqual({ reason: 'stopped' });
  });

  it('stop() during a tick lets it finish and starts no other', async () => {
    const ticks = scriptedTick([{ takesMs: 10 }, { takesMs: 800 }]);
    const { poller, done, exit } = start(ticks.tick);
    await jest.advanceTimersByTimeAsync(1200); // second tick runs from 1000 to 1800
    poller.stop();
    await jest.advanceTimersByTimeAsync(500);
    expect(exit()).toBeUndefined();
    await jest.advanceTimersByTimeAsync(100);
    expect(exit()).toEqual({ reason: 'stopped' });
    await done;
    expect(ticks.ends).toEqual([10, 1800]);
    expect(ticks.signals[1].aborted).toBe(false);
    await jest.advanceTimersByTimeAsync(10_000);
    expect(ticks.starts).toHaveLength(2);
  });

  it('stop(grace) aborts a tick still running after the grace period', async () => {
    const ticks = scriptedTick([{ takesMs: 600_000 }]);
    const { poller, exit } = start(ticks.tick);
    await jest.advanceTimersByTimeAsync(100);
    poller.stop(1000);
    await jest.advanceTimersByTimeAsync(999);
    expect(exit()).toBeUndefined();
    await jest.advanceTimersByTimeAsync(1);
    expect(ticks.signals[0].aborted).toBe(true);
    expect(exit()).toEqual({ reason: 'stopped' });
  });

  it('restarts the timeline when the wall clock goes back, instead of sleeping it off', async () => {
    const ticks = scriptedTick([{ takesMs: 100 }]);
    const { poller, done, lines } = start(ticks.tick);
    await jest.advanceTimersByTimeAsync(1050); // ticks at 0 and 1000; the second ends at 1100
    jest.setSystemTime(Date.now() - 3_600_000); // an hour back, in the middle of the second tick
    await jest.advanceTimersByTimeAsync(2100);
    poller.stop();
    await jest.advanceTimersByTimeAsync(60_000);
    await done;
    expect(ticks.starts).toHaveLength(4);
    const [, second, third, fourth] = ticks.starts;
    expect(second).toBe(1000);
    // The second tick ended at 1100 - 1 h in the new time; the next comes one interval after that.
    expect(third).toBe(1100 - 3_600_000 + 1000);
    expect(fourth - third).toBe(1000);
    expect(lines).toContainEqual(
      expect.objectContaining({ msg: 'clock went backwards; restarting the timeline' }),
    );
  });

  it('refuses to run twice at the same time', async () => {
    const ticks = scriptedTick([{ takesMs: 10 }]);
    const { poller, done } = start(ticks.tick);
    await expect(poller.run()).rejects.toThrow('already running');
    poller.stop();
    await jest.advanceTimersByTimeAsync(100);
    await done;
  });

  it.each([0, -1, Number.NaN])('refuses interval %p', (intervalMs) => {
    const { logger } = captureLogger();
    expect(() => new Poller(() => Promise.resolve(nextSlot), { intervalMs, logger })).toThrow(RangeError);
  });
});
