import { compareDecimalText } from './decimal';
import type { PriceField } from './monitor-config';
import {
  changePercent,
  CHANGE_PERCENT_DECIMALS,
  OscillationDetector,
  snapshotPoint,
} from './oscillation-detector';
import { PricePoint, Quote, QuotePrices } from './quote-prices';
import type { CrossRule, MoveRule, Rule, RuleKind, SpreadRule, TrailingRule, WindowRule } from './rules';
import {
  formatRatio,
  formatScaled,
  parsePercent,
  parsePositivePrice,
  scaledPriceOf,
  ScaledPercent,
} from './scaled-decimal';

/**
 * The detectors of the five rule kinds (DESIGN.md "Rules: what a monitor watches for"). Each is pure: no clock,
 * no I/O; time comes with the tick. Every decision compares exact decimals by cross-multiplying (never a
 * division, never a float): prices are integers at one scale (scaled-decimal.ts), parsed once per tick, and
 * percentages integers over a power of ten, parsed once when the rule is built. Divisions only round the
 * `changePercent` shown in an alert. A tick whose price a rule needs is bad fires nothing and changes nothing in
 * that rule.
 */

/** What a detector reports when its rule fires; the rule's id, kind and options are added by {@link RuleEvaluator}. */
export interface DetectorFiring {
  direction: 'up' | 'down';
  /** The price the change is measured from: the move's reference, the level, the window's min/max, the peak… */
  referencePrice: string;
  price: string;
  /** Signed, rounded to 8 places; for display only. */
  changePercent: string;
  /** Kind-specific facts of the firing, decimal strings and numbers only. */
  details: Record<string, string | number>;
}

/**
 * What a detector returns, when told not to describe its firings, for a tick on which it fires (a replay on start,
 * whose alerts are dropped): the same decision and the same change of state, without making the alert's texts
 * (its change percent, its details).
 */
export const FIRED = 'fired';
export type Fired = typeof FIRED;

export interface RuleDetector {
  /**
   * Observes one tick at `atMs`. `mayFire` is false while the rule cools down: the detector then keeps
   * observing (a window keeps its ticks, a peak rises) but neither fires nor restarts. With `describe` false a
   * firing is {@link FIRED} instead of its description; every decision and every state is the same.
   */
  observe(
    prices: QuotePrices,
    atMs: number,
    mayFire: boolean,
    describe?: boolean,
  ): DetectorFiring | Fired | null;
  /**
   * What the detector carries from tick to tick, as plain JSON (a rule snapshot, rule-snapshot.ts); undefined when
   * it holds more than `maxEntries` entries (a snapshot leaves that rule out: it replays its ticks instead).
   */
  saveState(maxEntries: number): unknown;
  /** Takes on a state {@link saveState} made; throws, changing nothing, when `state` is not one. */
  loadState(state: unknown): void;
}

/** A snapshot's field, checked: throws when it is not what `check` wants. */
function field<T>(state: unknown, name: string, check: (value: unknown) => value is T): T {
  const value = (state as Record<string, unknown> | null)?.[name];
  if (!check(value)) throw new TypeError(`rule snapshot: bad ${name}`);
  return value;
}
const isBoolean = (v: unknown): v is boolean => typeof v === 'boolean';
const isTextOrNull = (v: unknown): v is string | null => v === null || typeof v === 'string';

/** `move`: today's oscillation detector, unchanged (its own cooldown is the rule's). */
export class MoveDetector implements RuleDetector {
  private readonly detector: OscillationDetector;
  private readonly priceField: PriceField;

  constructor(rule: MoveRule) {
    this.priceField = rule.priceField;
    this.detector = new OscillationDetector({
      thresholdPercent: rule.thresholdPercent,
      direction: rule.direction,
      priceField: rule.priceField,
      cooldownMs: rule.cooldownMs,
    });
  }

  get referencePrice(): string | undefined {
    return this.detector.referencePrice;
  }

  saveState(): unknown {
    return this.detector.saveState();
  }

  loadState(state: unknown): void {
    this.detector.loadState(state);
  }

  observe(prices: QuotePrices, atMs: number, mayFire = true, describe = true): DetectorFiring | Fired | null {
    // Cooling down: the detector would change nothing (its own cooldown is the rule's), unless a restarted
    // worker took the last fire over from the rule state (rule-state.ts) and the detector has not seen it.
    if (!mayFire && this.detector.referencePrice !== undefined) return null;
    const price = prices.get(this.priceField);
    if (!price) return null;
    const oscillation = this.detector.observePrice(price, atMs);
    if (!oscillation) return null;
    return describe ? { ...oscillation, details: {} } : FIRED;
  }
}

/**
 * `cross`: fires when the price reaches `level` from the other side (up: previous < level <= price; down:
 * previous > level >= price). The first price only sets the side. After firing, that side is disarmed until the
 * price has gone back past level × (1 ∓ rearmPercent / 100); with 0 that is simply the other side of the level.
 */
export class CrossDetector implements RuleDetector {
  private readonly level: bigint;
  /** A price p is compared with the re-arm band as p × 100 × unit (rearmPercent = units / unit)… */
  private readonly rearmScale: bigint;
  /** …against level × (100 × unit − units) and level × (100 × unit + units). */
  private readonly upRearm: bigint;
  private readonly downRearm: bigint;
  private side: number | undefined;
  private previous: string | undefined;
  private upBlocked = false;
  private downBlocked = false;

  constructor(private readonly rule: CrossRule) {
    this.level = parsePositivePrice(rule.level, 'level');
    const rearm = parsePercent(rule.rearmPercent, 'rearmPercent', 'non-negative');
    this.rearmScale = rearm.hundredUnit;
    this.upRearm = this.level * (rearm.hundredUnit - rearm.units);
    this.downRearm = this.level * (rearm.hundredUnit + rearm.units);
  }

  saveState(): unknown {
    return {
      side: this.side ?? null,
      previous: this.previous ?? null,
      upBlocked: this.upBlocked,
      downBlocked: this.downBlocked,
    };
  }

  loadState(state: unknown): void {
    const side = field(
      state,
      'side',
      (v): v is number | null => v === null || v === -1 || v === 0 || v === 1,
    );
    const previous = field(state, 'previous', isTextOrNull);
    const upBlocked = field(state, 'upBlocked', isBoolean);
    const downBlocked = field(state, 'downBlocked', isBoolean);
    if ((side === null) !== (previous === null)) throw new TypeError('rule snapshot: side without previous');
    if (previous !== null) snapshotPoint(previous);
    this.side = side ?? undefined;
    this.previous = previous ?? undefined;
    this.upBlocked = upBlocked;
    this.downBlocked = downBlocked;
  }

  observe(
    prices: QuotePrices,
    _atMs: number,
    mayFire: boolean,
    describe = true,
  ): DetectorFiring | Fired | null {
    const price = prices.get(this.rule.priceField);
    if (!price) return null;
    const side = price.value < this.level ? -1 : price.value > this.level ? 1 : 0;
    const previousSide = this.side;
    const previous = this.previous;
    this.side = side;
    this.previous = price.text;
    if (this.upBlocked || this.downBlocked) {
      const scaled = price.value * this.rearmScale;
      if (this.upBlocked && scaled < this.upRearm) this.upBlocked = false;
      if (this.downBlocked && scaled > this.downRearm) this.downBlocked = false;
    }
    if (previousSide === undefined || !mayFire) return null;

    const { direction } = this.rule;
    let fired: 'up' | 'down' | undefined;
    if (previousSide < 0 && side >= 0 && direction !== 'down' && !this.upBlocked) {
      fired = 'up';
      this.upBlocked = true;
    } else if (previousSide > 0 && side <= 0 && direction !== 'up' && !this.downBlocked) {
      fired = 'down';
      this.downBlocked = true;
    }
    if (!fired) return null;
    if (!describe) return FIRED;
    return {
      direction: fired,
      referencePrice: this.rule.level,
      price: price.text,
      changePercent: changePercent(this.level, price.value),
      details: {
        level: this.rule.level,
        previousPrice: previous ?? '',
        rearmPercent: this.rule.rearmPercent,
      },
    };
  }
}

/**
 * Ticks `(at, price)` in arrival order, of which a monotonic queue keeps only those that can still be the window's
 * minimum (or maximum): the front is the extreme. Prices are kept as their text (compared exactly by
 * {@link compareDecimalText}) and times in a number array, so that a day of 1-second ticks stays within a few
 * megabytes. Push and evict are O(1) amortised.
 */
class MonotonicQueue {
  private texts: string[] = [];
  private ats: number[] = [];
  private head = 0;

  /** `keepAbove`: -1 keeps increasing prices (the minimum at the front), 1 decreasing ones (the maximum). */
  constructor(private readonly order: 1 | -1) {}

  get size(): number {
    return this.texts.length - this.head;
  }

  get front(): string {
    return this.texts[this.head];
  }

  get frontAt(): number {
    return this.ats[this.head];
  }

  push(text: string, at: number): void {
    const { texts, ats } = this;
    // Drop from the back what the new price beats: it is at least as extreme and stays in the window longer.
    while (texts.length > this.head && compareDecimalText(texts[texts.length - 1], text) * this.order <= 0) {
      texts.pop();
      ats.pop();
    }
    texts.push(text);
    ats.push(at);
  }

  /** Forgets ticks at or before `cutoff`. */
  evict(cutoff: number): void {
    while (this.head < this.texts.length && this.ats[this.head] <= cutoff) this.head++;
    // Compact once the dead prefix outweighs the live part, so memory follows what is live.
    if (this.head > 1024 && this.head * 2 > this.texts.length) {
      this.texts = this.texts.slice(this.head);
      this.ats = this.ats.slice(this.head);
      this.head = 0;
    }
  }

  clear(): void {
    this.texts = [];
    this.ats = [];
    this.head = 0;
  }

  /** The live entries: prices, and times as differences from the one before (the first from 0). */
  save(): { texts: string[]; ats: number[] } {
    const texts = this.texts.slice(this.head);
    const ats = this.ats.slice(this.head);
    for (let i = ats.length - 1; i > 0; i--) ats[i] -= ats[i - 1];
    return { texts, ats };
  }

  /** The entries {@link save} gave, checked to be a queue of this order; throws, changing nothing, otherwise. */
  load(saved: unknown): void {
    const texts = field(saved, 'texts', (v): v is unknown[] => Array.isArray(v));
    const deltas = field(saved, 'ats', (v): v is unknown[] => Array.isArray(v));
    if (texts.length !== deltas.length) throw new TypeError('rule snapshot: queue lengths differ');
    const ats: number[] = new Array<number>(deltas.length);
    for (let i = 0; i < deltas.length; i++) {
      const text = texts[i];
      const delta = deltas[i];
      if (typeof text !== 'string' || !Number.isSafeInteger(delta) || (i > 0 && (delta as number) < 0))
        throw new TypeError('rule snapshot: bad queue entry');
      snapshotPoint(text);
      ats[i] = i === 0 ? (delta as number) : ats[i - 1] + (delta as number);
      if (i > 0 && compareDecimalText(texts[i - 1] as string, text) * this.order <= 0)
        throw new TypeError('rule snapshot: queue out of order');
    }
    this.texts = texts as string[];
    this.ats = ats;
    this.head = 0;
  }
}

/**
 * `window`: up fires when (price − min) / min × 100 >= threshold, min being the lowest price of the ticks observed
 * in the last `windowMs` (this one included); down when (max − price) / max × 100 >= threshold. The window then
 * restarts at the firing tick, so one move fires once.
 */
export class WindowDetector implements RuleDetector {
  private readonly threshold: ScaledPercent;
  private readonly mins = new MonotonicQueue(-1);
  private readonly maxes = new MonotonicQueue(1);
  /** The queues' fronts, parsed when they change (a front stays for many ticks). */
  private readonly min: FrontValue;
  private readonly max: FrontValue;

  constructor(private readonly rule: WindowRule) {
    this.threshold = parsePercent(rule.thresholdPercent, 'thresholdPercent');
    // (price − min) × 100 × unit >= units × min  ⇔  price × 100 × unit >= min × (100 × unit + units), and
    // (max − price) × 100 × unit >= units × max  ⇔  price × 100 × unit <= max × (100 × unit − units).
    this.min = new FrontValue(this.threshold.hundredUnit + this.threshold.units);
    this.max = new FrontValue(this.threshold.hundredUnit - this.threshold.units);
  }

  /** Entries held (both queues): bounded by the ticks within `windowMs`. */
  get size(): number {
    return this.mins.size + this.maxes.size;
  }

  saveState(maxEntries: number): unknown {
    if (this.size > maxEntries) return undefined;
    return { mins: this.mins.save(), maxes: this.maxes.save() };
  }

  loadState(state: unknown): void {
    const mins = new MonotonicQueue(-1);
    const maxes = new MonotonicQueue(1);
    mins.load(field(state, 'mins', (v): v is unknown => typeof v === 'object'));
    maxes.load(field(state, 'maxes', (v): v is unknown => typeof v === 'object'));
    this.mins.load(mins.save());
    this.maxes.load(maxes.save());
  }

  observe(
    prices: QuotePrices,
    atMs: number,
    mayFire: boolean,
    describe = true,
  ): DetectorFiring | Fired | null {
    const price = prices.get(this.rule.priceField);
    if (!price) return null;
    const cutoff = atMs - this.rule.windowMs;
    this.mins.evict(cutoff);
    this.maxes.evict(cutoff);
    this.mins.push(price.text, atMs);
    this.maxes.push(price.text, atMs);
    if (!mayFire) return null;

    const { direction } = this.rule;
    const { hundredUnit } = this.threshold;
    const p = price.value;
    const minText = this.mins.front;
    const maxText = this.maxes.front;
    let up: bigint | undefined;
    let down: bigint | undefined;
    // One product a tick: the bounds are the fronts' own, made again only when a front changes.
    let scaled: bigint | undefined;
    if (direction !== 'down' && minText !== price.text) {
      const min = this.min.of(minText);
      // (price − min) × 100 >= threshold × min
      scaled = p * hundredUnit;
      if (scaled >= this.min.bound) up = min;
    }
    if (direction !== 'up' && maxText !== price.text) {
      const max = this.max.of(maxText);
      // (max − price) × 100 >= threshold × max
      scaled ??= p * hundredUnit;
      if (scaled <= this.max.bound) down = max;
    }
    if (up !== undefined && down !== undefined) {
      // Both at once (only after a cooldown held them back): report the larger move, compared without dividing:
      // (p − min) / min >= (max − p) / max  ⇔  (p − min) × max >= (max − p) × min.
      if ((p - up) * down >= (down - p) * up) down = undefined;
      else up = undefined;
    }
    const from = up ?? down;
    if (from === undefined) return null;
    // The window restarts at the firing tick.
    this.mins.clear();
    this.maxes.clear();
    this.mins.push(price.text, atMs);
    this.maxes.push(price.text, atMs);
    if (!describe) return FIRED;
    const details = { windowMs: this.rule.windowMs, min: minText, max: maxText };
    return {
      direction: up !== undefined ? 'up' : 'down',
      referencePrice: up !== undefined ? minText : maxText,
      price: price.text,
      changePercent: changePercent(from, p),
      details,
    };
  }
}

/**
 * The scaled value of a queue's front text and its product with a factor (the window's bound: what the price ×
 * 100 × unit is compared with), made again only when the front is another string.
 */
class FrontValue {
  private text: string | undefined;
  private value = 0n;
  /** factor × the value (of the text last given to {@link of}). */
  bound = 0n;

  constructor(private readonly factor: bigint) {}

  of(text: string): bigint {
    if (text !== this.text) {
      this.value = scaledPriceOf(text);
      this.bound = this.factor * this.value;
      this.text = text;
    }
    return this.value;
  }
}

/**
 * `trailing`: down fires when the price is >= threshold % below the highest price since the rule (re)started;
 * up when >= threshold % above the lowest. The peak (trough) then restarts at the firing price.
 */
export class TrailingDetector implements RuleDetector {
  private readonly threshold: ScaledPercent;
  private extreme: PricePoint | undefined;

  constructor(private readonly rule: TrailingRule) {
    this.threshold = parsePercent(rule.thresholdPercent, 'thresholdPercent');
  }

  saveState(): unknown {
    return { extreme: this.extreme?.text ?? null };
  }

  loadState(state: unknown): void {
    const extreme = field(state, 'extreme', isTextOrNull);
    this.extreme = extreme === null ? undefined : snapshotPoint(extreme);
  }

  observe(
    prices: QuotePrices,
    _atMs: number,
    mayFire: boolean,
    describe = true,
  ): DetectorFiring | Fired | null {
    const price = prices.get(this.rule.priceField);
    if (!price) return null;
    const down = this.rule.direction === 'down';
    const extreme = this.extreme;
    if (!extreme || (down ? price.value > extreme.value : price.value < extreme.value)) {
      this.extreme = price;
      return null;
    }
    if (!mayFire) return null;
    // down: (peak − price) × 100 >= threshold × peak; up: (price − trough) × 100 >= threshold × trough
    const distance = down ? extreme.value - price.value : price.value - extreme.value;
    if (distance * this.threshold.hundredUnit < this.threshold.units * extreme.value) return null;
    this.extreme = price;
    if (!describe) return FIRED;
    return {
      direction: down ? 'down' : 'up',
      referencePrice: extreme.text,
      price: price.text,
      changePercent: changePercent(extreme.value, price.value),
      details: down ? { peak: extreme.text } : { trough: extreme.text },
    };
  }
}

/**
 * `spread`: fires when (ask − bid) / mid × 100 >= threshold, i.e. (ask − bid) × 200 >= threshold × (ask + bid);
 * then disarmed until the spread is below the threshold again.
 */
export class SpreadDetector implements RuleDetector {
  private readonly threshold: ScaledPercent;
  /** 200 × the threshold's unit. */
  private readonly twoHundredUnit: bigint;
  private armed = true;

  constructor(private readonly rule: SpreadRule) {
    this.threshold = parsePercent(rule.thresholdPercent, 'thresholdPercent');
    this.twoHundredUnit = 2n * this.threshold.hundredUnit;
  }

  saveState(): unknown {
    return { armed: this.armed };
  }

  loadState(state: unknown): void {
    this.armed = field(state, 'armed', isBoolean);
  }

  observe(
    prices: QuotePrices,
    _atMs: number,
    mayFire: boolean,
    describe = true,
  ): DetectorFiring | Fired | null {
    const ask = prices.get('ask');
    const bid = prices.get('bid');
    const price = prices.get(this.rule.priceField);
    if (!ask || !bid || !price) return null;
    const spread = ask.value - bid.value;
    const sum = ask.value + bid.value;
    // (ask − bid) × 200 >= threshold × (ask + bid)
    const wide = spread * this.twoHundredUnit >= this.threshold.units * sum;
    if (!wide) {
      this.armed = true;
      return null;
    }
    if (!this.armed || !mayFire) return null;
    this.armed = false;
    if (!describe) return FIRED;
    const spreadPercent = formatRatio(spread * 200n, sum, CHANGE_PERCENT_DECIMALS);
    return {
      direction: 'up',
      // Exact: at PRICE_SCALE both prices end in a 0, so their sum is even.
      referencePrice: formatScaled(sum / 2n),
      price: price.text,
      changePercent: spreadPercent,
      details: { ask: ask.text, bid: bid.text, spread: formatScaled(spread), spreadPercent },
    };
  }
}

export function createDetector(rule: Rule): RuleDetector {
  switch (rule.kind) {
    case 'move':
      return new MoveDetector(rule);
    case 'cross':
      return new CrossDetector(rule);
    case 'window':
      return new WindowDetector(rule);
    case 'trailing':
      return new TrailingDetector(rule);
    case 'spread':
      return new SpreadDetector(rule);
  }
}

/** One alert of a rule: what the detector saw, with the rule's id, kind and options. */
export interface RuleFiring extends DetectorFiring {
  ruleId: string;
  kind: RuleKind;
  priceField: PriceField;
  /** The rule's threshold; a `cross` has none and says "0". */
  thresholdPercent: string;
  label?: string;
}

export interface RuleProgress {
  id: string;
  kind: RuleKind;
  fires: number;
  done: boolean;
}

/**
 * A rule with its shared options around its detector: `cooldownMs` (no alert sooner than that after this rule's
 * previous one), `maxFires` (done after that many) and `expiresAt` (done from then on). A done rule observes
 * nothing more.
 */
export class RuleEvaluator {
  readonly detector: RuleDetector;
  /** The fields of a quote this rule needs: its priceField, and both sides for a spread. */
  readonly fields: readonly PriceField[];
  private readonly expiresAtMs: number | undefined;
  private lastFireAt: number | undefined;
  private firesCount: number;
  private isDone = false;
  /** Restored from a snapshot taken at this tick: a replay skips the ticks up to it (see {@link restore}). */
  private restoredAt = Number.NEGATIVE_INFINITY;

  constructor(
    readonly rule: Rule,
    fires = 0,
  ) {
    this.detector = createDetector(rule);
    this.fields = rule.kind === 'spread' ? ['ask', 'bid', rule.priceField] : [rule.priceField];
    this.expiresAtMs = rule.expiresAt === undefined ? undefined : Date.parse(rule.expiresAt);
    this.firesCount = fires;
    if (rule.maxFires !== undefined && fires >= rule.maxFires) this.isDone = true;
  }

  get fires(): number {
    return this.firesCount;
  }

  /** When this rule last fired (live or in a replay), or undefined. */
  get lastFireAtMs(): number | undefined {
    return this.lastFireAt;
  }

  /**
   * Takes on what a previous worker recorded (rule-state.ts): at least `fires` fires (done once they reach
   * `maxFires`) and a last fire no earlier than `lastFireAtMs` (the cooldown runs from it). Never goes back.
   */
  resume(state: { fires?: number; lastFireAtMs?: number }): void {
    if (state.fires !== undefined && state.fires > this.firesCount) this.firesCount = state.fires;
    if (
      state.lastFireAtMs !== undefined &&
      !(this.lastFireAt !== undefined && this.lastFireAt >= state.lastFireAtMs)
    )
      this.lastFireAt = state.lastFireAtMs;
    if (this.rule.maxFires !== undefined && this.firesCount >= this.rule.maxFires) this.isDone = true;
  }

  /**
   * What a snapshot keeps of this rule (rule-snapshot.ts): its detector's state and its last fire; undefined when the
   * detector holds more than `maxEntries` entries. Its fires are the rule state's (rule-state.ts).
   */
  snapshot(maxEntries: number): { lastFireAt: number | null; state: unknown } | undefined {
    const state = this.detector.saveState(maxEntries);
    return state === undefined ? undefined : { lastFireAt: this.lastFireAt ?? null, state };
  }

  /**
   * Takes on a snapshot of this rule taken after the tick at `atMs`; until {@link endRestore}, ticks up to that one
   * are not observed again. Throws, changing nothing, when the snapshot is not one {@link snapshot} made.
   */
  restore(saved: { lastFireAt: unknown; state: unknown }, atMs: number): void {
    const { lastFireAt } = saved;
    if (lastFireAt !== null && !Number.isSafeInteger(lastFireAt))
      throw new TypeError('rule snapshot: lastFireAt');
    this.detector.loadState(saved.state);
    this.lastFireAt = lastFireAt === null ? undefined : (lastFireAt as number);
    this.restoredAt = atMs;
  }

  /** Whether this rule was restored from a snapshot (and observes only ticks after it). */
  get restored(): boolean {
    return this.restoredAt !== Number.NEGATIVE_INFINITY;
  }

  /** After the replay: every tick counts again. */
  endRestore(): void {
    this.restoredAt = Number.NEGATIVE_INFINITY;
  }

  /** Done at `atMs`: fired `maxFires` times, or expired. */
  doneAt(atMs: number): boolean {
    if (!this.isDone && this.expiresAtMs !== undefined && atMs >= this.expiresAtMs) this.isDone = true;
    return this.isDone;
  }

  /**
   * Feeds one tick. `count` false (a replay of ticks already seen live) keeps the firing out of `maxFires`: it
   * restarts the detector and starts the cooldown as live, but its alert was counted when it was made.
   */
  observe(prices: QuotePrices, atMs: number, count = true): RuleFiring | null {
    const firing = this.step(prices, atMs, count, true);
    if (firing === null || firing === FIRED) return null;
    const { rule } = this;
    // Field by field rather than spread (`{ ...firing, … }`): the same object, a third of the cost — a backtest
    // makes one per alert (tens of thousands for a noisy rule over a day).
    const alert: RuleFiring = {
      direction: firing.direction,
      referencePrice: firing.referencePrice,
      price: firing.price,
      changePercent: firing.changePercent,
      details: firing.details,
      ruleId: rule.id,
      kind: rule.kind,
      priceField: rule.priceField,
      thresholdPercent: rule.kind === 'cross' ? '0' : rule.thresholdPercent,
    };
    if (rule.label !== undefined) alert.label = rule.label;
    return alert;
  }

  /**
   * {@link observe} for a tick whose alert is dropped (a replay on start): the same decisions and state, without
   * making the alert. True when the rule fired.
   */
  feed(prices: QuotePrices, atMs: number, count: boolean): boolean {
    return this.step(prices, atMs, count, false) !== null;
  }

  private step(
    prices: QuotePrices,
    atMs: number,
    count: boolean,
    describe: boolean,
  ): DetectorFiring | Fired | null {
    if (atMs <= this.restoredAt || this.doneAt(atMs)) return null;
    const { rule } = this;
    const mayFire = this.lastFireAt === undefined || atMs - this.lastFireAt >= rule.cooldownMs;
    const firing = this.detector.observe(prices, atMs, mayFire, describe);
    if (!firing) return null;
    this.lastFireAt = atMs;
    if (count) {
      this.firesCount += 1;
      if (rule.maxFires !== undefined && this.firesCount >= rule.maxFires) this.isDone = true;
    }
    return firing;
  }
}

export interface RuleSetTick {
  firings: RuleFiring[];
  /** Why a price some rule needs is unusable (that rule changed nothing); undefined when all were fine. */
  badPrice?: string;
  /** The watched price of the first rule that could read its field. */
  price?: string;
}

/**
 * Every rule of a monitor, evaluated on every tick in the order given. The worker runs one live (after replaying
 * its stored ticks with `count` false and alerts dropped); the backtest runs one over stored ticks. Same code.
 */
export class RuleSet {
  readonly evaluators: RuleEvaluator[];
  /** The time of the last tick observed: what a snapshot is taken after. */
  lastObservedAt: number | undefined;

  constructor(rules: readonly Rule[], fires: Readonly<Record<string, number>> = {}) {
    this.evaluators = rules.map((rule) => new RuleEvaluator(rule, fires[rule.id] ?? 0));
  }

  /** A live tick: every rule's alert, and the tick's bad price and watched price. */
  observe(quote: Quote, atMs: number, count = true): RuleSetTick {
    const prices = new QuotePrices(quote);
    const firings: RuleFiring[] = [];
    this.evaluate(prices, atMs, count, firings);
    let badPrice: string | undefined;
    let price: string | undefined;
    for (const evaluator of this.evaluators) {
      for (const field of evaluator.fields) badPrice ??= prices.error(field);
      price ??= prices.get(evaluator.rule.priceField)?.text;
    }
    return { firings, badPrice, price };
  }

  /**
   * {@link observe} for a backtest or a replay: the same decisions and states in every rule, each rule's firings
   * counted in `fired` (by the evaluators' order), its alerts appended to `into` while it has fired fewer than
   * `listUpTo` times; past that (from the start, for a replay's 0) the rule decides without making the alert
   * (RuleEvaluator.feed). Nothing of what only a live tick needs (its bad price, its watched price, an object for
   * the tick). Returns how many alerts were appended.
   */
  collect(
    quote: Quote,
    atMs: number,
    count: boolean,
    fired: number[],
    into: RuleFiring[],
    listUpTo = Number.POSITIVE_INFINITY,
  ): number {
    const before = into.length;
    this.evaluate(new QuotePrices(quote), atMs, count, into, fired, listUpTo);
    return into.length - before;
  }

  /** The one loop over the rules: each observes the tick; see {@link collect} for `fired` and `listUpTo`. */
  private evaluate(
    prices: QuotePrices,
    atMs: number,
    count: boolean,
    into: RuleFiring[],
    fired?: number[],
    listUpTo = Number.POSITIVE_INFINITY,
  ): void {
    this.lastObservedAt = atMs;
    const { evaluators } = this;
    for (let i = 0; i < evaluators.length; i++) {
      if (fired === undefined || fired[i] < listUpTo) {
        const firing = evaluators[i].observe(prices, atMs, count);
        if (firing === null) continue;
        into.push(firing);
        if (fired) fired[i] += 1;
      } else if (evaluators[i].feed(prices, atMs, count)) fired[i] += 1;
    }
  }

  /** The alerts rule `ruleId` has fired (0 for an unknown id). */
  firesOf(ruleId: string): number {
    return this.evaluators.find((evaluator) => evaluator.rule.id === ruleId)?.fires ?? 0;
  }

  /** Every rule done at `atMs` (fired maxFires times or expired). */
  allDoneAt(atMs: number): boolean {
    return this.evaluators.every((evaluator) => evaluator.doneAt(atMs));
  }

  progress(atMs: number): RuleProgress[] {
    return this.evaluators.map((e) => ({
      id: e.rule.id,
      kind: e.rule.kind,
      fires: e.fires,
      done: e.doneAt(atMs),
    }));
  }

  /** The reference of the first `move` rule: what the worker's state hash shows as referencePrice. */
  get referencePrice(): string | undefined {
    for (const evaluator of this.evaluators) {
      if (evaluator.detector instanceof MoveDetector) return evaluator.detector.referencePrice;
    }
    return undefined;
  }
}

/** One stored tick, as a backtest or a replay reads it. */
export interface ReplayTick {
  atMs: number;
  ask: string;
  bid: string;
}

export interface BacktestAlert extends RuleFiring {
  observedAt: string;
}

export interface BacktestResult {
  ticks: number;
  from: string | null;
  to: string | null;
  /** The alerts in time order (then rule order): each rule's first `alertsPerRule` (see {@link replayTicks}). */
  alerts: BacktestAlert[];
  /** Every firing of each rule, listed or not. */
  firedByRule: Record<string, number>;
  /** Whether some rule fired more often than `alerts` lists of it (a replay, which keeps none: whether any fired). */
  alertsTruncated: boolean;
}

/**
 * Runs ticks, oldest first, through a rule set. A backtest keeps the alerts and counts them (`count` true), each
 * rule's first `alertsPerRule` (default all) made and listed, the later ones decided without being made (the
 * same decisions and states, RuleEvaluator.feed) and only counted; a worker's replay on start drops them all and
 * leaves `maxFires` alone (`count` false): it lists none (every rule decides as RuleEvaluator.feed). One loop for
 * both, RuleSet.collect.
 */
export function replayTicks(
  ruleSet: RuleSet,
  ticks: Iterable<ReplayTick>,
  options: { count: boolean; keepAlerts: boolean; alertsPerRule?: number },
): BacktestResult {
  const alerts: BacktestAlert[] = [];
  const fired = ruleSet.evaluators.map(() => 0);
  const listUpTo = options.keepAlerts ? (options.alertsPerRule ?? Number.POSITIVE_INFINITY) : 0;
  let n = 0;
  let first: number | undefined;
  let last: number | undefined;
  for (const tick of ticks) {
    n += 1;
    first ??= tick.atMs;
    last = tick.atMs;
    // The alerts are made in place: each firing is a new object of its own, completed with its tick's time.
    const listed = ruleSet.collect(tick, tick.atMs, options.count, fired, alerts, listUpTo);
    if (listed === 0) continue;
    const observedAt = new Date(tick.atMs).toISOString();
    for (let i = alerts.length - listed; i < alerts.length; i++) alerts[i].observedAt = observedAt;
  }
  const firedByRule: Record<string, number> = {};
  ruleSet.evaluators.forEach((evaluator, i) => {
    firedByRule[evaluator.rule.id] = fired[i];
  });
  return {
    ticks: n,
    from: first === undefined ? null : new Date(first).toISOString(),
    to: last === undefined ? null : new Date(last).toISOString(),
    alerts,
    firedByRule,
    alertsTruncated: alerts.length < fired.reduce((sum, f) => sum + f, 0),
  };
}

/**
 * A backtest: the alerts the rules would have fired over these ticks, exactly as a live worker fires them; with
 * `alertsPerRule`, each rule's first that many listed and the rest only counted (`firedByRule` counts them all).
 */
export function backtestRules(
  rules: readonly Rule[],
  ticks: Iterable<ReplayTick>,
  options: { alertsPerRule?: number } = {},
): BacktestResult {
  return replayTicks(new RuleSet(rules), ticks, {
    count: true,
    keepAlerts: true,
    alertsPerRule: options.alertsPerRule,
  });
}
