import type { SecureContext } from 'node:tls';
import type { Logger } from 'pino';
import { InvalidOptionError, type RouteProblem } from '../errors.js';
import type { IAcmeOptions } from '../options.js';
import type { SecureContextSource } from '../proxy/context.js';
import { TlsPolicies } from '../proxy/tls/policy.js';
import type { Route } from '../routing/route.js';
import type { RouteTable } from '../routing/route-table.js';
import type { ITlsPolicy } from '../routing/types.js';
import { AcmeIssuer, letsEncryptProduction, letsEncryptStaging } from './acme-issuer.js';
import type { CertificateMirror, CertProvisionFunction, EmitCertificateEvent, ICertificateStatus } from './types.js';
import { MemoryChallengeStore } from './challenge-store.js';
import { ChallengeSolvers, type InternalRouteControl } from './challenge-solvers.js';
import { FileCertificateStore } from './file-store.js';
import { ManagedCertificates } from './managed-certificates.js';
import { MemoryNameLock } from './name-lock.js';
import { StaticCertificates } from './static-certificates.js';
import { StoreFaults } from './store-faults.js';
import type { ISharedStore } from './shared-store.js';

/** Default for ISharedStore.syncIntervalMs: a missed change notification costs at most this long. */
export const defaultSyncIntervalMs = 30_000;

// In ./types.ts so public option types import no implementation; re-exported for existing importers.
export type { CertificateEvents, CertificateSource, CertProvisionFunction, ICertificateStatus } from './types.js';

/** Default bound on each request to the ACME CA: 30 s. */
export const defaultAcmeTimeoutMs = 30_000;

export type { CertificateMirror } from './types.js';

export interface CertificateManagerOptions {
  logger: Logger;
  acme?: IAcmeOptions;
  certProvisionFunction?: CertProvisionFunction;
  /** The proxy-wide TLS policy (already validated); routes may override it. Default: Mozilla intermediate. */
  tls?: ITlsPolicy;
  /** The proxy's transaction for internal routes, through which the HTTP-01 route goes live. */
  internalRoutes?: InternalRouteControl;
  emit?: EmitCertificateEvent;
  /** State shared with other instances (the `store` option); supplies the certificate and challenge stores. */
  sharedStore?: ISharedStore;
  /** Where certificates and TLS-ALPN-01 answers are served besides this process (the worker processes). */
  mirror?: CertificateMirror;
}

/**
 * The proxy's certificates, by where they come from: static ones given in
 * routes, managed ones ('auto': ACME or the provision function, with their
 * store, renewals and retries), and the challenge solvers ACME needs. This
 * class checks routes, routes the handshake's question to the right one and
 * answers status queries; the work is in the three parts. Issuance always
 * runs in the background: applying routes never waits on a CA.
 */
export class CertificateManager implements SecureContextSource {
  readonly #static = new StaticCertificates();
  readonly #managed: ManagedCertificates;
  readonly #solvers: ChallengeSolvers;
  readonly #issuer: AcmeIssuer | undefined;
  readonly #logger: Logger;
  readonly #canObtain: boolean;
  readonly #policies: TlsPolicies;
  /** Undoes what was subscribed on the shared store: notifications, ticket keys, the periodic check. */
  readonly #unsubscribe: (() => void)[] = [];

  constructor(options: CertificateManagerOptions) {
    const { logger, acme } = options;
    const timeoutMs = acme?.timeoutMs ?? defaultAcmeTimeoutMs;
    if (typeof timeoutMs !== 'number' || !(timeoutMs > 0) || timeoutMs === Infinity) throw new InvalidOptionError('acme.timeoutMs', 'a positive number of milliseconds', timeoutMs);
    this.#logger = logger;
    this.#policies = new TlsPolicies(options.tls);
    const shared = options.sharedStore;
    if (shared !== undefined && (acme?.certificateStore !== undefined || acme?.challengeStore !== undefined)) {
      const given = acme?.certificateStore !== undefined ? 'acme.certificateStore' : 'acme.challengeStore';
      throw new InvalidOptionError([{ option: given, message: 'cannot be given with `store`: the shared store supplies certificates and challenges; leave this one out' }]);
    }
    const storeOption = acme?.certificateStore ?? './certs';
    const store = shared?.certificates ?? (typeof storeOption === 'string' ? new FileCertificateStore(storeOption) : storeOption);
    const lock = store.nameLock ?? new MemoryNameLock();
    const faults = new StoreFaults(logger);
    this.#solvers = new ChallengeSolvers({
      logger,
      store: shared?.challenges ?? acme?.challengeStore ?? new MemoryChallengeStore(),
      acmePorts: [acme?.port ?? 80, ...(acme?.fallbackPorts ?? [])],
      routes: options.internalRoutes,
      policy: this.#policies.global,
      mirror: options.mirror,
    });
    if (acme !== undefined) {
      this.#issuer = new AcmeIssuer({
        directoryUrl: acme.directoryUrl ?? (acme.useProduction ? letsEncryptProduction : letsEncryptStaging),
        email: acme.email,
        challengeTypes: acme.challengeTypes ?? ['http-01'],
        skipChallengeVerification: acme.skipChallengeVerification ?? false,
        caCertificates: acme.caCertificates === undefined ? [] : ([] as string[]).concat(acme.caCertificates),
        pollIntervalMs: acme.pollIntervalMs ?? 5000,
        timeoutMs,
        store,
        lock,
        faults,
        hooks: this.#solvers.hooks(),
        logger,
      });
    }
    this.#canObtain = this.#issuer !== undefined || options.certProvisionFunction !== undefined;
    this.#managed = new ManagedCertificates({
      logger,
      store,
      lock,
      faults,
      issuer: this.#issuer,
      provision: options.certProvisionFunction,
      renewThresholdDays: acme?.renewThresholdDays ?? 30,
      emit: options.emit ?? (() => undefined),
      policy: this.#policies.global,
      lockRequired: shared !== undefined,
      mirror: options.mirror,
    });
    if (shared !== undefined) this.#share(shared);
  }

  /** Follows the shared store: certificates other instances save, its return after an outage, its ticket keys. */
  #share(shared: ISharedStore): void {
    const logger = this.#logger;
    shared.attach?.({ logger });
    const refresh = (domain: string) => this.#managed.refresh(domain).catch((error: unknown) => logger.debug({ domain, err: error }, 'loading a certificate another instance stored'));
    this.#unsubscribe.push(shared.onCertificateChanged(refresh));
    this.#unsubscribe.push(
      shared.onAvailable(() => {
        this.#managed.retryFailed();
        void this.#managed.refreshAll().catch(() => undefined); // notifications sent while we were away were lost
      }),
    );
    const timer = setInterval(() => void this.#managed.refreshAll().catch(() => undefined), shared.syncIntervalMs ?? defaultSyncIntervalMs);
    timer.unref();
    this.#unsubscribe.push(() => clearInterval(timer));
    const tickets = shared.ticketKeys;
    if (tickets !== undefined) {
      const apply = (keys: Buffer) => {
        this.#managed.setTicketKeys(keys);
        this.#static.setTicketKeys(keys);
      };
      apply(tickets.ticketKeys());
      this.#unsubscribe.push(tickets.onTicketKeysChanged(apply));
    }
  }

  /**
   * Problems with the certificates of a table about to go live: static PEMs
   * that do not load (found now, not at a later handshake) and 'auto' routes
   * with nothing that could obtain a certificate.
   */
  checkRoutes(table: RouteTable): RouteProblem[] {
    const problems: RouteProblem[] = [];
    for (const route of table.routes) {
      const certificate = route.action.tls?.certificate;
      if (certificate === 'auto' && !this.#canObtain) {
        problems.push({ route: route.name, path: 'action.tls.certificate', message: "'auto' needs the acme option ({ email }) or a certProvisionFunction" });
      } else if (typeof certificate === 'object') {
        const problem = this.#static.problem(certificate, this.#policies.forRoute(route.action.tls));
        if (problem !== undefined) problems.push({ route: route.name, path: 'action.tls.certificate', message: problem });
      }
    }
    return problems;
  }

  /** Called once a table is live: static certificates parsed, 'auto' domains managed, the challenge route kept where it belongs. */
  routesApplied(table: RouteTable): void {
    const wanted = new Set<string>();
    for (const route of table.routes) {
      if (route.action.tls?.certificate !== 'auto') continue;
      for (const domain of route.domains ?? []) {
        if (domain.kind === 'exact') wanted.add(domain.name);
        else this.#logger.warn({ route: route.name }, "'auto' certificates are obtained for exact domains only; wildcards need DNS-01");
      }
    }
    this.#static.update(table);
    this.#managed.retain(wanted);
    this.#solvers.routesApplied(table);
  }

  secureContextFor(route: Route, serverName: string | undefined): SecureContext | undefined {
    const certificate = route.action.tls?.certificate;
    if (certificate === undefined) return undefined;
    const policy = this.#policies.forRoute(route.action.tls);
    if (certificate !== 'auto') return this.#static.contextFor(certificate, policy);
    const domain = serverName ?? route.domains?.find((d) => d.kind === 'exact')?.name;
    return domain === undefined ? undefined : this.#managed.contextFor(domain, policy);
  }

  answerTlsAlpnChallenge(serverName: string): SecureContext | undefined {
    return this.#solvers.answerTlsAlpnChallenge(serverName);
  }

  lookupTlsAlpnChallenge(serverName: string): Promise<SecureContext | undefined> | undefined {
    return this.#solvers.lookupTlsAlpnChallenge(serverName);
  }

  getCertificateStatus(domain: string): ICertificateStatus | undefined {
    const name = domain.toLowerCase();
    return this.#managed.statusOf(name) ?? this.#static.statusOf(name);
  }

  /** Every certificate the proxy serves or is obtaining, for metrics. */
  listCertificates(): ICertificateStatus[] {
    return [...this.#managed.list(), ...this.#static.list()];
  }

  /**
   * Obtains a certificate for the domain now (a renewal if it has one),
   * sharing any order already in flight. Rejects with CertificateError.
   */
  provisionCertificate(domain: string): Promise<ICertificateStatus> {
    return this.#managed.provision(domain.toLowerCase());
  }

  /** Cancels timers and stops answering; orders in flight finish unobserved. */
  stop(): void {
    for (const undo of this.#unsubscribe.splice(0)) undo();
    this.#managed.stop();
    this.#solvers.stop();
    this.#issuer?.close();
  }
}
