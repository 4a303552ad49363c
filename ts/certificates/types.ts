/**
 * The public certificate types, apart from the code that implements them, so
 * the option and view types can name them without importing implementation.
 */
import type { IStaticCertificate } from '../routing/types.js';
import type { IStoredCertificate } from './store.js';

/** Where a served certificate came from. */
export type CertificateSource = 'static' | 'acme' | 'custom';

/** What `getCertificateStatus()` reports for a domain. */
export interface ICertificateStatus {
  domain: string;
  status: 'valid' | 'pending' | 'expired' | 'error';
  source: CertificateSource;
  expiryDate?: Date;
  issueDate?: Date;
  error?: string;
  nextRenewal?: Date;
}

/** Returns a certificate for the domain, or 'http01' to have it obtained through ACME. */
export type CertProvisionFunction = (domain: string) => Promise<IStaticCertificate | 'http01'>;

/** The certificate events' payloads, each the single argument of the SmartProxy event of that name. */
export interface CertificateEvents {
  'certificate-issued': { domain: string; expiryDate: Date; source: CertificateSource };
  'certificate-renewed': { domain: string; expiryDate: Date; source: CertificateSource };
  'certificate-failed': { domain: string; error: Error; retryAt?: Date };
  /** Renewal keeps failing and the certificate served expires within 7 days. */
  'certificate-expiring': { domain: string; expiryDate: Date; error: Error; retryAt?: Date };
  /** The certificate served has expired and no renewal has replaced it. */
  'certificate-expired': { domain: string; expiryDate: Date };
}

/** How the certificate parts raise an event on the proxy. */
export type EmitCertificateEvent = <E extends keyof CertificateEvents>(event: E, payload: CertificateEvents[E]) => void;

/**
 * Where certificates and TLS-ALPN-01 answers are served besides this
 * process (the worker processes of the `workers` option). The ALPN push is
 * awaited, so the CA is told to validate only once every server has it.
 */
export interface CertificateMirror {
  certificateInstalled(domain: string, certificate: IStoredCertificate): void;
  alpnCertificate(domain: string, pem: { key: string; cert: string } | undefined): Promise<void>;
}
