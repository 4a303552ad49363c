import type { Route } from './route.js';

/**
 * Lists of routes by key (an exact host name, or a wildcard's suffix): the
 * map a from-scratch build made, shared unchanged by every index derived
 * from it, plus the lists changed since. Never edited once built: a table
 * that connections are still reading keeps answering as it did.
 */
export class KeyedLists {
  readonly base: ReadonlyMap<string, readonly Route[]>;
  /** Lists rebuilt since `base`; an empty list means the key has no routes any more. */
  readonly changed: ReadonlyMap<string, readonly Route[]>;

  constructor(base: ReadonlyMap<string, readonly Route[]>, changed: ReadonlyMap<string, readonly Route[]>) {
    this.base = base;
    this.changed = changed;
  }

  /** The routes filed under `key`, sorted by precedence; undefined or empty when none. */
  get(key: string): readonly Route[] | undefined {
    // Most indexes were never changed: skip the second lookup on the hot path.
    if (this.changed.size !== 0) {
      const list = this.changed.get(key);
      if (list !== undefined) return list;
    }
    return this.base.get(key);
  }
}

/**
 * Each route's place in the order it was given in, the last tie-break.
 * Only relative order matters, so routes added later get numbers between
 * their neighbours' and the others keep theirs. Routes are shared between
 * tables, so the numbers live here and not on the route.
 */
export class RouteOrder {
  readonly base: ReadonlyMap<Route, number>;
  readonly added: ReadonlyMap<Route, number>;
  /** Routes `base` still numbers that have left the index since. */
  readonly gone: ReadonlySet<Route>;

  constructor(base: ReadonlyMap<Route, number>, added: ReadonlyMap<Route, number> = new Map(), gone: ReadonlySet<Route> = new Set()) {
    this.base = base;
    this.added = added;
    this.gone = gone;
  }

  /** The route's number, or undefined when it is not in the index. */
  of(route: Route): number | undefined {
    const added = this.added.get(route);
    if (added !== undefined) return added;
    return this.gone.size !== 0 && this.gone.has(route) ? undefined : this.base.get(route);
  }

  /** How far this order has drifted from its base: past a limit, a fresh build is cheaper. */
  get drift(): number {
    return this.added.size + this.gone.size;
  }
}

/** What a RouteIndex searches, by how a route's domains can be looked up. */
export interface IndexLayers {
  readonly exact: KeyedLists;
  readonly wildcard: KeyedLists;
  readonly globs: readonly Route[];
  readonly any: readonly Route[];
  readonly order: RouteOrder;
}

/** Which list a route is filed in: by exact name, by wildcard suffix, with the globs, or with the catch-alls. */
export type ListKind = 'exact' | 'wildcard' | 'globs' | 'any';

/**
 * Calls `file` for each list the route belongs in (`key` is '' for globs and
 * catch-alls). A route naming one list twice is filed twice in a row, so a
 * list that ends with the route already skips it.
 */
export function forEachList(route: Route, file: (kind: ListKind, key: string) => void): void {
  if (route.domains === undefined) return file('any', '');
  for (const domain of route.domains) {
    if (domain.kind === 'exact') file('exact', domain.name);
    else if (domain.kind === 'wildcard') file('wildcard', domain.suffix);
    else file(domain.kind === 'any' ? 'any' : 'globs', '');
  }
}

/** The sort order of every list: priority, then path specificity, then the order given. */
export function precedence(order: RouteOrder): (a: Route, b: Route) => number {
  return (a, b) => {
    if (a.priority !== b.priority) return b.priority - a.priority;
    const pathDelta = (b.path?.specificity ?? 0) - (a.path?.specificity ?? 0);
    return pathDelta !== 0 ? pathDelta : order.of(a)! - order.of(b)!;
  };
}

/** Indexes `routes` from scratch; a route's order number is its position. */
export function buildLayers(routes: readonly Route[]): IndexLayers {
  const numbers = new Map<Route, number>();
  const exact = new Map<string, Route[]>();
  const wildcard = new Map<string, Route[]>();
  const globs: Route[] = [];
  const any: Route[] = [];
  let route: Route;
  const file = (kind: ListKind, key: string): void => {
    if (kind === 'exact') push(exact, key, route);
    else if (kind === 'wildcard') push(wildcard, key, route);
    else append(kind === 'globs' ? globs : any, route);
  };
  for (let i = 0; i < routes.length; i++) {
    route = routes[i]!;
    numbers.set(route, i);
    forEachList(route, file);
  }
  const order = new RouteOrder(numbers);
  const byPrecedence = precedence(order);
  for (const list of exact.values()) if (list.length > 1) list.sort(byPrecedence);
  for (const list of wildcard.values()) if (list.length > 1) list.sort(byPrecedence);
  globs.sort(byPrecedence);
  any.sort(byPrecedence);
  return { exact: new KeyedLists(exact, new Map()), wildcard: new KeyedLists(wildcard, new Map()), globs, any, order };
}

/** Files `route` under `key`, once. */
export function push(map: Map<string, Route[]>, key: string, route: Route): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [route]);
  else append(list, route);
}

function append(list: Route[], route: Route): void {
  if (list.at(-1) !== route) list.push(route);
}
