import { Decimal, formatDecimal, parsePositiveDecimal } from './decimal';
import type { Direction, PriceField } from './monitor-config';

export interface Quote {
  ask: string;
  bid: string;
}

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
const HUNDRED = new Decimal(100);

/**
 * The oscillation rule of the contract, over exact decimals.
 *
 * The first observed price becomes the reference. A price fires when
 * |price - reference| / reference * 100 >= threshold, in a wanted direction, and no sooner than
 * `cooldownMs` after the previous alert; the firing price then becomes the reference. The comparison is
 * made by cross-multiplying (|price - reference| * 100 >= threshold * reference) so that no division,
 * and so no rounding, takes part in the decision.
 */
export class OscillationDetector {
  private readonly threshold: Decimal;
  private readonly direction: Direction;
  private readonly priceField: PriceField;
  private readonly cooldownMs: number;
  private reference: { value: Decimal; text: string } | undefined;
  private lastAlertAt: number | undefined;

  constructor(options: DetectorOptions) {
    this.threshold = parsePositiveDecimal(options.thresholdPercent, 'thresholdPercent');
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

  /** Picks the configured price out of a quote; throws InvalidDecimalError naming the field when it is bad. */
  selectPrice(quote: Quote): { value: Decimal; text: string } {
    if (this.priceField === 'mid') {
      const ask = parsePositiveDecimal(quote.ask, 'ask');
      const bid = parsePositiveDecimal(quote.bid, 'bid');
      const mid = ask.plus(bid).dividedBy(2);
      return { value: mid, text: formatDecimal(mid) };
    }
    const text = quote[this.priceField];
    return { value: parsePositiveDecimal(text, this.priceField), text };
  }

  /**
   * Feeds one quote observed at `atMs` (epoch milliseconds). Returns the oscillation when it fires.
   * A bad price throws before any state changes.
   */
  observe(quote: Quote, atMs: number): Oscillation | null {
    const price = this.selectPrice(quote);
    const reference = this.reference;
    if (reference === undefined) {
      this.reference = price;
      return null;
    }
    const delta = price.value.minus(reference.value);
    if (delta.isZero()) return null;
    const direction = delta.isPositive() ? 'up' : 'down';
    if (this.direction !== 'both' && this.direction !== direction) return null;
    if (delta.abs().times(HUNDRED).lessThan(this.threshold.times(reference.value))) return null;
    if (this.lastAlertAt !== undefined && atMs - this.lastAlertAt < this.cooldownMs) return null;

    this.reference = price;
    this.lastAlertAt = atMs;
    return {
      direction,
      referencePrice: reference.text,
      price: price.text,
      changePercent: formatDecimal(delta.times(HUNDRED).dividedBy(reference.value), CHANGE_PERCENT_DECIMALS),
    };
  }
}
