import { forEachList, KeyedLists, precedence, push, RouteOrder, type IndexLayers, type ListKind } from './index-layers.js';
import type { Route } from './route.js';

/**
 * How far an index may drift from its last full build (added routes, gone
 * routes, changed lists) before the next update rebuilds it: the changes are
 * copied on every update, so they must stay few; past this a rebuild costs
 * about as much as copying them.
 */
function driftLimit(routeCount: number): number {
  return 32 + (routeCount >> 4);
}

/**
 * The layers for `routes`, derived from the layers of `oldRoutes` by
 * rebuilding only the lists the difference touches. Handles routes added
 * and removed anywhere, as long as the routes both lists hold keep their
 * relative order; returns `old` when nothing changed and undefined when a
 * full build is needed (routes moved, too many changes, or no room left
 * between two order numbers).
 */
export function deriveLayers(old: IndexLayers, oldRoutes: readonly Route[], routes: readonly Route[]): IndexLayers | undefined {
  const diff = difference(old.order, oldRoutes, routes);
  if (diff === undefined) return undefined;
  const { added, removed } = diff;
  if (added.length === 0 && removed.length === 0) return old;
  const drift = old.order.drift + old.exact.changed.size + old.wildcard.changed.size + added.length + removed.length;
  if (drift > driftLimit(routes.length)) return undefined;
  const order = nextOrder(old.order, routes, added, removed);
  if (order === undefined) return undefined;
  return relist(old, order, added.map((i) => routes[i]!), removed);
}

/**
 * Positions (in `routes`) of the routes the old index lacks, and the old
 * routes `routes` lacks; undefined when routes kept in both changed their
 * relative order. One walk over both lists: where they agree, by identity,
 * no lookup is needed, so appending to ten thousand routes looks up one.
 * Old routes are in ascending order numbers, so a kept route found further
 * on means the ones skipped to reach it are gone (or moved back, which the
 * walk then finds out, as a number lower than one already passed).
 */
function difference(order: RouteOrder, oldRoutes: readonly Route[], routes: readonly Route[]): { added: number[]; removed: Route[] } | undefined {
  const added: number[] = [];
  const removed: Route[] = [];
  let o = 0;
  for (let n = 0; n < routes.length; n++) {
    const route = routes[n]!;
    if (o < oldRoutes.length && oldRoutes[o] === route) {
      o++;
      continue;
    }
    const number = order.of(route);
    if (number === undefined) {
      added.push(n);
      continue;
    }
    if (o > 0 && number <= order.of(oldRoutes[o - 1]!)!) return undefined;
    while (o < oldRoutes.length && oldRoutes[o] !== route) removed.push(oldRoutes[o++]!);
    // Not found: the order does not describe the old list; never expected, and a rebuild is always right.
    if (o === oldRoutes.length) return undefined;
    o++;
  }
  while (o < oldRoutes.length) removed.push(oldRoutes[o++]!);
  return { added, removed };
}

/** Numbers for the added routes, each strictly between its neighbours'; undefined when doubles run out of room. */
function nextOrder(old: RouteOrder, routes: readonly Route[], added: readonly number[], removed: readonly Route[]): RouteOrder | undefined {
  const numbers = new Map(old.added);
  const gone = new Set(old.gone);
  for (const route of removed) {
    if (!numbers.delete(route)) gone.add(route);
  }
  const order = new RouteOrder(old.base, numbers, gone);
  for (let a = 0; a < added.length; a++) {
    const position = added[a]!;
    const before = position > 0 ? order.of(routes[position - 1]!) : undefined;
    // The next route that is not added as well: its number is already known.
    let after = position + 1;
    for (let b = a + 1; b < added.length && added[b] === after; b++) after++;
    const next = after < routes.length ? order.of(routes[after]!) : undefined;
    const number = before === undefined ? (next === undefined ? 0 : next - 1) : next === undefined ? before + 1 : before + (next - before) / 2;
    if ((before !== undefined && !(before < number)) || (next !== undefined && !(number < next))) return undefined;
    numbers.set(routes[position]!, number);
  }
  return order;
}

/** New layers in which only the lists holding an added or removed route are rebuilt. */
function relist(old: IndexLayers, order: RouteOrder, added: readonly Route[], removed: readonly Route[]): IndexLayers {
  const gone = new Set(removed);
  const touched: Record<ListKind, Map<string, Route[]>> = { exact: new Map(), wildcard: new Map(), globs: new Map(), any: new Map() };
  let route: Route | undefined;
  const touch = (kind: ListKind, key: string): void => {
    const lists = touched[kind];
    if (route === undefined) {
      if (!lists.has(key)) lists.set(key, []);
    } else push(lists, key, route);
  };
  for (const r of removed) forEachList(r, touch);
  for (route of added) forEachList(route, touch);
  const byPrecedence = precedence(order);
  const rebuilt = (list: readonly Route[] | undefined, extra: readonly Route[]): Route[] => {
    const next = list === undefined ? [] : list.filter((r) => !gone.has(r));
    for (const r of extra) next.push(r);
    return next.sort(byPrecedence);
  };
  const keyed = (lists: KeyedLists, changes: Map<string, Route[]>): KeyedLists => {
    if (changes.size === 0) return lists;
    const changed = new Map(lists.changed);
    for (const [key, extra] of changes) {
      const list = rebuilt(lists.get(key), extra);
      // An empty list hides the base's; a key the base never had needs no entry.
      if (list.length === 0 && !lists.base.has(key)) changed.delete(key);
      else changed.set(key, list);
    }
    return new KeyedLists(lists.base, changed);
  };
  const globs = touched.globs.get('');
  const any = touched.any.get('');
  return {
    exact: keyed(old.exact, touched.exact),
    wildcard: keyed(old.wildcard, touched.wildcard),
    globs: globs === undefined ? old.globs : rebuilt(old.globs, globs),
    any: any === undefined ? old.any : rebuilt(old.any, any),
    order,
  };
}
