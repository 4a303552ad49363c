import type { IpMatcher } from '../routing/ip-matcher.js';
import type { HeaderRules } from './http/header-rules.js';

export interface ForwardedFacts {
  clientIp: string;
  /** 'http' or 'https', as the client connected. */
  proto: string;
  /** Host header as the client sent it. */
  host: string | undefined;
  /** Port the client connected to. */
  port: number;
  /** The matched route's name, for header rule templates. */
  route?: string;
  /** The request's host name without port, for header rule templates. */
  domain?: string;
  /** The request's path, for header rule templates. */
  path?: string;
  /** The route's header rules; undefined when it has none. */
  headerRules?: HeaderRules | undefined;
}

const forwardedNames = new Set(['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-port']);

/**
 * Adds X-Forwarded-For/-Proto/-Host/-Port to raw request headers. From a
 * trusted proxy the incoming chain is extended (its XFF gets our peer
 * appended; its proto/host/port are kept); from anyone else incoming
 * X-Forwarded-* are dropped and replaced, so a client cannot forge them.
 * Their underscore spellings are dropped from everyone.
 */
export function addForwardedHeaders(raw: string[], facts: ForwardedFacts, trusted: IpMatcher | undefined): string[] {
  const trust = trusted !== undefined && trusted.matches(facts.clientIp);
  const seen = new Map<string, string>();
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const lower = raw[i]!.toLowerCase();
    if (!forwardedNames.has(lower)) {
      // CGI-style servers (PHP, WSGI, Rack) read X_Forwarded_For as X-Forwarded-For: a forged one would slip past the replacement.
      if (lower.includes('_') && forwardedNames.has(lower.replaceAll('_', '-'))) continue;
      out.push(raw[i]!, raw[i + 1]!);
      continue;
    }
    if (!trust) continue;
    const before = seen.get(lower);
    seen.set(lower, before === undefined ? raw[i + 1]! : `${before}, ${raw[i + 1]!}`);
  }
  const chain = seen.get('x-forwarded-for');
  out.push('X-Forwarded-For', chain === undefined ? facts.clientIp : `${chain}, ${facts.clientIp}`);
  out.push('X-Forwarded-Proto', seen.get('x-forwarded-proto') ?? facts.proto);
  const host = seen.get('x-forwarded-host') ?? facts.host;
  if (host !== undefined) out.push('X-Forwarded-Host', host);
  out.push('X-Forwarded-Port', seen.get('x-forwarded-port') ?? String(facts.port));
  return out;
}
