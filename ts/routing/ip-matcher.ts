import { BlockList, isIP, isIPv4 } from 'node:net';

/**
 * Matches client addresses against a list of IPs and CIDRs, compiled once per
 * route update into a `net.BlockList` (native, no per-connection parsing).
 */
export interface IpMatcher {
  matches(ip: string): boolean;
}

const matchesAnything: IpMatcher = { matches: () => true };

/** Why `pattern` is not a valid IP, CIDR or `'*'`; undefined when it is. */
export function ipPatternProblem(pattern: unknown): string | undefined {
  if (typeof pattern !== 'string' || pattern.length === 0) return 'should be an IP address or CIDR string';
  if (pattern === '*') return undefined;
  const slash = pattern.indexOf('/');
  const address = slash === -1 ? pattern : pattern.slice(0, slash);
  const family = isIP(address);
  if (family === 0) return `'${pattern}' is not an IP address or CIDR`;
  if (slash === -1) return undefined;
  const bitsText = pattern.slice(slash + 1);
  const bits = Number(bitsText);
  const max = family === 4 ? 32 : 128;
  if (!/^\d{1,3}$/.test(bitsText) || bits > max) return `'${pattern}' has a prefix length outside 0-${max}`;
  return undefined;
}

/** Compiles validated patterns; an empty list matches nothing. */
export function compileIpMatcher(patterns: readonly string[]): IpMatcher {
  if (patterns.includes('*')) return matchesAnything;
  const list = new BlockList();
  for (const pattern of patterns) {
    const slash = pattern.indexOf('/');
    const address = slash === -1 ? pattern : pattern.slice(0, slash);
    const type = isIPv4(address) ? 'ipv4' : 'ipv6';
    if (slash === -1) list.addAddress(address, type);
    else list.addSubnet(address, Number(pattern.slice(slash + 1)), type);
  }
  return {
    matches(ip: string): boolean {
      const plain = unmapIPv4(ip);
      const family = isIP(plain);
      if (family === 0) return false;
      return list.check(plain, family === 4 ? 'ipv4' : 'ipv6');
    },
  };
}

/** `::ffff:10.0.0.1` → `10.0.0.1`, so IPv4 rules apply to dual-stack sockets. */
export function unmapIPv4(ip: string): string {
  if (ip.length > 7 && ip.charCodeAt(0) === 58 /* : */ && ip.startsWith('::ffff:')) {
    const rest = ip.slice(7);
    if (isIPv4(rest)) return rest;
  }
  return ip;
}
