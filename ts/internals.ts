/**
 * The proxy's own machinery, for the proxy and its tests only. This module is
 * not re-exported by index.ts and the package's `exports` map does not reach
 * it, so nothing a user imports can bind a port or put a route in the table
 * behind updateRoutes(). A WeakMap (not a symbol-keyed member) keeps it out of
 * reach of reflection on the proxy object too.
 */
import type { CertificateManager } from './certificates/certificate-manager.js';
import type { PortManager } from './ports/port-manager.js';
import type { InternalRoute, RouteManager } from './routing/route-manager.js';

export interface ProxyInternals {
  readonly ports: PortManager;
  readonly routes: RouteManager;
  readonly certificates: CertificateManager;
  /** Adds or replaces an internal route (the ACME challenge responder), through the updateRoutes() transaction. */
  setInternalRoute(route: InternalRoute): Promise<void>;
  /** Removes an internal route by name; releases its port if nothing else uses it. */
  removeInternalRoute(name: string): Promise<void>;
}

const registry = new WeakMap<object, ProxyInternals>();

export function registerInternals(proxy: object, internals: ProxyInternals): void {
  registry.set(proxy, internals);
}

/** The machinery behind a SmartProxy; throws for anything else. */
export function proxyInternals(proxy: object): ProxyInternals {
  const internals = registry.get(proxy);
  if (internals === undefined) throw new TypeError('not a SmartProxy');
  return internals;
}
