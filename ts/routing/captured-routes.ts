import type { RouteProblem } from '../errors.js';
import type { IRouteConfig, SocketHandler } from './types.js';
import type { KnownRoutes, LiveRoute } from './live-routes.js';
import { sameData } from './same-data.js';
import { routeLabel, validateRoutes } from './validate.js';

const handlerIds = new WeakMap<Function, number>();
let nextHandlerId = 0;
/** Numbers each capture, for the duplicate-name marks it leaves on live routes. */
let captures = 0;

/**
 * Routes as they were when updateRoutes() was called: a caller editing its
 * objects afterwards changes nothing. A route holding the same data as the
 * live route of its label is kept as that route's frozen config and key
 * (found by walking it, with no copy made); any other is kept as its JSON
 * (a native deep copy that doubles as its identity: same name and same JSON
 * means the same route, so an update recompiles only what changed) plus its
 * socket handler, the one function a route may hold.
 */
export class CapturedRoutes {
  readonly keys: readonly string[];
  readonly labels: readonly string[];
  /** Every problem found in the routes as they were at capture time. */
  readonly problems: readonly RouteProblem[];
  /** Routes captured as JSON (changed or new ones), by position; `#live` holds the others. */
  readonly #copies: ReadonlyMap<number, { readonly json: string; readonly handler: SocketHandler | undefined }>;
  /** Live routes that hold the same data as the route given at that position. */
  readonly #live: readonly (LiveRoute | undefined)[];
  /** The live routes' generation when captured: while it holds, `#live` entries are still live. */
  readonly #generation: number | undefined;

  private constructor(sources: unknown[], problems: RouteProblem[], known: KnownRoutes | undefined) {
    const keys: string[] = [];
    const labels: string[] = [];
    const live: (LiveRoute | undefined)[] = [];
    const copies = new Map<number, { json: string; handler: SocketHandler | undefined }>();
    /** Captured as JSON, yet identical to the live route: no need to validate. */
    const knownValid = new Set<number>();
    const names = new DuplicateNames();
    for (let index = 0; index < sources.length; index++) {
      const route = sources[index];
      const label = routeLabel(route, index);
      labels.push(label);
      const same = known?.get(label);
      names.meet(route, index, same);
      if (same !== undefined && unchanged(route, same.route.config)) {
        keys.push(same.key);
        live.push(same);
        continue;
      }
      let json: string;
      try {
        json = JSON.stringify(route) ?? 'null';
      } catch (error) {
        problems.push({ route: label, path: '', message: `should be plain data (${(error as Error).message})` });
        json = 'null';
      }
      const handler = socketHandlerOf(route);
      copies.set(index, { json, handler });
      live.push(undefined);
      // The label is looked up separately; the key only needs what the route says.
      const key = handler === undefined ? json : `${json}\u0000${handlerId(handler)}`;
      keys.push(key);
      if (same !== undefined && same.key === key) knownValid.add(index);
    }
    this.keys = keys;
    this.labels = labels;
    // Validated now, on the very objects the JSON was taken from; a route identical to a live one was validated when it went live.
    problems.push(...validateRoutes(sources, (i) => live[i] !== undefined || knownValid.has(i), (i) => names.earlier(i)));
    this.problems = problems;
    this.#copies = copies;
    this.#live = live;
    this.#generation = known?.generation;
  }

  /** `known`: the live routes; a route holding the same data as the live one of its label is neither copied nor validated again. */
  static capture(routes: unknown, known?: KnownRoutes): CapturedRoutes {
    if (!Array.isArray(routes)) return new CapturedRoutes([], [{ route: 'routes', path: '', message: 'should be an array of routes' }], known);
    return new CapturedRoutes(routes.slice(), [], known);
  }

  get length(): number {
    return this.keys.length;
  }

  /**
   * The live route that route `index` was found identical to, if the live
   * routes have not changed since (`generation`); otherwise look it up again.
   */
  liveRoute(index: number, generation: number): LiveRoute | undefined {
    return generation === this.#generation ? this.#live[index] : undefined;
  }

  /** A frozen copy of route `index` as it was at capture time. */
  config(index: number): IRouteConfig {
    const live = this.#live[index];
    if (live !== undefined) return live.route.config;
    const { json, handler } = this.#copies.get(index)!;
    const copy = JSON.parse(json) as IRouteConfig;
    if (handler !== undefined) copy.action.socketHandler = handler;
    return deepFreeze(copy);
  }
}

/**
 * Finds routes that repeat an earlier route's name. A name that is a live
 * route's label is marked on that live route (no map of ten thousand names
 * per update); only names new to the table go in a map.
 */
class DuplicateNames {
  readonly #capture = ++captures;
  readonly #fresh = new Map<string, number>();
  readonly #earlier = new Map<number, number>();

  meet(route: unknown, index: number, live: LiveRoute | undefined): void {
    const name = typeof route === 'object' && route !== null ? (route as { name?: unknown }).name : undefined;
    if (typeof name !== 'string') return;
    let first: number | undefined;
    // A non-empty name is the label `live` was found by.
    if (live !== undefined && name.length > 0) {
      if (live.namedBy === this.#capture) first = live.namedAt;
      else {
        live.namedBy = this.#capture;
        live.namedAt = index;
      }
    } else {
      first = this.#fresh.get(name);
      if (first === undefined) this.#fresh.set(name, index);
    }
    if (first !== undefined) this.#earlier.set(index, first);
  }

  /** The position of an earlier route with the same name as route `index`. */
  earlier(index: number): number | undefined {
    return this.#earlier.get(index);
  }
}

/** Whether `route` holds the data of `config`; a route that throws while read is captured the ordinary way, which reports it. */
function unchanged(route: unknown, config: IRouteConfig): boolean {
  try {
    return sameData(route, config);
  } catch {
    return false;
  }
}

function socketHandlerOf(route: unknown): SocketHandler | undefined {
  if (typeof route !== 'object' || route === null) return undefined;
  const action = (route as { action?: unknown }).action;
  if (typeof action !== 'object' || action === null) return undefined;
  const handler = (action as { socketHandler?: unknown }).socketHandler;
  return typeof handler === 'function' ? (handler as SocketHandler) : undefined;
}

function handlerId(handler: Function): number {
  let id = handlerIds.get(handler);
  if (id === undefined) handlerIds.set(handler, (id = nextHandlerId++));
  return id;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    for (const item of Object.values(value)) deepFreeze(item);
    Object.freeze(value);
  }
  return value;
}
