import { RouteValidationError } from '../errors.js';
import { CapturedRoutes } from './captured-routes.js';
import { newLiveRoute, type KnownRoutes, type LiveRoute } from './live-routes.js';
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
  /**
   * Live routes by label, kept in place across commits (they are
   * bookkeeping; connections read only the table). Looked up by the short
   * label and then compared by key, since hashing ten thousand long keys per
   * update is what made updates slow.
   */
  readonly #live = new Map<string, LiveRoute>();
  #generation = 0;
  #prepares = 0;
  readonly #known: KnownRoutes;

  constructor() {
    const live = this.#live;
    const generation = () => this.#generation;
    this.#known = {
      get: (label) => live.get(label),
      get generation() {
        return generation();
      },
    };
  }

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
    return CapturedRoutes.capture(routes, this.#known);
  }

  /** Compiles and indexes captured routes; throws RouteValidationError listing every problem. Changes nothing. */
  prepare(routes: readonly IRouteConfig[] | CapturedRoutes, internalRoutes: readonly InternalRoute[] = this.#current.internalRoutes): PreparedRoutes {
    const captured = routes instanceof CapturedRoutes ? routes : this.capture(routes);
    if (captured.problems.length > 0) throw new RouteValidationError([...captured.problems]);
    const serial = ++this.#prepares;
    const fresh: LiveRoute[] = [];
    const all: Route[] = [];
    // `old`: the live route of the label, if it may be kept.
    const keep = (label: string, key: string, old: LiveRoute | undefined, compile: () => Route): Route => {
      if (old !== undefined && old.key === key) {
        old.keptBy = serial;
        return old.route;
      }
      const route = compile();
      fresh.push(newLiveRoute(label, key, route));
      return route;
    };
    for (const internal of internalRoutes) {
      const { config, requestHandler } = internal;
      const label = `internal:${config.name}`;
      const old = this.#live.get(label);
      const compile = () => compileRoute(config, config.name, newRouteState(), { requestHandler });
      // A new handler is a new route, even with the same config.
      all.push(keep(label, JSON.stringify(config), old?.route.requestHandler === requestHandler ? old : undefined, compile));
    }
    const userRoutes: IRouteConfig[] = [];
    for (let i = 0; i < captured.length; i++) {
      const label = captured.labels[i]!;
      const old = captured.liveRoute(i, this.#generation) ?? this.#live.get(label);
      const route = keep(label, captured.keys[i]!, old, () => compileRoute(captured.config(i), label, newRouteState()));
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
    const kept = prepared.serial === this.#prepares ? undefined : new Set(prepared.table.routes);
    this.#current = prepared;
    this.#generation++;
    for (const [label, live] of this.#live) {
      if (kept === undefined ? live.keptBy === prepared.serial : kept.has(live.route)) continue;
      live.route.state.retired = true;
      this.#live.delete(label);
    }
    for (const live of prepared.compiled) this.#live.set(live.label, live);
  }
}
