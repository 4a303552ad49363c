import type { Route } from './route.js';

/**
 * A compiled route as RouteManager keeps it between updates, found by its
 * label (name, or position when unnamed) when routes are given again.
 */
export interface LiveRoute {
  readonly label: string;
  /** Identity: the route's JSON, plus its socket handler's id. Same label and key: same route. */
  readonly key: string;
  readonly route: Route;
  /**
   * Bookkeeping written while routes are captured and prepared, so an update
   * of ten thousand routes needs no ten-thousand-entry set or map besides the
   * one these live in: the capture that last met this label (and where), to
   * find duplicate names; the prepare that last kept this route, to find the
   * routes a commit retires. Only ever compared with the writer's own serial.
   */
  namedBy: number;
  namedAt: number;
  keptBy: number;
}

/** A route going live for the first time. */
export function newLiveRoute(label: string, key: string, route: Route): LiveRoute {
  return { label, key, route, namedBy: -1, namedAt: -1, keptBy: -1 };
}

/** Read access to the live routes, as a capture needs it. */
export interface KnownRoutes {
  get(label: string): LiveRoute | undefined;
  /** Changes on every commit: routes found at capture are still live while it has not. */
  readonly generation: number;
}

/**
 * Live routes by label, kept in place across commits: they are bookkeeping
 * (connections read only the table), so editing them needs no copy. Looked
 * up by the short label and then compared by key, since hashing ten
 * thousand long keys per update is what made updates slow.
 */
export class LiveRoutes implements KnownRoutes {
  readonly #byLabel = new Map<string, LiveRoute>();
  #generation = 0;

  get generation(): number {
    return this.#generation;
  }

  get(label: string): LiveRoute | undefined {
    return this.#byLabel.get(label);
  }

  /**
   * Makes a committed table's routes the live ones: drops (and hands to
   * `retire`) every live route `kept` rejects, then adds the new ones.
   */
  replace(kept: (live: LiveRoute) => boolean, added: readonly LiveRoute[], retire: (live: LiveRoute) => void): void {
    this.#generation++;
    for (const [label, live] of this.#byLabel) {
      if (kept(live)) continue;
      retire(live);
      this.#byLabel.delete(label);
    }
    for (const live of added) this.#byLabel.set(live.label, live);
  }
}
