/**
 * Hop-by-hop headers (RFC 9110 §7.6.1) belong to one connection and must
 * not be forwarded; neither must any header the Connection header names.
 */
const hopByHop = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'proxy-authenticate',
  'proxy-authorization',
]);

/** Header names listed in a Connection header value, lower-cased. */
export function connectionTokens(value: string | string[] | undefined): Set<string> | undefined {
  if (value === undefined) return undefined;
  const tokens = new Set<string>();
  for (const part of Array.isArray(value) ? value : [value]) {
    for (const token of part.split(',')) {
      const name = token.trim().toLowerCase();
      if (name.length > 0) tokens.add(name);
    }
  }
  return tokens;
}

export function isHopByHop(lowerName: string, named: Set<string> | undefined): boolean {
  return hopByHop.has(lowerName) || (named !== undefined && named.has(lowerName));
}

/**
 * Copies raw headers ([name, value, name, value, …]) without hop-by-hop
 * ones, keeping the sender's case and order. `keep` names hop-by-hop headers
 * to pass anyway (Upgrade and Connection for a WebSocket handshake).
 */
export function endToEndHeaders(raw: readonly string[], keep?: ReadonlySet<string>): string[] {
  let named: Set<string> | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.length === 10 && raw[i]!.toLowerCase() === 'connection') {
      named ??= new Set();
      for (const t of connectionTokens(raw[i + 1]!)!) named.add(t);
    }
  }
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.toLowerCase();
    if (isHopByHop(lower, named) && !(keep?.has(lower) ?? false)) continue;
    out.push(name, raw[i + 1]!);
  }
  return out;
}
