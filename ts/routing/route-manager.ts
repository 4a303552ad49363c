import { RouteValidationError } from '../errors.js';
import { CapturedRoutes } from './captured-routes.js';
import { LiveRoutes, newLiveRoute, type LiveRoute } from './live-routes.js';
import { compileRoute, newRouteState, type RequestHandler, type Route } from './route.js';
import { portConflicts, RouteTable } from './route-table.js';
import type { IRouteConfig } from './types.js';

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
  /** Which prepare() made it: the live routes it keeps are marked with this number. */
  readonly serial: number;
  /** Routes compiled for this table, to be looked up by label once it is live. */
  readonly compiled: readonly LiveRoute[];
}

/**
 * Validates, compiles and indexes routes, and holds the current snapshot.
 * Building a table (prepare) and publishing it (commit) are separate steps
 * so the caller can bind the new ports in between and give up cleanly.
 * A route identical to a live one is neither validated nor compiled again,
 * and the new table derives its indexes from the live one, so adding one
 * route to ten thousand costs about one route's work plus a few walks over
 * the list.
 */
export class RouteManager {
  #current: Omit<PreparedRoutes, 'compiled' | 'serial'> = {
    table: RouteTable.empty,
    userRoutes: [],
    internalRoutes: [],
  };
  readonly #live = new LiveRoutes();
  /** Numbers each prepare(); the live routes a prepared table keeps are marked with it. */
  #prepares = 0;

  /** The live snapshot; listeners read it on every connection. */
  get table(): RouteTable {
    return this.#current.table;
  }

  /** The user's routes as last applied (frozen copies). */
  getRoutes(): readonly IRouteConfig[] {
    return this.#current.userRoutes;
  }

  getInternalRoutes(): readonly InternalRoute[] {
    return this.#current.internalRoutes;
  }

  /** Captures routes as they are now, validating every one that is not identical to a live route. */
  capture(routes: unknown): CapturedRoutes {
    return CapturedRoutes.capture(routes, this.#live);
  }

  /** Compiles and indexes captured routes; throws RouteValidationError listing every problem. Changes nothing. */
  prepare(routes: readonly IRouteConfig[] | CapturedRoutes, internalRoutes: readonly InternalRoute[] = this.#current.internalRoutes): PreparedRoutes {
    const captured = routes instanceof CapturedRoutes ? routes : this.capture(routes);
    if (captured.problems.length > 0) throw new RouteValidationError([...captured.problems]);
    const serial = ++this.#prepares;
    const fresh: LiveRoute[] = [];
    const all: Route[] = [];
    for (const internal of internalRoutes) {
      const { config, requestHandler } = internal;
      const label = `internal:${config.name}`;
      const key = JSON.stringify(config);
      const old = this.#live.get(label);
      // A new handler is a new route, even with the same config.
      let route = old?.route.requestHandler === requestHandler ? kept(old, key, serial) : undefined;
      if (route === undefined) {
        route = compileRoute(config, config.name, newRouteState(), { requestHandler });
        fresh.push(newLiveRoute(label, key, route));
      }
      all.push(route);
    }
    const userRoutes: IRouteConfig[] = [];
    for (let i = 0; i < captured.length; i++) {
      const label = captured.labels[i]!;
      const key = captured.keys[i]!;
      let route = kept(captured.liveRoute(i, this.#live.generation) ?? this.#live.get(label), key, serial);
      if (route === undefined) {
        route = compileRoute(captured.config(i), label, newRouteState());
        fresh.push(newLiveRoute(label, key, route));
      }
      all.push(route);
      userRoutes.push(route.config);
    }
    const table = new RouteTable(all, this.#current.table);
    const conflicts = portConflicts(table);
    if (conflicts.length > 0) throw new RouteValidationError(conflicts);
    return { table, userRoutes: Object.freeze(userRoutes), internalRoutes: Object.freeze(internalRoutes.slice()), serial, compiled: fresh };
  }

  /** Publishes a prepared table in one assignment and retires the routes it dropped. */
  commit(prepared: PreparedRoutes): void {
    // Marks from a later prepare() would hide what this table keeps: ask the table itself then.
    const inTable = prepared.serial === this.#prepares ? undefined : new Set(prepared.table.routes);
    const stays = inTable === undefined ? (live: LiveRoute) => live.keptBy === prepared.serial : (live: LiveRoute) => inTable.has(live.route);
    this.#current = prepared;
    this.#live.replace(stays, prepared.compiled, (live) => {
      live.route.state.retired = true;
    });
  }
}

/** The live route `old`, marked as kept by prepare `serial`, if its key is `key`: the same route. */
function kept(old: LiveRoute | undefined, key: string, serial: number): Route | undefined {
  if (old === undefined || old.key !== key) return undefined;
  old.keptBy = serial;
  return old.route;
}
