import { RouteValidationError } from '../errors.js';
import { compileRoute, newRouteState, type RequestHandler, type Route, type RouteState } from './route.js';
import { portConflicts, RouteTable } from './route-table.js';
import type { IRouteConfig } from './types.js';
import { routeLabel, validateRoutes } from './validate.js';

/** A route the proxy adds for itself (the ACME challenge responder), answered by a handler. */
export interface InternalRoute {
  config: IRouteConfig & { name: string };
  requestHandler: RequestHandler;
}

/** A validated, compiled table waiting to be committed, with the inputs it was built from. */
export interface PreparedRoutes {
  readonly table: RouteTable;
  readonly userRoutes: readonly IRouteConfig[];
  readonly internalRoutes: readonly InternalRoute[];
  readonly states: ReadonlyMap<string, RouteState>;
}

/**
 * Validates, compiles and indexes routes, and holds the current snapshot.
 * Building a table (prepare) and publishing it (commit) are separate steps
 * so the caller can bind the new ports in between and give up cleanly.
 */
export class RouteManager {
  #current: PreparedRoutes = {
    table: RouteTable.empty,
    userRoutes: [],
    internalRoutes: [],
    states: new Map(),
  };

  /** The live snapshot; listeners read it on every connection. */
  get table(): RouteTable {
    return this.#current.table;
  }

  /** The user's routes as last applied. */
  getRoutes(): readonly IRouteConfig[] {
    return this.#current.userRoutes;
  }

  getInternalRoutes(): readonly InternalRoute[] {
    return this.#current.internalRoutes;
  }

  /** Validates and compiles; throws RouteValidationError listing every problem. Changes nothing. */
  prepare(userRoutes: readonly IRouteConfig[], internalRoutes: readonly InternalRoute[] = this.#current.internalRoutes): PreparedRoutes {
    const problems = validateRoutes(userRoutes);
    if (problems.length > 0) throw new RouteValidationError(problems);
    const previous = this.#current.states;
    const states = new Map<string, RouteState>();
    const routes: Route[] = [];
    const add = (config: IRouteConfig, name: string, internal?: { requestHandler: RequestHandler }) => {
      const key = routeKey(name, config);
      const state = states.get(key) ?? previous.get(key) ?? newRouteState();
      states.set(key, state);
      routes.push(compileRoute(config, routes.length, name, state, internal));
    };
    internalRoutes.forEach((r) => add(r.config, r.config.name, { requestHandler: r.requestHandler }));
    userRoutes.forEach((config, i) => add(config, routeLabel(config, i)));
    const table = new RouteTable(routes);
    const conflicts = portConflicts(table);
    if (conflicts.length > 0) throw new RouteValidationError(conflicts);
    // Frozen copies: later edits to the caller's objects must not leak into the live table.
    return { table, userRoutes: Object.freeze(userRoutes.slice()), internalRoutes: Object.freeze(internalRoutes.slice()), states };
  }

  /** Publishes a prepared table in one assignment and retires the routes it dropped. */
  commit(prepared: PreparedRoutes): void {
    const old = this.#current.states;
    this.#current = prepared;
    for (const [key, state] of old) {
      if (!prepared.states.has(key)) state.retired = true;
    }
  }
}

const functionIds = new WeakMap<Function, number>();
let nextFunctionId = 0;

/** Identity of a route across updates: same name and same config means same route. */
function routeKey(name: string, config: IRouteConfig): string {
  return name + '\u0000' + JSON.stringify(config, (_key, value: unknown) => {
    if (typeof value !== 'function') return value;
    let id = functionIds.get(value);
    if (id === undefined) functionIds.set(value, (id = nextFunctionId++));
    return `[function ${id}]`;
  });
}
