import * as ipaddr from 'ipaddr.js';

/**
 * Which addresses a webhook may reach. Only public unicast addresses are allowed; everything ipaddr.js
 * classifies otherwise (loopback, private, link-local with the cloud metadata address, unique-local,
 * multicast, unspecified, broadcast, carrier-grade NAT, reserved, and the IPv6 forms that embed an IPv4
 * address) is refused — unless its `host:port` is listed in WEBHOOK_ALLOWED_HOSTS. One policy for the check at
 * registration and the one at every connection.
 */
export class AddressPolicy {
  private readonly allowed: ReadonlySet<string>;

  constructor(allowedHosts: readonly string[]) {
    this.allowed = new Set(allowedHosts.map(normalizeHostPort).filter((e): e is string => e !== undefined));
  }

  /** Whether `host:port` (a name or an address, IPv6 with or without brackets) is listed. */
  isAllowed(host: string, port: number): boolean {
    return this.allowed.has(hostPortKey(host, port));
  }

  /** Why an address may not be connected to on this port, or undefined when it may. */
  refusal(address: string, port: number): string | undefined {
    const range = internalRange(address);
    if (range === undefined || this.isAllowed(address, port)) return undefined;
    return `${address} is a ${range} address`;
  }
}

/** The ipaddr.js range of an internal (not public unicast) address; undefined for public ones and non-IPs. */
export function internalRange(address: string): string | undefined {
  const bare = unbracket(address);
  if (!ipaddr.isValid(bare)) return undefined;
  // ipaddr.process turns an IPv4-mapped IPv6 address (::ffff:127.0.0.1) into the IPv4 address it carries.
  const parsed = ipaddr.process(bare);
  const range = parsed.range();
  return range === 'unicast' ? undefined : range;
}

export function isIpLiteral(host: string): boolean {
  return ipaddr.isValid(unbracket(host));
}

const unbracket = (host: string) => (host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host);

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

/** The port a URL connects to. */
export function urlPort(url: URL): number {
  return url.port !== '' ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
}
