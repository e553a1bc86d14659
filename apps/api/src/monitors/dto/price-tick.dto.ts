/** One tick of a worker, as its price stream holds it (libs/contracts worker-prices.ts). */
export class PriceTickDto {
  /** When the worker received the quote (ISO-8601). */
  at: string;
  /** Decimal string, as the ticker sent it. */
  ask: string;
  bid: string;
  /** The watched price: the monitor's priceField (ask, bid or mid) of this quote. */
  price: string;
}
