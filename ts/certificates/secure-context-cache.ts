import { createSecureContext, type SecureContext } from 'node:tls';
import { secureContextPolicyOptions, type ResolvedTlsPolicy } from '../proxy/tls/policy.js';
import type { IStaticCertificate } from '../routing/types.js';

/**
 * Secure contexts built once per distinct certificate and TLS policy, and
 * reused for every handshake: building one parses PEM and costs far more
 * than a handshake's lookup. The policy (minimum version, ciphers, no
 * renegotiation) lives in the context, so two routes sharing a certificate
 * with different policies get two contexts. Entries whose certificate no
 * route uses any more are pruned.
 */
export class SecureContextCache {
  /** By PEM (cert + key), then by policy key. */
  #contexts = new Map<string, Map<string, SecureContext>>();
  /**
   * By certificate object first: route configs are frozen and kept across
   * updates, so a handshake finds its context without building (and hashing)
   * a key of two PEM strings every time.
   */
  readonly #byObject = new WeakMap<IStaticCertificate, Map<string, SecureContext>>();

  /** The context for this certificate under this policy; throws when the PEM does not load. */
  get(certificate: IStaticCertificate, policy: ResolvedTlsPolicy): SecureContext {
    let perPolicy = this.#byObject.get(certificate);
    if (perPolicy === undefined) {
      const pem = certificate.cert + certificate.key;
      perPolicy = this.#contexts.get(pem);
      if (perPolicy === undefined) {
        perPolicy = new Map();
        this.#contexts.set(pem, perPolicy);
      }
      this.#byObject.set(certificate, perPolicy);
    }
    let context = perPolicy.get(policy.key);
    if (context === undefined) {
      context = createSecureContext({ key: certificate.key, cert: certificate.cert, ca: certificate.ca, ...secureContextPolicyOptions(policy) });
      perPolicy.set(policy.key, context);
    }
    return context;
  }

  /** Keeps only the contexts of these certificates. */
  retain(certificates: Iterable<IStaticCertificate>): void {
    const keep = new Map<string, Map<string, SecureContext>>();
    for (const certificate of certificates) {
      const pem = certificate.cert + certificate.key;
      const perPolicy = this.#contexts.get(pem);
      if (perPolicy !== undefined) keep.set(pem, perPolicy);
    }
    this.#contexts = keep;
  }
}
