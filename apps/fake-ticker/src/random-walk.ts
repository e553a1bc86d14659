import { Decimal } from '@pairwatch/contracts';

/** Starting prices for the demo pairs; any other pair starts at 100.00. */
export const SEED_PRICES: Readonly<Record<string, string>> = {
  'BTC-USD': '63120.45',
  'BTC-EUR': '58210.30',
  'ETH-USD': '3120.10',
  'ETH-EUR': '2878.55',
  'XRP-USD': '0.5234',
  'EUR-USD': '1.0842',
};

export const DEFAULT_SEED_PRICE = '100.00';

/** A seed price for a pair and the number of decimals its prices keep (at least 2). */
export function seedFor(pair: string): { price: string; decimals: number } {
  const price = SEED_PRICES[pair] ?? DEFAULT_SEED_PRICE;
  return { price, decimals: Math.max(2, new Decimal(price).decimalPlaces()) };
}

/**
 * Moves `price` by a uniformly random change in [-maxStepPercent, +maxStepPercent] %, in exact
 * decimals, rounded to `decimals` places. Never returns a price at or below zero (it stays put instead).
 *
 * @param random in [0, 1), like Math.random
 */
export function randomWalkStep(
  price: string,
  maxStepPercent: string,
  decimals: number,
  random: () => number,
): string {
  const current = new Decimal(price);
  // A whole number of millionths keeps the random part exact too.
  const millionths = Math.round((random() * 2 - 1) * 1_000_000);
  const changePercent = new Decimal(maxStepPercent).times(millionths).dividedBy(1_000_000);
  const next = current.times(new Decimal(100).plus(changePercent)).dividedBy(100).toDecimalPlaces(decimals);
  return next.isPositive() && !next.isZero() ? next.toFixed(decimals) : current.toFixed(decimals);
}

/** A bid `spreadPercent` % under `ask`, rounded down to `decimals` places. */
export function bidFor(ask: string, spreadPercent: string, decimals: number): string {
  const value = new Decimal(ask)
    .times(new Decimal(100).minus(spreadPercent))
    .dividedBy(100)
    .toDecimalPlaces(decimals, Decimal.ROUND_DOWN);
  return value.isPositive() && !value.isZero() ? value.toFixed(decimals) : ask;
}

/** The bid sits this far (in %) under the ask on the walk. */
export const WALK_SPREAD_PERCENT = '0.05';

/** A pair's opening quote: its seed price as the ask, the bid WALK_SPREAD_PERCENT under it. */
export function seedQuote(pair: string): { ask: string; bid: string } {
  const { price, decimals } = seedFor(pair);
  return { ask: price, bid: bidFor(price, WALK_SPREAD_PERCENT, decimals) };
}

/** What one step of the walk needs of the server. */
export interface WalkedBook {
  pairs(): string[];
  quote(pair: string): { ask: string; bid: string } | undefined;
  setQuote(pair: string, quote: { ask: string; bid: string }): void;
  controls: { isHeld(pair: string): boolean };
}

/**
 * One step of the random walk over every pair the server has (pairs added through the controls too), except
 * the held ones (a price set by hand, a series playing). A pair whose ask is not a positive decimal stays put.
 * Prices keep their seed's places, or more when one was set by hand with more.
 */
export function walkStep(book: WalkedBook, stepPercent: string, random: () => number): void {
  for (const pair of book.pairs()) {
    if (book.controls.isHeld(pair)) continue;
    const current = book.quote(pair);
    if (!current || !/^\d{1,30}(\.\d{1,30})?$/.test(current.ask) || new Decimal(current.ask).isZero())
      continue;
    const places = Math.max(seedFor(pair).decimals, current.ask.split('.')[1]?.length ?? 0);
    const ask = randomWalkStep(current.ask, stepPercent, places, random);
    book.setQuote(pair, { ask, bid: bidFor(ask, WALK_SPREAD_PERCENT, places) });
  }
}
