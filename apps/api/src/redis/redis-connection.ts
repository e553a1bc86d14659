import Redis, { RedisOptions } from 'ioredis';

/**
 * Opens one named connection for a Redis door class (the alert stream, the worker-state reader); nothing
 * else in the API connects to Redis. ioredis reconnects by itself; the 'error' listener keeps a Redis that
 * is down from crashing the process (commands fail, and callers answer for that).
 */
export function openRedis(url: string, name: string, options: RedisOptions = {}): Redis {
  const connection = new Redis(url, {
    lazyConnect: false,
    maxRetriesPerRequest: 2,
    enableOfflineQueue: true,
    connectionName: name,
    ...options,
  });
  connection.on('error', () => undefined);
  return connection;
}

/** QUIT, or a hard disconnect when Redis cannot answer it; never throws. */
export async function closeRedis(connection: Redis): Promise<void> {
  if (connection.status === 'end') return;
  await connection.quit().catch(() => connection.disconnect());
}
