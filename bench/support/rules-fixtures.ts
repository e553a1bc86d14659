import type Redis from 'ioredis';
import { encodePriceTick, ReplayTick, workerPricesKey } from '@pairwatch/contracts';

/** What the rules benchmark and its probes share: the ten rules and the seeded series they run over. */

/** Ten rules of all five kinds, a 24 h window among them, as a user would send them. */
export const TEN_RULES_INPUT = [
  { kind: 'move', thresholdPercent: '1' },
  { kind: 'move', thresholdPercent: '0.5', priceField: 'mid', direction: 'up', cooldownMs: 60_000 },
  { kind: 'cross', level: '60100', rearmPercent: '0.05' },
  { kind: 'cross', level: '59900', direction: 'down' },
  { kind: 'window', thresholdPercent: '5', windowMs: 86_400_000 },
  { kind: 'window', thresholdPercent: '0.3', windowMs: 900_000 },
  { kind: 'window', thresholdPercent: '0.5', windowMs: 3_600_000, direction: 'up', priceField: 'bid' },
  { kind: 'trailing', thresholdPercent: '0.4' },
  { kind: 'trailing', thresholdPercent: '0.4', direction: 'up' },
  { kind: 'spread', thresholdPercent: '0.01' },
];

/** A seeded generator (mulberry32), so both sides of a comparison see the same series. */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * `n` ticks a second apart from `startMs`: a random walk around 60,000 in cents (ask, and bid a spread of 0.5 to
 * 10 below), or a steady rise (`rising`: a cent a tick).
 */
export function series(n: number, startMs: number, seed: number, rising = false): ReplayTick[] {
  const next = random(seed);
  const ticks: ReplayTick[] = new Array<ReplayTick>(n);
  let cents = 6_000_000;
  for (let i = 0; i < n; i++) {
    cents += rising ? 1 : Math.round((next() - 0.5) * 600);
    const spread = 50 + Math.floor(next() * 950);
    ticks[i] = { atMs: startMs + i * 1000, ask: centsText(cents), bid: centsText(cents - spread) };
  }
  return ticks;
}

export const centsText = (cents: number): string =>
  `${Math.floor(cents / 100)}.${String(cents % 100).padStart(2, '0')}`;

/** Fills a monitor's recent-tick stream with `ticks`, as its worker would have. */
export async function storeTicks(redis: Redis, monitorId: string, ticks: ReplayTick[]): Promise<void> {
  for (let i = 0; i < ticks.length; i += 5000) {
    const tx = redis.multi();
    for (const t of ticks.slice(i, i + 5000)) {
      const at = new Date(t.atMs).toISOString();
      tx.xadd(
        workerPricesKey(monitorId),
        `${t.atMs}-0`,
        ...encodePriceTick({ at, ask: t.ask, bid: t.bid, price: t.ask }),
      );
    }
    await tx.exec();
  }
}
