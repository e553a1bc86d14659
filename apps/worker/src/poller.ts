import type { Logger } from 'pino';
import { Clock, systemClock } from './clock';

/** What a tick asks of the loop. */
export type TickDecision =
  /** wait for the next slot of the fixed timeline */
  | { kind: 'next-slot' }
  /** wait this long instead (Retry-After, backoff), then tick and restart the timeline from there */
  | { kind: 'wait'; ms: number }
  /** leave the loop; the process should exit with `exitCode` */
  | { kind: 'stop'; exitCode: number; reason: string };

export type Tick = (signal: AbortSignal) => Promise<TickDecision>;

export type PollerExit = { reason: 'stopped' } | { reason: 'tick'; exitCode: number; message: string };

export interface PollerStats {
  ticks: number;
  /** Timeline slots passed over because a tick ran past them. */
  skippedSlots: number;
  /** Ticks that threw (a bug): logged and counted, the loop goes on. */
  tickFailures: number;
}

export interface PollerOptions {
  intervalMs: number;
  logger: Logger;
  clock?: Clock;
}

/**
 * Runs `tick` every `intervalMs`, one at a time, on a fixed timeline: tick n is due at
 * start + n * intervalMs, whatever each tick took. A tick that runs past one or more slots makes the
 * loop skip them and wait for the next one, never to catch up in a burst. A tick may instead ask for a
 * wait (Retry-After, backoff); the tick after that wait starts a new timeline.
 */
export class Poller {
  private readonly clock: Clock;
  private readonly sleepAbort = new AbortController();
  private readonly tickAbort = new AbortController();
  private stopRequested = false;
  private running = false;
  private graceTimer: NodeJS.Timeout | undefined;
  private readonly counters: PollerStats = { ticks: 0, skippedSlots: 0, tickFailures: 0 };

  constructor(
    private readonly tick: Tick,
    private readonly options: PollerOptions,
  ) {
    if (!Number.isFinite(options.intervalMs) || options.intervalMs <= 0) {
      throw new RangeError(`intervalMs must be positive, got ${options.intervalMs}`);
    }
    this.clock = options.clock ?? systemClock;
  }

  get stats(): PollerStats {
    return { ...this.counters };
  }

  get stopping(): boolean {
    return this.stopRequested;
  }

  /** Resolves when the loop ends: after {@link stop}, or when a tick asks to stop. Never rejects. */
  async run(): Promise<PollerExit> {
    if (this.running) throw new Error('poller already running');
    this.running = true;
    try {
      return await this.loop();
    } finally {
      this.running = false;
      clearTimeout(this.graceTimer);
    }
  }

  /**
   * Starts no new tick; a tick in progress finishes. With `abortInFlightAfterMs`, the signal handed to
   * that tick aborts after that long, so that a hanging request cannot hold shutdown up.
   */
  stop(abortInFlightAfterMs?: number): void {
    if (this.stopRequested) return;
    this.stopRequested = true;
    this.sleepAbort.abort();
    if (abortInFlightAfterMs !== undefined) {
      this.graceTimer = setTimeout(() => this.tickAbort.abort(), abortInFlightAfterMs);
      this.graceTimer.unref();
    }
  }

  private async loop(): Promise<PollerExit> {
    const { intervalMs } = this.options;
    let timelineStart = this.clock.now();
    let slot = 0;
    while (!this.stopRequested) {
      const tickStartedAt = this.clock.now();
      const decision = await this.runTick();
      if (decision.kind === 'stop')
        return { reason: 'tick', exitCode: decision.exitCode, message: decision.reason };
      if (this.stopRequested) break;

      if (decision.kind === 'wait') {
        await this.clock.sleep(decision.ms, this.sleepAbort.signal);
        timelineStart = this.clock.now();
        slot = 0;
        continue;
      }

      const now = this.clock.now();
      slot += 1;
      if (timelineStart + (slot - 1) * intervalMs > now) {
        // The wall clock went back (e.g. an NTP step): start a new timeline rather than sleep it off.
        this.options.logger.warn({ intervalMs }, 'clock went backwards; restarting the timeline');
        timelineStart = now;
        slot = 1;
      }
      // The first slot at or after now; everything between was missed while the tick ran.
      const dueSlot = Math.max(slot, Math.ceil((now - timelineStart) / intervalMs));
      if (dueSlot > slot) {
        const skipped = dueSlot - slot;
        this.counters.skippedSlots += skipped;
        this.options.logger.warn(
          { skipped, intervalMs, tickMs: now - tickStartedAt },
          'tick overran its interval; skipping missed slots',
        );
        slot = dueSlot;
      }
      await this.clock.sleep(timelineStart + slot * intervalMs - now, this.sleepAbort.signal);
    }
    return { reason: 'stopped' };
  }

  private async runTick(): Promise<TickDecision> {
    this.counters.ticks += 1;
    try {
      return await this.tick(this.tickAbort.signal);
    } catch (error) {
      this.counters.tickFailures += 1;
      this.options.logger.error(
        { err: error instanceof Error ? error : String(error), tickFailures: this.counters.tickFailures },
        'tick failed unexpectedly; carrying on',
      );
      return { kind: 'next-slot' };
    }
  }
}
