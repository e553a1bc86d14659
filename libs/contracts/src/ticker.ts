/** Uphold's ticker path for a pair, relative to UPHOLD_API_URL. */
export function tickerPath(pair: string): string {
  return `/v0/ticker/${encodeURIComponent(pair)}`;
}
