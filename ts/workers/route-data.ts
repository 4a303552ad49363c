import type { RouteProblem } from '../errors.js';
import type { InternalRoute } from '../routing/route-manager.js';
import { routeLabel } from '../routing/validate.js';
import type { IRouteConfig } from '../routing/types.js';
import type { InternalRouteData } from './protocol.js';

/**
 * Routes travel to worker processes as JSON, and a function cannot: a
 * `socketHandler` (or any function anywhere in a route) would arrive as
 * nothing and the route would silently stop working. So with `workers` set
 * such a route is refused up front, naming it and saying why.
 */
export function workerRouteProblems(routes: readonly unknown[]): RouteProblem[] {
  const problems: RouteProblem[] = [];
  routes.forEach((route, index) => {
    for (const path of functionPaths(route, '')) {
      problems.push({
        route: routeLabel(route, index),
        path,
        message: 'is a function, and functions cannot be sent to worker processes (the workers option): use a forward route, or run this route in a proxy without workers',
      });
    }
  });
  return problems;
}

function functionPaths(value: unknown, path: string): string[] {
  if (typeof value === 'function') return [path];
  if (typeof value !== 'object' || value === null) return [];
  const found: string[] = [];
  for (const [key, item] of Object.entries(value)) {
    const at = Array.isArray(value) ? `${path}[${key}]` : path === '' ? key : `${path}.${key}`;
    found.push(...functionPaths(item, at));
  }
  return found;
}

/** The internal routes as data: each handler is named, and workers hold their own (the HTTP-01 responder, fed with pushed tokens). */
export function internalRouteData(routes: readonly InternalRoute[], challengeRouteName: string): InternalRouteData[] {
  return routes.map((route) => {
    if (route.config.name !== challengeRouteName) throw new Error(`internal route ${route.config.name} cannot be sent to worker processes`);
    return { config: route.config, handler: 'acme-http01' };
  });
}

/** The user routes as data (frozen configs are plain JSON once the functions are refused). */
export function userRouteData(routes: readonly IRouteConfig[]): IRouteConfig[] {
  return JSON.parse(JSON.stringify(routes)) as IRouteConfig[];
}
