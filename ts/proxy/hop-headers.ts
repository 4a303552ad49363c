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

const hopByHopLengths = new Set([...hopByHop].map((name) => name.length));

/**
 * Headers a peer can never make hop-by-hop by naming them in Connection.
 * Dropping Content-Length while the body still goes on turns the body into
 * the next message on the upstream connection (request smuggling), and a
 * message without Host is refused or misrouted by the next hop; the framing
 * of a message is the proxy's own business, never the peer's (RFC 9110
 * §7.6.1 forbids a sender to list them, so honouring it serves no client).
 */
const neverHopByHop = new Set(['content-length', 'host']);

/** Header names listed in a Connection header value, lower-cased; framing headers and Host are left out. */
export function connectionTokens(value: string | string[] | undefined): Set<string> | undefined {
  if (value === undefined) return undefined;
  const tokens = new Set<string>();
  for (const part of Array.isArray(value) ? value : [value]) {
    for (const token of part.split(',')) {
      const name = token.trim().toLowerCase();
      if (name.length > 0 && !neverHopByHop.has(name)) tokens.add(name);
    }
  }
  return tokens;
}

export function isHopByHop(lowerName: string, named: Set<string> | undefined): boolean {
  return hopByHop.has(lowerName) || (named !== undefined && named.has(lowerName));
}

/**
 * The Connection-named headers of raw headers ([name, value, …]) that are
 * not hop-by-hop anyway, or undefined when there are none — as for the
 * `Connection: keep-alive` or `close` almost every message carries.
 */
export function connectionNamed(raw: readonly string[]): Set<string> | undefined {
  let named: Set<string> | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.length !== 10 || raw[i]!.toLowerCase() !== 'connection') continue;
    const value = raw[i + 1]!.toLowerCase();
    if (value === 'keep-alive' || value === 'close') continue;
    for (const t of connectionTokens(value)!) if (!hopByHop.has(t)) (named ??= new Set()).add(t);
  }
  return named;
}

/**
 * Copies raw headers ([name, value, name, value, …]) without hop-by-hop
 * ones, keeping the sender's case and order. `keep` names hop-by-hop headers
 * to pass anyway (Upgrade and Connection for a WebSocket handshake); `drop`
 * names end-to-end ones to leave out too (framing the proxy writes itself).
 */
export function endToEndHeaders(raw: readonly string[], keep?: ReadonlySet<string>, drop?: ReadonlySet<string>): string[] {
  const named = connectionNamed(raw);
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    // Most names cannot be hop-by-hop by their length alone: kept without lower-casing and hashing them.
    if (named === undefined && drop === undefined && !hopByHopLengths.has(name.length)) {
      out.push(name, raw[i + 1]!);
      continue;
    }
    const lower = name.toLowerCase();
    if (isHopByHop(lower, named) ? !(keep?.has(lower) ?? false) : (drop?.has(lower) ?? false)) continue;
    out.push(name, raw[i + 1]!);
  }
  return out;
}
