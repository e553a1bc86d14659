/** Uphold's ticker path for a pair, relative to UPHOLD_API_URL. */
export function tickerPath(pair: string): string {
  return `/v0/ticker/${encodeURIComponent(pair)}`;
}

/** Uphold's path for every pair with `currency` on either side. */
export function tickerListPath(currency: string): string {
  return `/v0/ticker/${encodeURIComponent(currency)}`;
}
