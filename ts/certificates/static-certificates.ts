import type { SecureContext } from 'node:tls';
import type { RouteTable } from '../routing/route-table.js';
import type { IStaticCertificate } from '../routing/types.js';
import { certificateCovers, readCertificate, type CertificateFacts } from './certificate-info.js';
import type { ICertificateStatus } from './types.js';
import type { ResolvedTlsPolicy } from '../proxy/tls/policy.js';
import { SecureContextCache } from './secure-context-cache.js';

interface Known {
  facts: CertificateFacts;
  /** The name it is listed under: its first DNS name, or the first route's name. */
  label: string;
}

/**
 * Certificates given in routes. Each is parsed once when a table that uses
 * it goes live (not at every status call or metrics scrape); contexts are
 * built once per distinct certificate and reused for every handshake.
 */
export class StaticCertificates {
  readonly #contexts = new SecureContextCache();
  #known = new Map<string, Known>();

  /** Shared session ticket keys for every context, now and later. */
  setTicketKeys(keys: Buffer): void {
    this.#contexts.setTicketKeys(keys);
  }

  /** Why the certificate cannot serve, or undefined when it loads. Called on a table about to go live. */
  problem(certificate: IStaticCertificate, policy: ResolvedTlsPolicy): string | undefined {
    try {
      this.#contexts.get(certificate, policy);
      return undefined;
    } catch (error) {
      return `cannot be loaded: ${(error as Error).message}`;
    }
  }

  /** A table is live: parse the certificates it brings, forget the ones it dropped. */
  update(table: RouteTable): void {
    const certificates: IStaticCertificate[] = [];
    const known = new Map<string, Known>();
    for (const route of table.routes) {
      const certificate = route.action.tls?.certificate;
      if (typeof certificate !== 'object') continue;
      certificates.push(certificate);
      if (known.has(certificate.cert)) continue;
      const facts = this.#known.get(certificate.cert)?.facts ?? readCertificate(certificate.cert);
      known.set(certificate.cert, { facts, label: facts.dnsNames[0] ?? route.name });
    }
    this.#contexts.retain(certificates);
    this.#known = known;
  }

  contextFor(certificate: IStaticCertificate, policy: ResolvedTlsPolicy): SecureContext {
    return this.#contexts.get(certificate, policy);
  }

  /** The first live static certificate that covers `name`. */
  statusOf(name: string): ICertificateStatus | undefined {
    for (const { facts } of this.#known.values()) {
      if (certificateCovers(facts.dnsNames, name)) return status(name, facts);
    }
    return undefined;
  }

  list(): ICertificateStatus[] {
    return [...this.#known.values()].map(({ facts, label }) => status(label, facts));
  }
}

function status(domain: string, facts: CertificateFacts): ICertificateStatus {
  const expired = facts.notAfter.getTime() <= Date.now();
  return { domain, status: expired ? 'expired' : 'valid', source: 'static', expiryDate: facts.notAfter, issueDate: facts.notBefore };
}
