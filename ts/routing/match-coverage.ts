import { pathPatternShape, type PathPatternShape } from './path-matcher.js';
import type { Route } from './route.js';

/**
 * The shadowing rules: when one route matches everything another matches
 * and always wins the tie, as RouteIndex decides it. Each dimension of a
 * match (domains, path, clientIp) has its own covering rule, and precedence
 * its own; a route is shadowed only when all four hold. Every rule answers
 * "no" when it cannot prove "yes": a missed warning is better than a false one.
 */

/** What the rules read of a route, computed once per compiled route. */
export interface MatchProfile {
  readonly route: Route;
  /** Domain pattern keys: `any`, `e:name`, `w:suffix` (for `*.suffix`), `g:glob`. */
  readonly domainKeys: readonly string[];
  readonly domainSet: ReadonlySet<string>;
  readonly anyDomain: boolean;
  /** Sorted clientIp list joined; '' when the route takes every client. */
  readonly ipKey: string;
  readonly path: PathPatternShape | undefined;
  readonly pathSpecificity: number;
}

// Routes are immutable and shared between tables, so a profile outlives the update that made it.
const profiles = new WeakMap<Route, MatchProfile>();

/** The route's profile, built on first use and kept while the compiled route lives. */
export function matchProfile(route: Route): MatchProfile {
  let profile = profiles.get(route);
  if (profile === undefined) {
    profile = buildProfile(route);
    profiles.set(route, profile);
  }
  return profile;
}

function buildProfile(route: Route): MatchProfile {
  const keys: string[] = [];
  for (const domain of route.domains ?? [{ kind: 'any' as const }]) {
    const key = domain.kind === 'any' ? 'any' : domain.kind === 'exact' ? `e:${domain.name}` : domain.kind === 'wildcard' ? `w:${domain.suffix}` : `g:${domain.pattern}`;
    if (!keys.includes(key)) keys.push(key);
  }
  const ips = route.config.match.clientIp;
  // An empty list matches no client: give it a key no other list has, never the unrestricted ''.
  const ipKey = ips === undefined || ips.includes('*') ? '' : ips.length === 0 ? '[]' : [...new Set(ips)].sort().join(',');
  return {
    route,
    domainKeys: keys,
    domainSet: new Set(keys),
    anyDomain: keys.includes('any'),
    ipKey,
    path: route.path === undefined ? undefined : pathPatternShape(route.path.pattern),
    pathSpecificity: route.path?.specificity ?? 0,
  };
}

/** Every suffix after a dot: 'a.b.com' → ['b.com', 'com'], as RouteIndex looks wildcards up. */
export function dotSuffixes(name: string): string[] {
  const suffixes: string[] = [];
  for (let dot = name.indexOf('.'); dot !== -1; dot = name.indexOf('.', dot + 1)) suffixes.push(name.slice(dot + 1));
  return suffixes;
}

/**
 * Every host name `b` matches, `a` matches too. Wildcards match any depth
 * (`*.example.com` takes `a.b.example.com`); a glob covers an exact name it
 * matches, and otherwise only the identical glob (glob against glob is not
 * decided). A route without domains also takes connections that carry none,
 * so only another such route covers it.
 */
export function domainsCover(a: MatchProfile, b: MatchProfile): boolean {
  if (a.anyDomain) return true;
  if (b.anyDomain) return false;
  return b.domainKeys.every((key) => a.domainSet.has(key) || coveredByWildcardOrGlob(a, key));
}

function coveredByWildcardOrGlob(a: MatchProfile, key: string): boolean {
  const kind = key.slice(0, 2);
  const name = key.slice(2);
  if (kind === 'g:') return false;
  if (dotSuffixes(name).some((suffix) => a.domainSet.has(`w:${suffix}`))) return true;
  if (kind !== 'e:') return false;
  return (a.route.domains ?? []).some((d) => d.kind === 'glob' && d.matcher.match(name));
}

/**
 * Every request path `b` matches, `a` matches too. Request paths arrive
 * with dot segments resolved and slashes merged, but `OPTIONS *` arrives as
 * '*', which only a route without a path takes: so no path pattern covers
 * a route without one.
 */
export function pathCovers(a: MatchProfile, b: MatchProfile): boolean {
  const outer = a.path;
  const inner = b.path;
  if (outer === undefined) return true;
  if (inner === undefined) return false;
  switch (outer.kind) {
    case 'exact':
      return inner.kind === 'exact' && inner.path === outer.path;
    case 'prefix':
      return prefixCovers(outer.prefix, inner);
    case 'glob':
      if (inner.kind === 'glob') return inner.pattern === outer.pattern;
      return inner.kind === 'exact' && a.route.path!.matches(inner.path);
  }
}

function prefixCovers(prefix: string, inner: PathPatternShape): boolean {
  const below = prefix + '/';
  switch (inner.kind) {
    case 'exact':
      return inner.path === prefix || inner.path.startsWith(below);
    case 'prefix':
      return inner.prefix === prefix || inner.prefix.startsWith(below);
    case 'glob':
      // Everything a glob matches starts with its literal text, unless that text holds an
      // escape or dot segments minimatch may rewrite: then it is not decided.
      return isPlainLiteral(inner.literal) && inner.literal.startsWith(below);
  }
}

function isPlainLiteral(literal: string): boolean {
  return !literal.includes('\\') && !literal.includes('/.') && !literal.includes('//');
}

/** Every client `b` accepts, `a` accepts too: `a` is unrestricted, or lists the same addresses. CIDR containment is not decided. */
export function clientIpCovers(a: MatchProfile, b: MatchProfile): boolean {
  return a.ipKey === '' || a.ipKey === b.ipKey;
}

/**
 * Whenever both match, `a` is chosen: it has the higher priority, or the
 * same priority, at least every domain pattern `b` has (so its domain rank
 * is never lower), and wins the remaining tie-break (path specificity, then
 * the order routes were given in).
 */
export function alwaysOutranks(a: MatchProfile, b: MatchProfile, position: ReadonlyMap<Route, number>): boolean {
  if (a.route.priority !== b.route.priority) return a.route.priority > b.route.priority;
  if (!b.domainKeys.every((key) => a.domainSet.has(key))) return false;
  if (a.pathSpecificity !== b.pathSpecificity) return a.pathSpecificity > b.pathSpecificity;
  return position.get(a.route)! < position.get(b.route)!;
}

/** `a` wins every connection or request `b` would match: `b` can never be chosen. */
export function alwaysWins(a: MatchProfile, b: MatchProfile, position: ReadonlyMap<Route, number>): boolean {
  return a !== b && clientIpCovers(a, b) && domainsCover(a, b) && pathCovers(a, b) && alwaysOutranks(a, b, position);
}
