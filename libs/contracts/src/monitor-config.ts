export const DIRECTIONS = ['both', 'up', 'down'] as const;
export type Direction = (typeof DIRECTIONS)[number];

export const PRICE_FIELDS = ['ask', 'bid', 'mid'] as const;
export type PriceField = (typeof PRICE_FIELDS)[number];

/** Bounds shared by the API's validation and the worker's own configuration check. */
export const MONITOR_LIMITS = {
  intervalMs: { min: 1000, max: 3_600_000, default: 5000 },
  thresholdPercent: { maxExclusiveMin: 0, max: 1000, default: '0.01' },
  cooldownMs: { min: 0, max: 86_400_000, default: 0 },
} as const;
