import type { Direction, PriceField } from './monitor-config';
import { PricePoint, Quote, QuotePrices } from './quote-prices';
import { formatRatio, parsePercent, ScaledPercent, scaledPriceOf } from './scaled-decimal';

export interface DetectorOptions {
  /** Positive decimal string, e.g. "0.01" for 0.01 %. */
  thresholdPercent: string;
  direction?: Direction;
  priceField?: PriceField;
  cooldownMs?: number;
}

export interface Oscillation {
  direction: 'up' | 'down';
  referencePrice: string;
  price: string;
  /** Signed, rounded to {@link CHANGE_PERCENT_DECIMALS} places; the firing decision itself is exact. */
  changePercent: string;
}

export const CHANGE_PERCENT_DECIMALS = 8;

/** (to − from) / from × 100, rounded half-even to {@link CHANGE_PERCENT_DECIMALS} places: what an alert shows. */
export function changePercent(from: bigint, to: bigint): string {
  return formatRatio((to - from) * 100n, from, CHANGE_PERCENT_DECIMALS);
}

/**
 * The oscillation rule of the contract, over exact decimals.
 *
 * The first observed price becomes the reference. A price fires when
 * |price - reference| / reference * 100 >= threshold, in a wanted direction, and no sooner than
 * `cooldownMs` after the previous alert; the firing price then becomes the reference. The comparison is
 * made by cross-multiplying (|price - reference| * 100 >= threshold * reference, over scaled integers:
 * scaled-decimal.ts) so that no division, and so no rounding, takes part in the decision.
 */
export class OscillationDetector {
  private readonly threshold: ScaledPercent;
  private readonly direction: Direction;
  private readonly priceField: PriceField;
  private readonly cooldownMs: number;
  private reference: PricePoint | undefined;
  private lastAlertAt: number | undefined;

  constructor(options: DetectorOptions) {
    this.threshold = parsePercent(options.thresholdPercent, 'thresholdPercent');
    this.direction = options.direction ?? 'both';
    this.priceField = options.priceField ?? 'ask';
    this.cooldownMs = options.cooldownMs ?? 0;
    if (!Number.isInteger(this.cooldownMs) || this.cooldownMs < 0) {
      throw new RangeError(`cooldownMs must be a whole number >= 0, got ${this.cooldownMs}`);
    }
  }

  get referencePrice(): string | undefined {
    return this.reference?.text;
  }

  /** What this detector carries from tick to tick (a rule snapshot, rule-snapshot.ts). */
  saveState(): { reference: string | null; lastAlertAt: number | null } {
    return { reference: this.reference?.text ?? null, lastAlertAt: this.lastAlertAt ?? null };
  }

  /** Takes on a state {@link saveState} made; throws (changing nothing) when it is not one. */
  loadState(state: unknown): void {
    const { reference, lastAlertAt } = state as { reference?: unknown; lastAlertAt?: unknown };
    const point = reference === null ? undefined : snapshotPoint(reference);
    if (lastAlertAt !== null && !Number.isSafeInteger(lastAlertAt)) throw new TypeError('lastAlertAt');
    this.reference = point;
    this.lastAlertAt = lastAlertAt === null ? undefined : (lastAlertAt as number);
  }

  /** Picks the configured price out of a quote; throws InvalidDecimalError naming the field when it is bad. */
  selectPrice(quote: Quote): PricePoint {
    return new QuotePrices(quote).require(this.priceField);
  }

  /**
   * Feeds one quote observed at `atMs` (epoch milliseconds). Returns the oscillation when it fires.
   * A bad price throws before any state changes.
   */
  observe(quote: Quote, atMs: number): Oscillation | null {
    return this.observePrice(this.selectPrice(quote), atMs);
  }

  /** {@link observe} with the configured price already picked (a rule set parses each quote once). */
  observePrice(price: PricePoint, atMs: number): Oscillation | null {
    const reference = this.reference;
    if (reference === undefined) {
      this.reference = price;
      return null;
    }
    const delta = price.value - reference.value;
    if (delta === 0n) return null;
    const direction = delta > 0n ? 'up' : 'down';
    if (this.direction !== 'both' && this.direction !== direction) return null;
    const { units, hundredUnit } = this.threshold;
    if ((delta > 0n ? delta : -delta) * hundredUnit < units * reference.value) return null;
    if (this.lastAlertAt !== undefined && atMs - this.lastAlertAt < this.cooldownMs) return null;

    this.reference = price;
    this.lastAlertAt = atMs;
    return {
      direction,
      referencePrice: reference.text,
      price: price.text,
      changePercent: changePercent(reference.value, price.value),
    };
  }
}

/**
 * A price a snapshot kept as its text (rule-snapshot.ts), made a price point again: the text of a point is exact
 * (a mid's is its value written out), so its value is that text at PRICE_SCALE. Throws when it is not a price.
 */
export function snapshotPoint(text: unknown): PricePoint {
  if (typeof text !== 'string') throw new TypeError('a price must be a string');
  const value = scaledPriceOf(text);
  if (value <= 0n) throw new RangeError('a price must be positive');
  return { value, text };
}
