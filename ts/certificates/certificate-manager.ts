import { createSecureContext, type SecureContext } from 'node:tls';
import type { Logger } from 'pino';
import { CertificateError, type RouteProblem } from '../errors.js';
import type { IAcmeOptions } from '../options.js';
import type { SecureContextSource } from '../proxy/context.js';
import { secureContextPolicyOptions, TlsPolicies } from '../proxy/tls/policy.js';
import type { Route } from '../routing/route.js';
import type { RouteTable } from '../routing/route-table.js';
import type { IStaticCertificate, ITlsPolicy } from '../routing/types.js';
import { AcmeIssuer, letsEncryptProduction, letsEncryptStaging, type ChallengeHooks } from './acme-issuer.js';
import { certificateCovers, readCertificate } from './certificate-info.js';
import { MemoryChallengeStore, type IChallengeStore } from './challenge-store.js';
import { FileCertificateStore } from './file-store.js';
import { createHttp01Responder } from './http01-responder.js';
import { maxTimerMs, renewalTime, retryDelayMs } from './renewal-policy.js';
import { SecureContextCache } from './secure-context-cache.js';
import type { ICertificateStore, IStoredCertificate } from './store.js';
import type { CertificateEvents, CertProvisionFunction, ICertificateStatus } from './types.js';

// Moved to ./types.ts so public option types import no implementation; re-exported for existing importers.
export type { CertificateEvents, CertificateSource, CertProvisionFunction, ICertificateStatus } from './types.js';

/** What the manager needs from the proxy to publish HTTP-01 answers through the route table. */
export interface ChallengeRouteControl {
  /** Puts the challenge route live on the ACME port (binding it only if no route holds it yet). */
  ensureChallengeRoute(responder: ReturnType<typeof createHttp01Responder>): Promise<void>;
  /** Takes the challenge route away again once no challenge is pending. */
  releaseChallengeRoute(): Promise<void>;
}

/**
 * Where certificates and TLS-ALPN-01 answers are served besides this
 * process (the worker processes of the `workers` option). The ALPN push is
 * awaited, so the CA is told to validate only once every server has it.
 */
export interface CertificateMirror {
  certificateInstalled(domain: string, certificate: IStoredCertificate): void;
  alpnCertificate(domain: string, pem: { key: string; cert: string } | undefined): Promise<void>;
}

export interface CertificateManagerOptions {
  logger: Logger;
  acme?: IAcmeOptions;
  certProvisionFunction?: CertProvisionFunction;
  /** The proxy-wide TLS policy (already validated); routes may override it. Default: Mozilla intermediate. */
  tls?: ITlsPolicy;
  challengeRoutes?: ChallengeRouteControl;
  mirror?: CertificateMirror;
  emit?: <E extends keyof CertificateEvents>(event: E, payload: CertificateEvents[E]) => void;
}

interface Managed {
  domain: string;
  certificate: IStoredCertificate | undefined;
  inFlight: Promise<void> | undefined;
  /** An order is running (inFlight also covers loading from the store, and clears only after the events went out). */
  ordering: boolean;
  attempts: number;
  error: string | undefined;
  timer: NodeJS.Timeout | undefined;
  nextRenewal: Date | undefined;
}

/**
 * Owns certificate state: static certificates from routes, certificates
 * obtained through ACME (or a user's provision function) for routes with
 * `certificate: 'auto'`, their store, renewals and retries. Issuance always
 * runs in the background: applying routes never waits on a CA, and the old
 * certificate keeps serving until a new one is swapped in for the next
 * handshake.
 */
export class CertificateManager implements SecureContextSource {
  readonly #static = new SecureContextCache();
  /** Contexts of certificates obtained through ACME or the provision function, per policy like the static ones. */
  readonly #obtained = new SecureContextCache();
  readonly #policies: TlsPolicies;
  readonly #managed = new Map<string, Managed>();
  readonly #alpn = new Map<string, SecureContext>();
  readonly #options: CertificateManagerOptions;
  readonly #logger: Logger;
  readonly #store: ICertificateStore;
  readonly #challenges: IChallengeStore;
  readonly #issuer: AcmeIssuer | undefined;
  readonly #renewThresholdDays: number;
  #staticRoutes: Route[] = [];
  #pendingHttp = 0;
  #challengeRoute: Promise<void> = Promise.resolve();
  #stopped = false;

  constructor(options: CertificateManagerOptions) {
    this.#options = options;
    this.#logger = options.logger;
    this.#policies = new TlsPolicies(options.tls);
    const acme = options.acme;
    const store = acme?.certificateStore ?? './certs';
    this.#store = typeof store === 'string' ? new FileCertificateStore(store) : store;
    this.#challenges = acme?.challengeStore ?? new MemoryChallengeStore();
    this.#renewThresholdDays = acme?.renewThresholdDays ?? 30;
    if (acme !== undefined) {
      this.#issuer = new AcmeIssuer({
        directoryUrl: acme.directoryUrl ?? (acme.useProduction ? letsEncryptProduction : letsEncryptStaging),
        email: acme.email,
        challengeTypes: acme.challengeTypes ?? ['http-01'],
        skipChallengeVerification: acme.skipChallengeVerification ?? false,
        caCertificates: acme.caCertificates === undefined ? [] : ([] as string[]).concat(acme.caCertificates),
        pollIntervalMs: acme.pollIntervalMs ?? 5000,
        store: this.#store,
        hooks: this.#hooks(),
        logger: this.#logger,
      });
    }
  }

  /**
   * Problems with the certificates of a table about to go live: static PEMs
   * that do not load (found now, not at a later handshake) and 'auto' routes
   * with nothing that could obtain a certificate.
   */
  checkRoutes(table: RouteTable): RouteProblem[] {
    const problems: RouteProblem[] = [];
    const canObtain = this.#issuer !== undefined || this.#options.certProvisionFunction !== undefined;
    for (const route of table.routes) {
      const certificate = route.action.tls?.certificate;
      if (certificate === 'auto' && !canObtain) {
        problems.push({ route: route.name, path: 'action.tls.certificate', message: "'auto' needs the acme option ({ email }) or a certProvisionFunction" });
      } else if (typeof certificate === 'object') {
        try {
          this.#static.get(certificate, this.#policies.forRoute(route.action.tls));
        } catch (error) {
          problems.push({ route: route.name, path: 'action.tls.certificate', message: `cannot be loaded: ${(error as Error).message}` });
        }
      }
    }
    return problems;
  }

  /** Called once a table is live: starts managing new 'auto' domains, forgets dropped ones, prunes static contexts. */
  routesApplied(table: RouteTable): void {
    const statics: IStaticCertificate[] = [];
    const staticRoutes: Route[] = [];
    const wanted = new Set<string>();
    for (const route of table.routes) {
      const certificate = route.action.tls?.certificate;
      if (typeof certificate === 'object') {
        statics.push(certificate);
        staticRoutes.push(route);
      } else if (certificate === 'auto') {
        for (const domain of route.domains ?? []) {
          if (domain.kind === 'exact') wanted.add(domain.name);
          else this.#logger.warn({ route: route.name }, "'auto' certificates are obtained for exact domains only; wildcards need DNS-01");
        }
      }
    }
    this.#static.retain(statics);
    this.#staticRoutes = staticRoutes;
    for (const [domain, entry] of this.#managed) {
      if (wanted.has(domain)) continue;
      clearTimeout(entry.timer);
      this.#managed.delete(domain);
    }
    for (const domain of wanted) {
      if (!this.#managed.has(domain)) this.#startManaging(domain);
    }
  }

  secureContextFor(route: Route, serverName: string | undefined): SecureContext | undefined {
    const certificate = route.action.tls?.certificate;
    if (certificate === undefined) return undefined;
    const policy = this.#policies.forRoute(route.action.tls);
    if (certificate !== 'auto') return this.#static.get(certificate, policy);
    const domain = serverName ?? route.domains?.find((d) => d.kind === 'exact')?.name;
    const obtained = domain === undefined ? undefined : this.#managed.get(domain)?.certificate;
    return obtained === undefined ? undefined : this.#obtained.get(obtained, policy);
  }

  answerTlsAlpnChallenge(serverName: string): SecureContext | undefined {
    return this.#alpn.get(serverName);
  }

  getCertificateStatus(domain: string): ICertificateStatus | undefined {
    const name = domain.toLowerCase();
    const entry = this.#managed.get(name);
    if (entry !== undefined) return statusOf(entry, this.#options.certProvisionFunction !== undefined);
    for (const route of this.#staticRoutes) {
      const certificate = route.action.tls!.certificate as IStaticCertificate;
      const facts = readCertificate(certificate.cert);
      if (!certificateCovers(facts.dnsNames, name)) continue;
      const expired = facts.notAfter.getTime() <= Date.now();
      return { domain: name, status: expired ? 'expired' : 'valid', source: 'static', expiryDate: facts.notAfter, issueDate: facts.notBefore };
    }
    return undefined;
  }

  /** Every certificate the proxy serves or is obtaining, for metrics. */
  listCertificates(): ICertificateStatus[] {
    const list: ICertificateStatus[] = [];
    for (const entry of this.#managed.values()) list.push(statusOf(entry, this.#options.certProvisionFunction !== undefined));
    const seen = new Set<string>();
    for (const route of this.#staticRoutes) {
      const certificate = route.action.tls!.certificate as IStaticCertificate;
      if (seen.has(certificate.cert)) continue;
      seen.add(certificate.cert);
      const facts = readCertificate(certificate.cert);
      const domain = facts.dnsNames[0] ?? route.name;
      list.push({ domain, status: facts.notAfter.getTime() <= Date.now() ? 'expired' : 'valid', source: 'static', expiryDate: facts.notAfter, issueDate: facts.notBefore });
    }
    return list;
  }

  /**
   * Obtains a certificate for the domain now (a renewal if it has one),
   * sharing any order already in flight. Rejects with CertificateError.
   */
  async provisionCertificate(domain: string): Promise<ICertificateStatus> {
    const name = domain.toLowerCase();
    const entry = this.#managed.get(name) ?? this.#newEntry(name);
    await this.#obtain(entry);
    if (entry.error !== undefined) throw new CertificateError(name, entry.error);
    return statusOf(entry, false);
  }

  /** Cancels timers and stops answering; orders in flight finish unobserved. */
  stop(): void {
    this.#stopped = true;
    for (const entry of this.#managed.values()) clearTimeout(entry.timer);
    this.#issuer?.close();
  }

  #newEntry(domain: string): Managed {
    const entry: Managed = { domain, certificate: undefined, inFlight: undefined, ordering: false, attempts: 0, error: undefined, timer: undefined, nextRenewal: undefined };
    this.#managed.set(domain, entry);
    return entry;
  }

  /** Serves a stored certificate when there is a good one (no CA request), otherwise orders one. */
  #startManaging(domain: string): void {
    const entry = this.#newEntry(domain);
    entry.inFlight = this.#store.loadCertificate(domain).then(
      (stored) => {
        entry.inFlight = undefined;
        if (stored !== undefined && stored.expiresAt.getTime() > Date.now()) {
          this.#install(entry, stored);
          this.#logger.info({ domain, expiresAt: stored.expiresAt }, 'serving stored certificate');
          this.#scheduleRenewal(entry);
        } else {
          void this.#obtain(entry);
        }
      },
      (error: unknown) => {
        entry.inFlight = undefined;
        this.#logger.error({ domain, err: error }, 'stored certificate is unusable; obtaining a new one');
        void this.#obtain(entry);
      },
    );
  }

  /** One order per domain at a time, however many routes or callers ask. */
  #obtain(entry: Managed): Promise<void> {
    entry.inFlight ??= this.#runOrder(entry).finally(() => {
      entry.inFlight = undefined;
    });
    return entry.inFlight;
  }

  async #runOrder(entry: Managed): Promise<void> {
    const { domain } = entry;
    const renewing = entry.certificate !== undefined;
    clearTimeout(entry.timer);
    entry.ordering = true;
    try {
      const obtained = await this.#fetchCertificate(domain);
      if (this.#stopped) return;
      try {
        await this.#store.saveCertificate(domain, obtained);
      } catch (error) {
        // Serving matters more than storing: keep the new certificate live and say loudly that it is not on disk.
        this.#logger.error({ domain, err: error }, 'could not store the new certificate; it is served but will be ordered again after a restart');
      }
      this.#install(entry, obtained);
      entry.attempts = 0;
      entry.error = undefined;
      entry.ordering = false;
      this.#scheduleRenewal(entry);
      this.#logger.info({ domain, expiresAt: obtained.expiresAt, renewing }, renewing ? 'certificate renewed' : 'certificate issued');
      this.#options.emit?.(renewing ? 'certificate-renewed' : 'certificate-issued', { domain, expiryDate: obtained.expiresAt, source: obtained.source });
    } catch (error) {
      if (this.#stopped) return;
      entry.attempts++;
      entry.error = (error as Error).message;
      entry.ordering = false; // a listener of certificate-failed sees the status as 'error', not 'pending'
      const retryAt = new Date(Date.now() + retryDelayMs(entry.attempts));
      this.#schedule(entry, retryAt);
      this.#logger.error({ domain, err: error, retryAt, attempt: entry.attempts }, 'obtaining certificate failed; the current one (if any) keeps serving');
      this.#options.emit?.('certificate-failed', { domain, error: new CertificateError(domain, entry.error, { cause: error }), retryAt });
    }
  }

  async #fetchCertificate(domain: string): Promise<IStoredCertificate> {
    const provision = this.#options.certProvisionFunction;
    if (provision !== undefined) {
      try {
        const result = await provision(domain);
        if (result !== 'http01') {
          const facts = readCertificate(result.cert);
          return { cert: result.ca ? `${result.cert.trim()}\n${result.ca}` : result.cert, key: result.key, issuedAt: facts.notBefore, expiresAt: facts.notAfter, source: 'custom' };
        }
      } catch (error) {
        if (this.#issuer === undefined) throw error;
        this.#logger.warn({ domain, err: error }, 'certProvisionFunction failed; falling back to ACME');
      }
    }
    if (this.#issuer === undefined) throw new Error('no ACME configured and the provision function asked for ACME');
    return this.#issuer.issue(domain);
  }

  #install(entry: Managed, certificate: IStoredCertificate): void {
    // Built now under the global policy, so a PEM that does not load fails the order, not a later handshake.
    this.#obtained.get(certificate, this.#policies.global);
    entry.certificate = certificate;
    this.#options.mirror?.certificateInstalled(entry.domain, certificate);
    this.#obtained.retain([...this.#managed.values()].flatMap((m) => (m.certificate === undefined ? [] : [m.certificate])));
  }

  #scheduleRenewal(entry: Managed): void {
    const certificate = entry.certificate!;
    this.#schedule(entry, renewalTime(certificate.issuedAt, certificate.expiresAt, this.#renewThresholdDays));
  }

  #schedule(entry: Managed, at: Date): void {
    clearTimeout(entry.timer);
    entry.nextRenewal = at;
    if (this.#stopped) return;
    const wait = at.getTime() - Date.now();
    entry.timer = setTimeout(() => {
      if (this.#managed.get(entry.domain) !== entry) return;
      if (at.getTime() > Date.now()) this.#schedule(entry, at); // a long wait taken in steps
      else void this.#obtain(entry);
    }, Math.min(Math.max(wait, 0), maxTimerMs));
    entry.timer.unref();
  }

  #hooks(): ChallengeHooks {
    const responder = createHttp01Responder(this.#challenges);
    return {
      addHttpToken: async (token, keyAuthorization) => {
        await this.#challenges.set(token, keyAuthorization);
        if (this.#pendingHttp++ === 0) this.#challengeRoute = this.#options.challengeRoutes?.ensureChallengeRoute(responder) ?? Promise.resolve();
        await this.#challengeRoute;
      },
      removeHttpToken: async (token) => {
        await this.#challenges.delete(token);
        if (--this.#pendingHttp === 0 && !this.#stopped) {
          const release = this.#options.challengeRoutes?.releaseChallengeRoute();
          release?.catch((error: unknown) => this.#logger.error({ err: error }, 'releasing the ACME challenge route'));
        }
      },
      addAlpnCertificate: (domain, keyPem, certPem) => {
        this.#alpn.set(domain, createSecureContext({ key: keyPem, cert: certPem, ...secureContextPolicyOptions(this.#policies.global) }));
        return this.#options.mirror?.alpnCertificate(domain, { key: keyPem, cert: certPem });
      },
      removeAlpnCertificate: (domain) => {
        this.#alpn.delete(domain);
        this.#options.mirror?.alpnCertificate(domain, undefined).catch((error: unknown) => this.#logger.error({ err: error }, 'withdrawing a TLS-ALPN-01 certificate'));
      },
    };
  }
}

function statusOf(entry: Managed, custom: boolean): ICertificateStatus {
  const certificate = entry.certificate;
  const base = { domain: entry.domain, source: certificate?.source ?? (custom ? 'custom' : 'acme'), nextRenewal: entry.nextRenewal, error: entry.error };
  if (certificate === undefined) return { ...base, status: entry.error !== undefined && !entry.ordering ? 'error' : 'pending' };
  const expired = certificate.expiresAt.getTime() <= Date.now();
  return { ...base, status: expired ? 'expired' : 'valid', expiryDate: certificate.expiresAt, issueDate: certificate.issuedAt };
}
