import { X509Certificate } from 'node:crypto';

export interface CertificateFacts {
  notBefore: Date;
  notAfter: Date;
  /** DNS names in the subjectAltName, lower-cased. */
  dnsNames: string[];
}

/** Dates and names of the leaf (first) certificate of a PEM chain. */
export function readCertificate(chainPem: string): CertificateFacts {
  const leaf = new X509Certificate(chainPem);
  const dnsNames = (leaf.subjectAltName ?? '')
    .split(', ')
    .filter((entry) => entry.startsWith('DNS:'))
    .map((entry) => entry.slice(4).toLowerCase());
  return { notBefore: new Date(leaf.validFrom), notAfter: new Date(leaf.validTo), dnsNames };
}

/** Whether a certificate for `names` covers `domain`, wildcards included (one label deep, as TLS clients check). */
export function certificateCovers(names: readonly string[], domain: string): boolean {
  for (const name of names) {
    if (name === domain) return true;
    if (name.startsWith('*.')) {
      const dot = domain.indexOf('.');
      if (dot > 0 && domain.slice(dot + 1) === name.slice(2)) return true;
    }
  }
  return false;
}
