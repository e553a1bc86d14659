import { Logger } from '@nestjs/common';

/**
 * What one pass answers: nothing (the next pass comes `everyMs` later) or the milliseconds until the next
 * pass (0: at once, after the event loop had its turn).
 */
export type PassResult = void | number;

export interface BackgroundLoopOptions {
  /** Names the loop in its log lines. */
  name: string;
  /** One pass. Never runs twice at once. A pass that throws is logged, and the loop goes on. */
  pass: () => PassResult | Promise<PassResult>;
  /** The pause after a pass that asked for none. */
  everyMs: number;
  /** The pause before the first pass (default 0: at once). */
  firstAfterMs?: number;
  /**
   * After a failed pass: wait `baseMs`, doubled at each failure in a row up to `maxMs`. Without it a failed
   * pass is followed by the usual `everyMs` pause.
   */
  backoff?: { baseMs: number; maxMs: number };
  /** Called for a failed pass instead of the default warning. */
  onError?: (error: Error, failures: number, retryInMs: number) => void;
  logger?: Pick<Logger, 'warn' | 'log'>;
}

/**
 * The one way a background loop runs in the API (reconcile, staleness, dispatch, ingestion, heartbeat…):
 * single flight (a pass never overlaps the one before), an error logged and followed by another pass, and
 * `stop()` that lets the pass in progress finish and resolves once it has (the drain on shutdown). Its timers
 * never hold the process open.
 *
 * `wake()` brings the next pass forward (a pass asked for while one runs comes right after it), and
 * `trigger()` does the same and resolves once a pass that began after the call has ended.
 */
export class BackgroundLoop {
  private readonly logger: Pick<Logger, 'warn' | 'log'>;
  private started = false;
  private stopped = false;
  private passing = false;
  /** A pass was asked for during the current one: the next one starts without a pause. */
  private wanted = false;
  private failures = 0;
  private done: Promise<void> | undefined;
  /** Callers of trigger() waiting for the next pass to start and end. */
  private waiting: (() => void)[] = [];
  private sleep: { timer: NodeJS.Timeout; dueAt: number; resolve: () => void } | undefined;

  constructor(private readonly options: BackgroundLoopOptions) {
    this.logger = options.logger ?? new Logger(options.name);
  }

  /** Whether a pass is running now. */
  get busy(): boolean {
    return this.passing;
  }

  /** Starts the loop (once; a second call does nothing, and so does a call after stop()). */
  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    this.done = this.run();
  }

  /** No pass after this one; resolves once the pass in progress (if any) has ended. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.interruptSleep();
    await this.done;
    this.release(this.waiting.splice(0));
  }

  /** The next pass starts within `withinMs` (0: now, or right after the one running). */
  wake(withinMs = 0): void {
    if (this.stopped) return;
    if (this.passing) {
      if (withinMs <= 0) this.wanted = true;
      return;
    }
    const sleep = this.sleep;
    if (sleep === undefined || sleep.dueAt <= Date.now() + withinMs) return;
    if (withinMs <= 0) {
      this.interruptSleep();
      return;
    }
    clearTimeout(sleep.timer);
    sleep.dueAt = Date.now() + withinMs;
    sleep.timer = setTimeout(sleep.resolve, withinMs);
    sleep.timer.unref();
  }

  /**
   * Asks for a pass now and resolves once a pass that began after this call has ended (whatever its outcome),
   * or at once when the loop is stopped or not started.
   */
  trigger(): Promise<void> {
    if (this.stopped || !this.started) return Promise.resolve();
    const ended = new Promise<void>((resolve) => this.waiting.push(resolve));
    this.wake(0);
    return ended;
  }

  private async run(): Promise<void> {
    await this.pause(this.options.firstAfterMs ?? 0);
    while (!this.stopped) {
      const waiters = this.waiting.splice(0);
      this.wanted = false;
      this.passing = true;
      let nextInMs: number;
      try {
        nextInMs = await this.passOnce();
      } finally {
        this.passing = false;
        this.release(waiters);
      }
      if (this.stopped) break;
      if (this.wanted || this.waiting.length > 0) nextInMs = 0;
      if (nextInMs > 0) await this.pause(nextInMs);
      else await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  /** Runs the pass; answers the pause before the next one. Never throws. */
  private async passOnce(): Promise<number> {
    try {
      const result = await this.options.pass();
      if (this.failures > 0) {
        this.logger.log(`${this.options.name} recovered after ${this.failures} failed pass(es)`);
      }
      this.failures = 0;
      return typeof result === 'number' ? Math.max(0, result) : this.options.everyMs;
    } catch (thrown) {
      const error = thrown instanceof Error ? thrown : new Error(String(thrown));
      this.failures += 1;
      const backoff = this.options.backoff;
      const retryInMs = backoff
        ? Math.min(backoff.maxMs, backoff.baseMs * 2 ** Math.min(this.failures - 1, 20))
        : this.options.everyMs;
      try {
        if (this.options.onError) this.options.onError(error, this.failures, retryInMs);
        else {
          this.logger.warn(
            `${this.options.name} failed (${this.failures} in a row), next pass in ${retryInMs} ms: ${error.message}`,
          );
        }
      } catch {
        // A failing error handler must not end the loop either.
      }
      return retryInMs;
    }
  }

  /** Waits `ms`, or less when woken or stopped. */
  private pause(ms: number): Promise<void> {
    if (ms <= 0 || this.stopped) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const finish = () => {
        if (this.sleep?.resolve === finish) {
          clearTimeout(this.sleep.timer);
          this.sleep = undefined;
        }
        resolve();
      };
      const timer = setTimeout(finish, ms);
      timer.unref();
      this.sleep = { timer, dueAt: Date.now() + ms, resolve: finish };
    });
  }

  private interruptSleep(): void {
    this.sleep?.resolve();
  }

  private release(waiters: (() => void)[]): void {
    for (const resolve of waiters) resolve();
  }
}
