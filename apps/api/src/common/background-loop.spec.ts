import { BackgroundLoop, BackgroundLoopOptions } from './background-loop';

/** A promise settled from outside. */
function deferred(): { promise: Promise<void>; resolve: () => void; reject: (error: Error) => void } {
  let resolve!: () => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const quiet = { warn: jest.fn(), log: jest.fn() };

function loop(options: Partial<BackgroundLoopOptions> & Pick<BackgroundLoopOptions, 'pass'>): BackgroundLoop {
  return new BackgroundLoop({ name: 'test loop', everyMs: 1000, logger: quiet, ...options });
}

describe('BackgroundLoop', () => {
  beforeEach(() => {
    jest.useFakeTimers();
    quiet.warn.mockClear();
    quiet.log.mockClear();
  });
  afterEach(() => jest.useRealTimers());

  it('runs a pass first after firstAfterMs, then every everyMs', async () => {
    const pass = jest.fn();
    const l = loop({ pass, firstAfterMs: 500 });
    l.start();
    await jest.advanceTimersByTimeAsync(499);
    expect(pass).toHaveBeenCalledTimes(0);
    await jest.advanceTimersByTimeAsync(1);
    expect(pass).toHaveBeenCalledTimes(1);
    await jest.advanceTimersByTimeAsync(999);
    expect(pass).toHaveBeenCalledTimes(1);
    await jest.advanceTimersByTimeAsync(1);
    expect(pass).toHaveBeenCalledTimes(2);
    await l.stop();
  });

  it('never runs two passes at once, however often it is woken, and runs one more right after', async () => {
    let inFlight = 0;
    let most = 0;
    const gates: ReturnType<typeof deferred>[] = [];
    const l = loop({
      pass: async () => {
        inFlight += 1;
        most = Math.max(most, inFlight);
        const gate = deferred();
        gates.push(gate);
        await gate.promise;
        inFlight -= 1;
      },
    });
    l.start();
    await jest.advanceTimersByTimeAsync(0);
    expect(gates).toHaveLength(1);
    expect(l.busy).toBe(true);
    l.wake();
    l.wake();
    const triggered = l.trigger();
    await jest.advanceTimersByTimeAsync(5000);
    expect(gates).toHaveLength(1);
    gates[0].resolve();
    await jest.advanceTimersByTimeAsync(0);
    // The wakes and the trigger made one more pass, at once, not three.
    expect(gates).toHaveLength(2);
    let settled = false;
    void triggered.then(() => (settled = true));
    await jest.advanceTimersByTimeAsync(0);
    expect(settled).toBe(false); // it waits for the pass that began after it to end
    gates[1].resolve();
    await jest.advanceTimersByTimeAsync(0);
    expect(settled).toBe(true);
    expect(most).toBe(1);
    await l.stop();
  });

  it('stop() waits for the pass in progress, and no pass follows', async () => {
    const gate = deferred();
    const pass = jest.fn(() => gate.promise);
    const l = loop({ pass });
    l.start();
    await jest.advanceTimersByTimeAsync(0);
    expect(pass).toHaveBeenCalledTimes(1);
    let stopped = false;
    const stopping = l.stop().then(() => (stopped = true));
    await jest.advanceTimersByTimeAsync(10_000);
    expect(stopped).toBe(false);
    gate.resolve();
    await stopping;
    expect(stopped).toBe(true);
    await jest.advanceTimersByTimeAsync(10_000);
    l.wake();
    await l.trigger();
    expect(pass).toHaveBeenCalledTimes(1);
  });

  it('stop() during the pause ends the loop at once', async () => {
    const pass = jest.fn();
    const l = loop({ pass, firstAfterMs: 60_000 });
    l.start();
    await l.stop(); // would hang a minute of fake time if the pause were not interrupted
    await jest.advanceTimersByTimeAsync(120_000);
    expect(pass).not.toHaveBeenCalled();
  });

  it('a pass that throws is logged and the loop goes on, backing off and logging its recovery', async () => {
    const failures: [string, number, number][] = [];
    let calls = 0;
    const pass = jest.fn(() => {
      calls += 1;
      return calls <= 3 ? Promise.reject(new Error(`boom ${calls}`)) : Promise.resolve();
    });
    const l = loop({
      pass,
      backoff: { baseMs: 100, maxMs: 300 },
      onError: (error, count, retryInMs) => failures.push([error.message, count, retryInMs]),
    });
    l.start();
    await jest.advanceTimersByTimeAsync(0);
    await jest.advanceTimersByTimeAsync(100);
    await jest.advanceTimersByTimeAsync(200);
    expect(pass).toHaveBeenCalledTimes(3);
    await jest.advanceTimersByTimeAsync(299);
    expect(pass).toHaveBeenCalledTimes(3);
    await jest.advanceTimersByTimeAsync(1);
    expect(pass).toHaveBeenCalledTimes(4);
    expect(failures).toEqual([
      ['boom 1', 1, 100],
      ['boom 2', 2, 200],
      ['boom 3', 3, 300], // capped at maxMs
    ]);
    expect(quiet.log).toHaveBeenCalledWith('test loop recovered after 3 failed pass(es)');
    // Back to the usual pace.
    await jest.advanceTimersByTimeAsync(1000);
    expect(pass).toHaveBeenCalledTimes(5);
    await l.stop();
  });

  it('without a backoff or handler, a failed pass is a warning and the next comes everyMs later', async () => {
    const pass = jest.fn().mockRejectedValueOnce(new Error('db down')).mockResolvedValue(undefined);
    const l = loop({ pass });
    l.start();
    await jest.advanceTimersByTimeAsync(0);
    expect(quiet.warn).toHaveBeenCalledWith('test loop failed (1 in a row), next pass in 1000 ms: db down');
    await jest.advanceTimersByTimeAsync(1000);
    expect(pass).toHaveBeenCalledTimes(2);
    await l.stop();
  });

  it('a pass that answers a delay sets the pause before the next one (0: at once)', async () => {
    const delays = [0, 0, 250];
    const pass = jest.fn(() => delays.shift());
    const l = loop({ pass });
    l.start();
    await jest.advanceTimersByTimeAsync(10);
    expect(pass).toHaveBeenCalledTimes(3);
    await jest.advanceTimersByTimeAsync(200);
    expect(pass).toHaveBeenCalledTimes(3);
    await jest.advanceTimersByTimeAsync(100); // 250 ms after the third, well before everyMs

    expect(pass).toHaveBeenCalledTimes(4);
    await l.stop();
  });

  it('wake(withinMs) brings the next pass forward, never later', async () => {
    const pass = jest.fn();
    const l = loop({ pass, everyMs: 10_000 });
    l.start();
    await jest.advanceTimersByTimeAsync(0);
    expect(pass).toHaveBeenCalledTimes(1);
    l.wake(100);
    l.wake(5000); // later than already due: no effect
    await jest.advanceTimersByTimeAsync(100);
    expect(pass).toHaveBeenCalledTimes(2);
    l.wake();
    await jest.advanceTimersByTimeAsync(0);
    expect(pass).toHaveBeenCalledTimes(3);
    await l.stop();
  });

  it('trigger() on a loop not started, or stopped, resolves at once without a pass', async () => {
    const pass = jest.fn();
    const l = loop({ pass });
    await l.trigger();
    l.start();
    await l.stop();
    await l.trigger();
    l.start();
    await jest.advanceTimersByTimeAsync(5000);
    expect(pass).not.toHaveBeenCalled();
  });
});
