import { RouteValidationError } from '../errors.js';
import { CapturedRoutes } from './captured-routes.js';
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
  /**
   * Compiled routes by label (name, or position when unnamed) with their
   * identity key (label and config): the next update reuses a route whose
   * key is unchanged. Looked up by the short label and then compared, since
   * hashing ten thousand long keys per update is what made updates slow.
   */
  readonly byLabel: ReadonlyMap<string, { key: string; route: Route }>;
}

/**
 * Validates, compiles and indexes routes, and holds the current snapshot.
 * Building a table (prepare) and publishing it (commit) are separate steps
 * so the caller can bind the new ports in between and give up cleanly.
 * A route identical to a live one is neither validated nor compiled again,
 * so adding one route to ten thousand costs about one route's work plus the
 * index rebuild.
 */
export class RouteManager {
  #current: PreparedRoutes = {
    table: RouteTable.empty,
    userRoutes: [],
    internalRoutes: [],
    byLabel: new Map(),
  };

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
    return CapturedRoutes.capture(routes, (label) => this.#current.byLabel.get(label));
  }

  /** Compiles and indexes captured routes; throws RouteValidationError listing every problem. Changes nothing. */
  prepare(routes: readonly IRouteConfig[] | CapturedRoutes, internalRoutes: readonly InternalRoute[] = this.#current.internalRoutes): PreparedRoutes {
    const captured = routes instanceof CapturedRoutes ? routes : this.capture(routes);
    if (captured.problems.length > 0) throw new RouteValidationError([...captured.problems]);
    const previous = this.#current.byLabel;
    const unchanged = (label: string, key: string) => {
      const old = previous.get(label);
      return old !== undefined && old.key === key ? old.route : undefined;
    };
    const byLabel = new Map<string, { key: string; route: Route }>();
    const compiled: Route[] = [];
    for (const internal of internalRoutes) {
      const { config, requestHandler } = internal;
      const label = `internal:${config.name}`;
      const key = JSON.stringify(config);
      const old = unchanged(label, key);
      const route = old !== undefined && old.requestHandler === requestHandler ? old : compileRoute(config, config.name, newRouteState(), { requestHandler });
      byLabel.set(label, { key, route });
      compiled.push(route);
    }
    const userRoutes: IRouteConfig[] = [];
    for (let i = 0; i < captured.length; i++) {
      const label = captured.labels[i]!;
      const key = captured.keys[i]!;
      const route = unchanged(label, key) ?? compileRoute(captured.config(i), label, newRouteState());
      byLabel.set(label, { key, route });
      compiled.push(route);
      userRoutes.push(route.config);
    }
    const table = new RouteTable(compiled, this.#current.table);
    const conflicts = portConflicts(table);
    if (conflicts.length > 0) throw new RouteValidationError(conflicts);
    return { table, userRoutes: Object.freeze(userRoutes), internalRoutes: Object.freeze(internalRoutes.slice()), byLabel };
  }

  /** Publishes a prepared table in one assignment and retires the routes it dropped. */
  commit(prepared: PreparedRoutes): void {
    const old = this.#current.byLabel;
    this.#current = prepared;
    for (const [label, { route }] of old) {
      if (prepared.byLabel.get(label)?.route !== route) route.state.retired = true;
    }
  }
}
