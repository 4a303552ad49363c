import { Minimatch } from 'minimatch';
import { globSyntaxProblem } from './glob-syntax.js';

/**
 * How a route's domain pattern is indexed. Exact names and `*.suffix`
 * wildcards are looked up in maps (cost independent of route count); other
 * globs such as `api-*.example.com` are rare and scanned.
 */
export type DomainPattern =
  | { kind: 'exact'; name: string }
  | { kind: 'wildcard'; suffix: string } // '*.example.com' → 'example.com'
  | { kind: 'any' }
  | { kind: 'glob'; pattern: string; matcher: Minimatch };

const domainChars = /^[a-z0-9*.\-_?[\]]+$/;

export function domainPatternProblem(domain: unknown): string | undefined {
  if (typeof domain !== 'string' || domain.length === 0) return 'should be a non-empty host name';
  if (domain.length > 253) return 'should be at most 253 characters';
  if (!domainChars.test(domain.toLowerCase())) {
    return `'${domain}' has characters that cannot be in a host name (letters, digits, '-', '.', and '*' globs only)`;
  }
  if (domain.startsWith('.') || domain.endsWith('.') || domain.includes('..')) return `'${domain}' has an empty label`;
  return globSyntaxProblem(domain, false);
}

export function parseDomainPattern(domain: string): DomainPattern {
  const name = domain.toLowerCase();
  if (name === '*') return { kind: 'any' };
  if (name.startsWith('*.') && !/[*?[\]]/.test(name.slice(2))) return { kind: 'wildcard', suffix: name.slice(2) };
  if (!/[*?[\]]/.test(name)) return { kind: 'exact', name };
  return { kind: 'glob', pattern: name, matcher: new Minimatch(name, { nocase: true, dot: true }) };
}

/**
 * RFC 3986 host (reg-name or bracketed IP literal) with an optional port:
 * what a Host header or an absolute-form authority may hold. Anything else
 * ('/', '?', '#', '@', '\\', spaces) would be matched by a wildcard route's
 * suffix ('evil.test/.a.test' ends in '.a.test') and then rebuilt into a
 * redirect or handed upstream as a different URL.
 */
const validHost = /^(?:\[[0-9A-Za-z:.%~_-]+\]|[A-Za-z0-9._~!$&'()*+,;=%-]*)(?::[0-9]*)?$/;

/** Whether a Host header value (or absolute-form authority) is a host name or address, with an optional port. */
export function isValidHost(host: string): boolean {
  return validHost.test(host);
}

/** Lower-cases a Host header or SNI value and drops its port and any trailing dot. */
export function normaliseHostname(host: string | undefined): string | undefined {
  if (!host) return undefined;
  let end = host.length;
  if (host.charCodeAt(0) === 91 /* [ */) {
    const close = host.indexOf(']');
    return close === -1 ? undefined : host.slice(0, close + 1).toLowerCase();
  }
  const colon = host.indexOf(':');
  if (colon !== -1) end = colon;
  if (host.charCodeAt(end - 1) === 46 /* . */) end--;
  const name = end === host.length ? host : host.slice(0, end);
  return name.toLowerCase();
}
