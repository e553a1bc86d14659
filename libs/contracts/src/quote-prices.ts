import { InvalidDecimalError } from './decimal';
import type { PriceField } from './monitor-config';
import { formatScaled, parsePositivePrice } from './scaled-decimal';

export interface Quote {
  ask: string;
  bid: string;
}

/** One price of a quote, exact. */
export interface PricePoint {
  /** The price at PRICE_SCALE (scaled-decimal.ts). */
  value: bigint;
  /** As the ticker sent it (trailing zeros kept); for mid, (ask + bid) / 2 written out exactly. */
  text: string;
}

/** The prices of one quote, each parsed once and only when a rule asks for it; a bad one is remembered as such. */
export class QuotePrices {
  private ask: PricePoint | InvalidDecimalError | undefined;
  private bid: PricePoint | InvalidDecimalError | undefined;
  private mid: PricePoint | InvalidDecimalError | undefined;

  constructor(readonly quote: Quote) {}

  /** The price in `field`, or undefined when it is not a positive decimal (see {@link error}). */
  get(field: PriceField): PricePoint | undefined {
    const point = this.point(field);
    return point instanceof InvalidDecimalError ? undefined : point;
  }

  /** Why `field` is unusable, or undefined when it is fine. */
  error(field: PriceField): string | undefined {
    const point = this.point(field);
    return point instanceof InvalidDecimalError ? point.message : undefined;
  }

  /** The price in `field`; throws the InvalidDecimalError naming the field when it is bad. */
  require(field: PriceField): PricePoint {
    const point = this.point(field);
    if (point instanceof InvalidDecimalError) throw point;
    return point;
  }

  private point(field: PriceField): PricePoint | InvalidDecimalError {
    if (field === 'ask') return (this.ask ??= parse(this.quote.ask, 'ask'));
    if (field === 'bid') return (this.bid ??= parse(this.quote.bid, 'bid'));
    if (this.mid === undefined) {
      const ask = this.point('ask');
      const bid = this.point('bid');
      if (ask instanceof InvalidDecimalError) this.mid = ask;
      else if (bid instanceof InvalidDecimalError) this.mid = bid;
      else {
        // Exact: at PRICE_SCALE both prices end in a 0, so their sum is even.
        this.mid = new MidPoint((ask.value + bid.value) / 2n);
      }
    }
    return this.mid;
  }
}

/** A mid price, its text written only when asked for (most ticks of a `mid` rule only compare it). */
class MidPoint implements PricePoint {
  private written: string | undefined;

  constructor(readonly value: bigint) {}

  get text(): string {
    return (this.written ??= formatScaled(this.value));
  }
}

function parse(text: string, field: string): PricePoint | InvalidDecimalError {
  try {
    return { value: parsePositivePrice(text, field), text };
  } catch (error) {
    if (error instanceof InvalidDecimalError) return error;
    throw error;
  }
}
