import { deriveLayers } from './index-delta.js';
import { buildLayers, type IndexLayers, type KeyedLists, type RouteOrder } from './index-layers.js';
import type { Route } from './route.js';

/**
 * Routes of one port, indexed by domain so a lookup costs the same with ten
 * routes or ten thousand: exact names and `*.suffix` wildcards are map hits;
 * the rare glob patterns and the domain-less routes are scanned only until
 * nothing left in them can beat the best match already found.
 *
 * Precedence: priority, then domain specificity (exact > longer wildcard >
 * glob > any), then path specificity, then the order routes were given in.
 */
export class RouteIndex {
  readonly #exact: KeyedLists;
  readonly #wildcard: KeyedLists;
  readonly #globs: readonly Route[];
  readonly #any: readonly Route[];
  /** Position of each route in the list it was given in: the last tie-break. Routes are shared between tables, so it lives here. */
  readonly #order: RouteOrder;
  readonly #layers: IndexLayers;
  readonly routes: readonly Route[];

  /** Indexes `routes` from scratch. `layers` is for derive(): what was already built for exactly these routes. */
  constructor(routes: readonly Route[], layers: IndexLayers = buildLayers(routes)) {
    this.routes = routes;
    this.#layers = layers;
    this.#exact = layers.exact;
    this.#wildcard = layers.wildcard;
    this.#globs = layers.globs;
    this.#any = layers.any;
    this.#order = layers.order;
  }

  /**
   * An index of `routes` (this index's routes with some added or removed)
   * that shares everything the change does not touch, so adding one route
   * to ten thousand rebuilds one list, not ten thousand. Matches exactly as
   * `new RouteIndex(routes)` would; falls back to that when routes moved or
   * too much changed since the last full build. This index is left as is.
   */
  derive(routes: readonly Route[]): RouteIndex {
    const layers = deriveLayers(this.#layers, this.routes, routes);
    if (layers === this.#layers) return this;
    return new RouteIndex(routes, layers);
  }

  /**
   * The best route for a connection or request. `path` undefined means the
   * path is not known yet (a TLS ClientHello): path conditions are ignored.
   */
  match(domain: string | undefined, path: string | undefined, clientIp: string): Route | undefined {
    const best: Best = { route: undefined, rank: -1, order: this.#order };
    if (domain !== undefined) {
      considerList(best, this.#exact.get(domain), 3_000_000, path, clientIp);
      for (let dot = domain.indexOf('.'); dot !== -1; dot = domain.indexOf('.', dot + 1)) {
        const list = this.#wildcard.get(domain.slice(dot + 1));
        if (list !== undefined) considerList(best, list, 2_000_000 + domain.length - dot, path, clientIp);
      }
      considerList(best, this.#globs, 1_000_000, path, clientIp, domain);
    }
    considerList(best, this.#any, 0, path, clientIp);
    return best.route;
  }
}

interface Best {
  route: Route | undefined;
  rank: number;
  readonly order: RouteOrder;
}

/**
 * Lists are sorted by precedence, so the first route that fits is the list's
 * best, and once a route cannot outrank the best so far, no later one can:
 * a list of glob or catch-all routes is not walked past an exact hit.
 * `globDomain`: the list holds glob routes, tested against this name.
 */
function considerList(best: Best, list: readonly Route[] | undefined, rank: number, path: string | undefined, ip: string, globDomain?: string): void {
  if (list === undefined) return;
  for (const route of list) {
    const current = best.route;
    if (current !== undefined && (route.priority < current.priority || (route.priority === current.priority && rank < best.rank))) return;
    if (globDomain !== undefined && !globMatches(route, globDomain)) continue;
    if (conditionsHold(route, path, ip)) return consider(best, route, rank);
  }
}

function consider(best: Best, route: Route, rank: number): void {
  const current = best.route;
  if (current === undefined || outranks(route, rank, current, best.rank, best.order)) {
    best.route = route;
    best.rank = rank;
  }
}

function outranks(a: Route, aRank: number, b: Route, bRank: number, order: RouteOrder): boolean {
  if (a.priority !== b.priority) return a.priority > b.priority;
  if (aRank !== bRank) return aRank > bRank;
  const aPath = a.path?.specificity ?? 0;
  const bPath = b.path?.specificity ?? 0;
  if (aPath !== bPath) return aPath > bPath;
  return order.of(a)! < order.of(b)!;
}

function conditionsHold(route: Route, path: string | undefined, clientIp: string): boolean {
  if (path !== undefined && route.path !== undefined && !route.path.matches(path)) return false;
  return route.clientIp === undefined || route.clientIp.matches(clientIp);
}

function globMatches(route: Route, domain: string): boolean {
  return route.domains!.some((d) => d.kind === 'glob' && d.matcher.match(domain));
}
