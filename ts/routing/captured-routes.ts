import type { RouteProblem } from '../errors.js';
import type { IRouteConfig, SocketHandler } from './types.js';
import { routeLabel, validateRoutes } from './validate.js';

/** Whether a route with this label and key is live already (and so known to be valid). */
export type KnownRoute = (label: string, key: string) => boolean;

const handlerIds = new WeakMap<Function, number>();
let nextHandlerId = 0;

/**
 * Routes as they were when updateRoutes() was called: a caller editing its
 * objects afterwards changes nothing. Each route is kept as its JSON (a
 * native, fast deep copy that doubles as its identity: same name and same
 * JSON means the same route, so an update recompiles only what changed)
 * plus its socket handler, the one function a route may hold.
 */
export class CapturedRoutes {
  readonly keys: readonly string[];
  readonly labels: readonly string[];
  /** Every problem found in the routes as they were at capture time. */
  readonly problems: readonly RouteProblem[];
  readonly #json: readonly string[];
  readonly #handlers: readonly (SocketHandler | undefined)[];

  private constructor(sources: unknown[], problems: RouteProblem[], known: KnownRoute | undefined) {
    const keys: string[] = [];
    const labels: string[] = [];
    const json: string[] = [];
    const handlers: (SocketHandler | undefined)[] = [];
    sources.forEach((route, index) => {
      const label = routeLabel(route, index);
      let text: string;
      try {
        text = JSON.stringify(route) ?? 'null';
      } catch (error) {
        problems.push({ route: label, path: '', message: `should be plain data (${(error as Error).message})` });
        text = 'null';
      }
      const handler = socketHandlerOf(route);
      labels.push(label);
      json.push(text);
      handlers.push(handler);
      // The label is looked up separately; the key only needs what the route says.
      keys.push(handler === undefined ? text : `${text}\u0000${handlerId(handler)}`);
    });
    this.keys = keys;
    this.labels = labels;
    // Validated now, on the very objects the JSON was taken from; a route identical to a live one was validated when it went live.
    problems.push(...validateRoutes(sources, known === undefined ? undefined : (i) => known(labels[i]!, keys[i]!)));
    this.problems = problems;
    this.#json = json;
    this.#handlers = handlers;
  }

  static capture(routes: unknown, known?: KnownRoute): CapturedRoutes {
    if (!Array.isArray(routes)) return new CapturedRoutes([], [{ route: 'routes', path: '', message: 'should be an array of routes' }], known);
    return new CapturedRoutes(routes.slice(), [], known);
  }

  get length(): number {
    return this.keys.length;
  }

  /** A frozen copy of route `index` as it was at capture time. */
  config(index: number): IRouteConfig {
    const copy = JSON.parse(this.#json[index]!) as IRouteConfig;
    const handler = this.#handlers[index];
    if (handler !== undefined) copy.action.socketHandler = handler;
    return deepFreeze(copy);
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
