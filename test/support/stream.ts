import type Redis from 'ioredis';

/** An XINFO reply (a flat key, value, key, value… list) as an object. */
export function xinfoFields(raw: unknown[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (let i = 0; i + 1 < raw.length; i += 2) out[String(raw[i])] = raw[i + 1];
  return out;
}

/**
 * Whether consumer group `group` has been handed every entry `stream` ever took (its last-delivered id is the
 * stream's last-generated id) and has acknowledged them all: whatever it does with an entry is done.
 */
export async function groupCaughtUp(redis: Redis, stream: string, group: string): Promise<boolean> {
  const info = xinfoFields((await redis.call('XINFO', 'STREAM', stream)) as unknown[]);
  const groups = ((await redis.call('XINFO', 'GROUPS', stream)) as unknown[][]).map(xinfoFields);
  const mine = groups.find((g) => g.name === group);
  return (
    mine !== undefined &&
    mine['last-delivered-id'] === info['last-generated-id'] &&
    Number(mine.pending) === 0
  );
}
