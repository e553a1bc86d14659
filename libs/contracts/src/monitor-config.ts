import type { Rule } from './rules';

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

/** What a worker needs to watch one pair; built by the API from a validated monitor. */
export interface MonitorConfig {
  monitorId: string;
  pair: string;
  intervalMs: number;
  /** 1 to 10 rules, ids assigned (rules.ts). */
  rules: Rule[];
}
