import { alwaysWins, clientIpCovers, dotSuffixes, matchProfile, type MatchProfile } from './match-coverage.js';
import type { PathPatternShape } from './path-matcher.js';
import type { Route } from './route.js';

/** A route that can never be chosen on a port, and one route that always beats it there. */
export interface ShadowedRoute {
  readonly route: Route;
  readonly by: Route;
  /** Why `by` wins, in words, e.g. "matches any domain, and has a higher priority (10 > 0)". */
  readonly reason: string;
}

/**
 * The routes of one index (the routes matched together on a port) that can
 * never win. Comparing every pair would cost n² for ten thousand routes, so
 * each route is compared only with the strongest route of each bucket that
 * could cover it: routes are bucketed by one domain pattern, clientIp list
 * and path pattern, and a route looks up its own domain, the wildcards and
 * catch-all above it, the unrestricted clientIp, and the path prefixes
 * above its path. That is a few dozen map hits per route. Internal routes
 * (the ACME challenge) are left out both ways: they take only their own
 * requests and come and go by themselves.
 *
 * `position`: each route's place in the table, the last tie-break.
 */
export function findShadowedRoutes(routes: readonly Route[], position: ReadonlyMap<Route, number>): ShadowedRoute[] {
  const profiles = routes.filter((r) => !r.internal).map(matchProfile);
  if (profiles.length < 2) return [];
  const buckets = strongestByBucket(profiles, position);
  const found: ShadowedRoute[] = [];
  for (const profile of profiles) {
    const winner = findWinner(profile, buckets, position);
    if (winner !== undefined) found.push({ route: profile.route, by: winner.route, reason: describeWin(winner, profile) });
  }
  return found;
}

/**
 * A profile's bucket keys, and the keys of the buckets that could hold its
 * winner grouped by domain, computed once per compiled route: routes live
 * across updates, and building these strings was most of the cost.
 */
interface Lookup {
  readonly ownKeys: readonly string[];
  /** The exact host name of the first domain pattern, which a glob route may cover. */
  readonly exactName: string | undefined;
  readonly ipKeys: readonly string[];
  readonly pathKeys: readonly string[];
  readonly candidates: readonly { readonly domainKey: string; readonly keys: readonly string[] }[];
}

const lookups = new WeakMap<MatchProfile, Lookup>();

function lookupOf(profile: MatchProfile): Lookup {
  let lookup = lookups.get(profile);
  if (lookup === undefined) {
    const pathKey = pathKeyOf(profile.path);
    const ipKeys = profile.ipKey === '' ? [''] : [profile.ipKey, ''];
    const pathKeys = coveringPathKeys(profile.path);
    const first = profile.domainKeys[0]!;
    lookup = {
      ownKeys: profile.domainKeys.map((domainKey) => bucketKey(domainKey, profile.ipKey, pathKey)),
      exactName: first.startsWith('e:') ? first.slice(2) : undefined,
      ipKeys,
      pathKeys,
      // Any route covering this one covers its first domain pattern, so the buckets of that pattern's coverers are enough.
      candidates: coveringDomainKeys(first).map((domainKey) => ({
        domainKey,
        keys: ipKeys.flatMap((ipKey) => pathKeys.map((pathKey) => bucketKey(domainKey, ipKey, pathKey))),
      })),
    };
    lookups.set(profile, lookup);
  }
  return lookup;
}

function bucketKey(domainKey: string, ipKey: string, pathKey: string): string {
  return `${domainKey}\u0000${ipKey}\u0000${pathKey}`;
}

/** Buckets by key (domain, clientIp, path pattern) holding the route tried first there, and the domain keys that have any. */
interface Buckets {
  readonly strongest: Map<string, MatchProfile>;
  readonly domains: Set<string>;
  /** Glob domain keys with their matchers, when few enough to try against every exact-domain route. */
  readonly globs: ReadonlyMap<string, (name: string) => boolean>;
}

/**
 * Globs cannot be looked up by name: each is matched against each route with
 * an exact first domain. Past this many that costs more than it finds, and
 * those routes are simply not checked against globs.
 */
const maxGlobsTried = 16;

function pathKeyOf(path: PathPatternShape | undefined): string {
  if (path === undefined) return 'none';
  return path.kind === 'exact' ? `x:${path.path}` : path.kind === 'prefix' ? `p:${path.prefix}` : `g:${path.pattern}`;
}

/** Per bucket, the route tried first among those in it: highest priority, then earliest. */
function strongestByBucket(profiles: readonly MatchProfile[], position: ReadonlyMap<Route, number>): Buckets {
  const strongest = new Map<string, MatchProfile>();
  const domains = new Set<string>();
  for (const profile of profiles) {
    for (const key of lookupOf(profile).ownKeys) {
      const current = strongest.get(key);
      if (current === undefined || stronger(profile, current, position)) strongest.set(key, profile);
    }
    for (const domainKey of profile.domainKeys) domains.add(domainKey);
  }
  const globs = new Map<string, (name: string) => boolean>();
  for (const profile of profiles) {
    for (const domain of profile.route.domains ?? []) {
      if (domain.kind === 'glob') globs.set(`g:${domain.pattern}`, (name) => domain.matcher.match(name));
    }
  }
  return { strongest, domains, globs: globs.size <= maxGlobsTried ? globs : new Map() };
}

function stronger(a: MatchProfile, b: MatchProfile, position: ReadonlyMap<Route, number>): boolean {
  if (a.route.priority !== b.route.priority) return a.route.priority > b.route.priority;
  return position.get(a.route)! < position.get(b.route)!;
}

function findWinner(profile: MatchProfile, buckets: Buckets, position: ReadonlyMap<Route, number>): MatchProfile | undefined {
  for (const { domainKey, keys } of lookupOf(profile).candidates) {
    if (!buckets.domains.has(domainKey)) continue;
    for (const key of keys) {
      const candidate = buckets.strongest.get(key);
      if (candidate !== undefined && alwaysWins(candidate, profile, position)) return candidate;
    }
  }
  return globWinner(profile, buckets, position);
}

/** A glob route that covers this route's exact host name (and the rest of its match) and always wins. */
function globWinner(profile: MatchProfile, buckets: Buckets, position: ReadonlyMap<Route, number>): MatchProfile | undefined {
  const { exactName, ipKeys, pathKeys } = lookupOf(profile);
  if (exactName === undefined) return undefined;
  for (const [key, matches] of buckets.globs) {
    if (!matches(exactName)) continue;
    for (const ipKey of ipKeys) {
      for (const pathKey of pathKeys) {
        const candidate = buckets.strongest.get(bucketKey(key, ipKey, pathKey));
        if (candidate !== undefined && alwaysWins(candidate, profile, position)) return candidate;
      }
    }
  }
  return undefined;
}

/** The domain pattern keys whose routes match every name `key` matches: itself, wildcards above it, the catch-all. */
function coveringDomainKeys(key: string): string[] {
  if (key === 'any') return ['any'];
  const kind = key.slice(0, 2);
  if (kind === 'g:') return [key, 'any'];
  return [key, ...dotSuffixes(key.slice(2)).map((suffix) => `w:${suffix}`), 'any'];
}

/** The path keys whose patterns match every path `path` matches: itself, the prefixes above it, no path at all. */
function coveringPathKeys(path: PathPatternShape | undefined): string[] {
  if (path === undefined) return ['none'];
  const keys = [pathKeyOf(path)];
  const literal = path.kind === 'exact' ? path.path : path.kind === 'prefix' ? path.prefix : path.literal;
  if (path.kind === 'exact') keys.push(`p:${literal}`);
  // '/api/v1/x' lies under the prefixes '/api/v1', '/api' and '' (the pattern '/*').
  for (let slash = literal.lastIndexOf('/'); slash !== -1; slash = slash === 0 ? -1 : literal.lastIndexOf('/', slash - 1)) {
    keys.push(`p:${literal.slice(0, slash)}`);
  }
  keys.push('none');
  return keys;
}

/** Which rule made `winner` cover `loser`, for the warning's message. */
function describeWin(winner: MatchProfile, loser: MatchProfile): string {
  const covers: string[] = [];
  const sameDomains = winner.domainKeys.length === loser.domainKeys.length && loser.domainKeys.every((k) => winner.domainSet.has(k));
  if (!sameDomains) covers.push(winner.anyDomain ? 'matches any domain' : 'matches all of its domains');
  if (pathKeyOf(winner.path) !== pathKeyOf(loser.path)) {
    covers.push(winner.path === undefined ? 'matches any path' : `matches every path '${loser.route.path?.pattern}' matches (its path is '${winner.route.path!.pattern}')`);
  }
  if (winner.ipKey !== loser.ipKey && clientIpCovers(winner, loser)) covers.push('takes every client (no clientIp limit)');
  const what = covers.length === 0 ? 'has the identical match' : covers.join(', ');
  const a = winner.route.priority;
  const b = loser.route.priority;
  const why = a !== b ? `a higher priority (${a} > ${b})` : winner.pathSpecificity !== loser.pathSpecificity ? 'a more specific path' : 'the same priority and comes first';
  return `${what}, and has ${why}`;
}
