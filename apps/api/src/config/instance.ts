import { createHash } from 'node:crypto';
import { RELAY_DEFAULT_PORT } from '@pairwatch/contracts';

/** What PAIRWATCH_INSTANCE may be: a label value, a container-name part and a DNS label part. */
export const INSTANCE_PATTERN = /^[a-z0-9][a-z0-9-]{0,31}$/;

/**
 * The installation's label when PAIRWATCH_INSTANCE is not set: made from its database (the monitors it runs),
 * so two checkouts sharing one Docker engine with two databases never take each other's workers or relay,
 * and two API replicas of one database agree. `<database name>-<6 hex of host:port/name>`, e.g.
 * `pairwatch-5c1e0a`: readable, and distinct for one name on two Postgres servers.
 */
export function defaultInstance(databaseUrl: string): string {
  let where = databaseUrl;
  let name = 'pairwatch';
  try {
    const url = new URL(databaseUrl);
    name = decodeURIComponent(url.pathname.replace(/^\//, '')) || 'postgres';
    where = `${url.hostname.toLowerCase()}:${url.port || '5432'}/${name}`;
  } catch {
    // Not a URL (validation names it elsewhere): the text itself is hashed.
  }
  const slug =
    name
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 25)
      .replace(/-+$/, '') || 'db';
  const hash = createHash('sha256').update(where).digest('hex').slice(0, 6);
  return `${slug}-${hash}`;
}

/** Relay host ports chosen by instance: RELAY_DEFAULT_PORT for `default`, else one of the next 900. */
export const RELAY_PORT_SPREAD = 900;

/**
 * The relay's port when RELAY_PORT is not set: it follows the instance, so two installations on one machine
 * (with WORKER_NETWORK=host, or on one Swarm's routing mesh) do not both want 8095. Two instances may still
 * land on one port (about 1 in 900): RELAY_PORT settles it.
 */
export function defaultRelayPort(instance: string): number {
  if (instance === 'default') return RELAY_DEFAULT_PORT;
  const n = createHash('sha256').update(instance).digest().readUInt32BE(0);
  return RELAY_DEFAULT_PORT + 1 + (n % RELAY_PORT_SPREAD);
}
