/**
 * Read-only views of the proxy's managers, the only form in which they are
 * public. Each is a frozen object of query methods built over the manager,
 * so a caller can ask what is bound, routed or certified but can change
 * nothing: every change goes through updateRoutes(), the one transaction.
 */
import type { ICertificateStatus } from './certificates/types.js';
import type { IRouteConfig } from './routing/types.js';

/** `proxy.portManager`: which ports the proxy listens on and how many routes use each. */
export interface IPortManagerView {
  /** Whether this proxy holds a listener on the port (or is binding it). */
  isPortBoundBySmartProxy(port: number): boolean;
  /** How many routes (internal ones such as the ACME challenge included) use the port; 0 when none. */
  getPortRefCount(port: number): number;
  /** Sorted ports this proxy listens on. */
  getListeningPorts(): number[];
}

/** `proxy.certificateManager`: certificate state, and obtaining one on demand. */
export interface ICertificateManagerView {
  /** The certificate served for a domain; undefined when no route serves one for it. */
  getCertificateStatus(domain: string): ICertificateStatus | undefined;
  /** Every certificate the proxy serves or is obtaining. */
  listCertificates(): ICertificateStatus[];
  /**
   * Obtains a certificate for the domain now (a renewal if it has one),
   * sharing any order already in flight. Rejects with CertificateError.
   */
  provisionCertificate(domain: string): Promise<ICertificateStatus>;
}

/** `proxy.routeManager`: the routes in force. */
export interface IRouteManagerView {
  /** The user routes currently applied (frozen copies), or those waiting for start(). */
  getRoutes(): readonly IRouteConfig[];
}

interface PortQueries {
  isPortBoundBySmartProxy(port: number): boolean;
  getPortRefCount(port: number): number;
  getListeningPorts(): number[];
}

/** A frozen view that forwards the three queries and nothing else. */
export function portManagerView(ports: PortQueries): IPortManagerView {
  return Object.freeze({
    isPortBoundBySmartProxy: (port: number) => ports.isPortBoundBySmartProxy(port),
    getPortRefCount: (port: number) => ports.getPortRefCount(port),
    getListeningPorts: () => ports.getListeningPorts(),
  });
}

export function certificateManagerView(certificates: ICertificateManagerView): ICertificateManagerView {
  return Object.freeze({
    getCertificateStatus: (domain: string) => certificates.getCertificateStatus(domain),
    listCertificates: () => certificates.listCertificates(),
    provisionCertificate: (domain: string) => certificates.provisionCertificate(domain),
  });
}

export function routeManagerView(getRoutes: () => readonly IRouteConfig[]): IRouteManagerView {
  return Object.freeze({ getRoutes });
}
