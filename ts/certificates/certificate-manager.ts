import type { SecureContext } from 'node:tls';
import type { Logger } from 'pino';
import type { RouteProblem } from '../errors.js';
import type { SecureContextSource } from '../proxy/context.js';
import type { Route } from '../routing/route.js';
import type { RouteTable } from '../routing/route-table.js';
import type { IStaticCertificate } from '../routing/types.js';
import { SecureContextCache } from './secure-context-cache.js';

/**
 * Owns certificate state for the proxy and answers the TLS path's question
 * "which certificate for this route and name?".
 */
export class CertificateManager implements SecureContextSource {
  readonly #static = new SecureContextCache();
  readonly #logger: Logger;

  constructor(options: { logger: Logger }) {
    this.#logger = options.logger;
  }

  /**
   * Builds the secure context of every static certificate in a table about
   * to go live, so a bad PEM is a validation error at updateRoutes() time,
   * not a failed handshake later.
   */
  checkStaticCertificates(table: RouteTable): RouteProblem[] {
    const problems: RouteProblem[] = [];
    for (const route of table.routes) {
      const certificate = staticCertificate(route);
      if (certificate === undefined) continue;
      try {
        this.#static.get(certificate);
      } catch (error) {
        problems.push({ route: route.name, path: 'action.tls.certificate', message: `cannot be loaded: ${(error as Error).message}` });
      }
    }
    return problems;
  }

  /** Called once a table is live: drops contexts no route uses. */
  routesApplied(table: RouteTable): void {
    const inUse: IStaticCertificate[] = [];
    for (const route of table.routes) {
      const certificate = staticCertificate(route);
      if (certificate !== undefined) inUse.push(certificate);
    }
    this.#static.retain(inUse);
  }

  secureContextFor(route: Route, serverName: string | undefined): SecureContext | undefined {
    const certificate = route.action.tls?.certificate;
    if (certificate === undefined) return undefined;
    if (certificate !== 'auto') return this.#static.get(certificate);
    this.#logger.debug({ route: route.name, serverName }, 'no ACME certificate available');
    return undefined;
  }
}

function staticCertificate(route: Route): IStaticCertificate | undefined {
  const certificate = route.action.tls?.certificate;
  return typeof certificate === 'object' ? certificate : undefined;
}
