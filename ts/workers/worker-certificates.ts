import { createSecureContext, type SecureContext } from 'node:tls';
import { SecureContextCache } from '../certificates/secure-context-cache.js';
import type { SecureContextSource } from '../proxy/context.js';
import { secureContextPolicyOptions, TlsPolicies } from '../proxy/tls/policy.js';
import type { Route } from '../routing/route.js';
import type { IStaticCertificate, ITlsPolicy } from '../routing/types.js';

interface NativeContext {
  setTicketKeys(keys: Buffer): void;
}

/**
 * A worker's certificates: static ones come inside the routes, obtained
 * ones and TLS-ALPN-01 answers are pushed by the control plane, which alone
 * talks to the CA. Every context gets the group's session ticket keys, so a
 * session made on one worker resumes on any other.
 */
export class WorkerCertificates implements SecureContextSource {
  readonly #static = new SecureContextCache();
  readonly #obtained = new SecureContextCache();
  readonly #policies: TlsPolicies;
  readonly #byDomain = new Map<string, IStaticCertificate>();
  readonly #alpn = new Map<string, SecureContext>();
  /** Which ticket keys each context has; a context made before a rotation is re-keyed on its next use. */
  readonly #keyed = new WeakMap<SecureContext, Buffer>();
  #ticketKeys: Buffer | undefined;

  constructor(tls: ITlsPolicy | undefined) {
    this.#policies = new TlsPolicies(tls);
  }

  secureContextFor(route: Route, serverName: string | undefined): SecureContext | undefined {
    const certificate = route.action.tls?.certificate;
    if (certificate === undefined) return undefined;
    const policy = this.#policies.forRoute(route.action.tls);
    if (certificate !== 'auto') return this.#withKeys(this.#static.get(certificate, policy));
    const domain = serverName ?? route.domains?.find((d) => d.kind === 'exact')?.name;
    const obtained = domain === undefined ? undefined : this.#byDomain.get(domain);
    return obtained === undefined ? undefined : this.#withKeys(this.#obtained.get(obtained, policy));
  }

  answerTlsAlpnChallenge(serverName: string): SecureContext | undefined {
    return this.#alpn.get(serverName);
  }

  /** Installs (or replaces, on renewal) the certificate for a domain; throws when the PEM does not load. */
  setCertificate(domain: string, cert: string, key: string): void {
    const certificate = Object.freeze({ cert, key });
    this.#obtained.get(certificate, this.#policies.global);
    this.#byDomain.set(domain, certificate);
    this.#obtained.retain(this.#byDomain.values());
  }

  setAlpnCertificate(domain: string, pem: { key: string; cert: string } | undefined): void {
    if (pem === undefined) this.#alpn.delete(domain);
    else this.#alpn.set(domain, createSecureContext({ ...pem, ...secureContextPolicyOptions(this.#policies.global) }));
  }

  setTicketKeys(keys: Buffer): void {
    this.#ticketKeys = keys;
  }

  /** Keeps only the contexts of the static certificates still in some route. */
  retainStatic(certificates: Iterable<IStaticCertificate>): void {
    this.#static.retain(certificates);
  }

  #withKeys(context: SecureContext): SecureContext {
    const keys = this.#ticketKeys;
    if (keys !== undefined && this.#keyed.get(context) !== keys) {
      (context.context as NativeContext).setTicketKeys(keys);
      this.#keyed.set(context, keys);
    }
    return context;
  }
}
