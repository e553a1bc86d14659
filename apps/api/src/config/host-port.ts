import * as ipaddr from 'ipaddr.js';

/** `[v6]` → `v6`; anything else as it is. */
export const unbracket = (host: string) =>
  host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;

/** The key an allowed host and a target are compared by: lower-case name or canonical address, and port. */
export function hostPortKey(host: string, port: number): string {
  const bare = unbracket(host).toLowerCase();
  const name = ipaddr.isValid(bare) ? ipaddr.process(bare).toString() : bare;
  return `${name.includes(':') ? `[${name}]` : name}:${port}`;
}

/** `host:port` or `[v6]:port` → its key; undefined when malformed. */
export function normalizeHostPort(entry: string): string | undefined {
  const match = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(entry.trim());
  if (!match) return undefined;
  const port = Number(match[2]);
  if (port < 1 || port > 65535) return undefined;
  if (match[1].startsWith('[') && !ipaddr.IPv6.isValid(unbracket(match[1]))) return undefined;
  return hostPortKey(match[1], port);
}
