import * as ipaddr from 'ipaddr.js';
import { hostPortKey, normalizeHostPort, unbracket } from '../config/host-port';

/**
 * Which addresses a webhook may reach. Only public unicast addresses are allowed; everything ipaddr.js
 * classifies otherwise (loopback, private, link-local with the cloud metadata address, unique-local,
 * multicast, unspecified, broadcast, carrier-grade NAT, reserved, and the IPv6 forms that embed an IPv4
 * address) is refused — unless its `host:port` is listed in CHANNEL_ALLOWED_HOSTS or WEBHOOK_ALLOWED_HOSTS (one
 * list, for webhooks and channels alike). One policy for the check at
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

/** The port a URL connects to. */
export function urlPort(url: URL): number {
  return url.port !== '' ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
}
