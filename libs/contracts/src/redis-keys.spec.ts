import {
  ALERTS_DEAD_LETTER_STREAM,
  ALERTS_STREAM,
  alertsChannel,
  alertSentKey,
  keyHashSlot,
  LEGACY_ALERTS_STREAM,
  ruleStateKey,
  workerPricesKey,
  workerStateKey,
} from './redis-keys';

const MONITOR = '3f1c2b7e-8a4d-4c5e-9f60-1a2b3c4d5e6f';

describe('Redis keys', () => {
  it("computes Redis Cluster's hash slots (CLUSTER KEYSLOT's answers)", () => {
    // Values from `redis-cli CLUSTER KEYSLOT` on Redis 7.
    expect(keyHashSlot('foo')).toBe(12182);
    expect(keyHashSlot('123456789')).toBe(12739);
    expect(keyHashSlot('{user1000}.following')).toBe(keyHashSlot('user1000'));
    // An empty tag hashes the whole key; only the first tag counts.
    expect(keyHashSlot('foo{}{bar}')).not.toBe(keyHashSlot('bar'));
    expect(keyHashSlot('foo{{bar}}zap')).toBe(keyHashSlot('{bar'));
    expect(keyHashSlot('foo{bar}{zap}')).toBe(keyHashSlot('bar'));
  });

  it('puts what one MULTI writes in one slot: the stream, its dead letters and the live channels', () => {
    const slot = keyHashSlot(ALERTS_STREAM);
    expect(keyHashSlot(ALERTS_DEAD_LETTER_STREAM)).toBe(slot);
    for (const pair of ['BTC-USD', 'ETH-EUR', 'XAU-USD']) expect(keyHashSlot(alertsChannel(pair))).toBe(slot);
    // A monitor's rule state is written with its alerts, so it lives in the stream's slot too.
    expect(keyHashSlot(ruleStateKey(MONITOR))).toBe(slot);
    // And the marker that makes an alert's send happen once.
    expect(keyHashSlot(alertSentKey(MONITOR))).toBe(slot);
  });

  it("puts a monitor's state hash and price stream in one slot, and monitors apart", () => {
    expect(keyHashSlot(workerStateKey(MONITOR))).toBe(keyHashSlot(workerPricesKey(MONITOR)));
    const slots = new Set(
      Array.from({ length: 50 }, (_, i) => keyHashSlot(workerStateKey(`${MONITOR.slice(0, -2)}${i}`))),
    );
    expect(slots.size).toBeGreaterThan(40);
  });

  it('names every key apart from the names before the hash tags', () => {
    expect(LEGACY_ALERTS_STREAM).toBe('pairwatch:alerts');
    expect(ALERTS_STREAM).not.toBe(LEGACY_ALERTS_STREAM);
    expect(workerStateKey(MONITOR)).not.toBe(`pairwatch:worker:${MONITOR}`);
  });
});
