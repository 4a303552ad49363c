import type { IStaticCertificate } from '../routing/types.js';

export type CertificateSource = 'static' | 'acme' | 'custom';

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

export interface CertificateEvents {
  'certificate-issued': { domain: string; expiryDate: Date; source: CertificateSource };
  'certificate-renewed': { domain: string; expiryDate: Date; source: CertificateSource };
  'certificate-failed': { domain: string; error: Error; retryAt?: Date };
  /** Renewal keeps failing and the certificate served expires within 7 days. */
  'certificate-expiring': { domain: string; expiryDate: Date; error: Error; retryAt?: Date };
  /** The certificate served has expired and no renewal has replaced it. */
  'certificate-expired': { domain: string; expiryDate: Date };
}

export type EmitCertificateEvent = <E extends keyof CertificateEvents>(event: E, payload: CertificateEvents[E]) => void;
