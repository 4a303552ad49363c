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
  /** Shared session ticket keys (a shared store), undefined while each context keeps the random ones Node gave it. */
  #ticketKeys: Buffer | undefined;

  /**
   * Gives every context, built and yet to be built, these ticket keys (48
   * bytes), so a session resumes on any instance using the same keys. Set
   * on the native context as tls.Server#setTicketKeys does: no context is
   * rebuilt, and handshakes in progress are unaffected.
   */
  setTicketKeys(keys: Buffer): void {
    this.#ticketKeys = keys;
    for (const perPolicy of this.#contexts.values()) for (const context of perPolicy.values()) applyTicketKeys(context, keys);
  }

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
      if (this.#ticketKeys !== undefined) applyTicketKeys(context, this.#ticketKeys);
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

/** The native context behind a SecureContext: Node types it `any`; this is the one method used. */
interface NativeContext {
  setTicketKeys(keys: Buffer): void;
}

function applyTicketKeys(context: SecureContext, keys: Buffer): void {
  (context as unknown as { context: NativeContext }).context.setTicketKeys(keys);
}
