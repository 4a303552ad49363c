import { createSecureContext, type SecureContext } from 'node:tls';
import type { IStaticCertificate } from '../routing/types.js';

/**
 * Secure contexts built once per distinct certificate and reused for every
 * handshake: building one parses PEM and costs far more than a handshake's
 * lookup. Entries whose certificate no route uses any more are pruned.
 */
export class SecureContextCache {
  #contexts = new Map<string, SecureContext>();
  /**
   * By certificate object first: route configs are frozen and kept across
   * updates, so a handshake finds its context without building (and hashing)
   * a key of two PEM strings every time.
   */
  readonly #byObject = new WeakMap<IStaticCertificate, SecureContext>();

  get(certificate: IStaticCertificate): SecureContext {
    const known = this.#byObject.get(certificate);
    if (known !== undefined) return known;
    const key = certificate.cert + certificate.key;
    let context = this.#contexts.get(key);
    if (context === undefined) {
      context = createSecureContext({ key: certificate.key, cert: certificate.cert, ca: certificate.ca });
      this.#contexts.set(key, context);
    }
    this.#byObject.set(certificate, context);
    return context;
  }

  /** Keeps only the contexts of these certificates. */
  retain(certificates: Iterable<IStaticCertificate>): void {
    const keep = new Map<string, SecureContext>();
    for (const certificate of certificates) {
      const key = certificate.cert + certificate.key;
      const context = this.#contexts.get(key);
      if (context !== undefined) keep.set(key, context);
    }
    this.#contexts = keep;
  }
}
