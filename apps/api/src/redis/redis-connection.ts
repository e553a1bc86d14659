import Redis, { Cluster, RedisOptions } from 'ioredis';
import { closingOnPurpose, redisClientPlan, RedisSettings, reviveWhenEnded } from '@pairwatch/contracts';

/**
 * Opens one named connection for a Redis door class (the alert stream, the worker-state reader); nothing
 * else in the API connects to Redis. REDIS_MODE decides the client (libs/contracts redisClientPlan): one
 * server, the master the sentinels name (followed through failovers), or a cluster (a Cluster answers the
 * same commands, typed here as a Redis). ioredis reconnects by itself; the 'error' listener keeps a Redis
 * that is down from crashing the process (commands fail, and callers answer for that). A connection that ioredis
 * gave up on by itself (a Sentinel failover can do that: libs/contracts redis-revive.ts) is connected again.
 */
export function openRedis(settings: RedisSettings, name: string, options: RedisOptions = {}): Redis {
  const plan = redisClientPlan(settings, {
    lazyConnect: false,
    maxRetriesPerRequest: 2,
    enableOfflineQueue: true,
    connectionName: name,
    ...options,
  });
  const connection =
    plan.kind === 'cluster'
      ? (new Cluster(plan.nodes, plan.options) as unknown as Redis)
      : plan.url === undefined
        ? new Redis(plan.options)
        : new Redis(plan.url, plan.options);
  connection.on('error', () => undefined);
  reviveWhenEnded(connection);
  return connection;
}

/**
 * QUIT, then a disconnect whatever QUIT did: in sentinel mode the disconnect also closes the connections to
 * the sentinels that watch for failovers (ioredis leaves them open after a QUIT). Never throws.
 */
export async function closeRedis(connection: Redis): Promise<void> {
  closingOnPurpose(connection);
  if (connection.status !== 'end') await connection.quit().catch(() => undefined);
  connection.disconnect();
}
