import type { SecureContext } from 'node:tls';
import type { ResolvedTlsPolicy } from '../proxy/tls/policy.js';
import { SecureContextCache } from './secure-context-cache.js';
import type { CertificateMirror } from './types.js';
import type { Logger } from 'pino';
import { CertificateError, LeaseLostError } from '../errors.js';
import type { AcmeIssuer } from './acme-issuer.js';
import { readCertificate } from './certificate-info.js';
import type { CertProvisionFunction, EmitCertificateEvent, ICertificateStatus } from './types.js';
import { withNameLock } from './with-name-lock.js';
import type { ILease, INameLock } from './name-lock.js';
import { maxTimerMs, renewalTime, retryDelayMs } from './renewal-policy.js';
import type { StoreFaults } from './store-faults.js';
import { CorruptStoreEntryError, type ICertificateStore, type IStoredCertificate } from './store.js';

/** A failing renewal is called out (certificate-expiring, a warning) once this little time is left. */
export const expiringWithinMs = 7 * 24 * 60 * 60 * 1000;

export interface ManagedCertificatesOptions {
  logger: Logger;
  store: ICertificateStore;
  lock: INameLock;
  faults: StoreFaults;
  issuer: AcmeIssuer | undefined;
  provision: CertProvisionFunction | undefined;
  renewThresholdDays: number;
  emit: EmitCertificateEvent;
  /** The proxy-wide TLS policy: a certificate must load under it before it is served. */
  policy: ResolvedTlsPolicy;
  /** The store is shared across machines: an order never runs without the name's lock. Default: false. */
  lockRequired?: boolean;
  /** Told of every certificate this process starts serving, so the worker processes serve it too. */
  mirror?: CertificateMirror;
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
  expiryTimer: NodeJS.Timeout | undefined;
  nextRenewal: Date | undefined;
}

/**
 * The per-name lifecycle of 'auto' certificates: served from the store when
 * a good one is there, otherwise obtained (ACME, or the user's provision
 * function first), stored, renewed ahead of expiry, retried with backoff.
 * Orders run in the background, one per name at a time in this process and,
 * through the store's name lock, across the processes sharing the store: a
 * second process waits, finds the first one's certificate and loads it.
 */
export class ManagedCertificates {
  /** Contexts of the certificates served, per policy, built once each. */
  readonly #contexts = new SecureContextCache();
  readonly #options: ManagedCertificatesOptions;
  readonly #managed = new Map<string, Managed>();
  #stopped = false;

  constructor(options: ManagedCertificatesOptions) {
    this.#options = options;
  }

  /** Manages exactly these names from now on: new ones are loaded or ordered, dropped ones forgotten. */
  retain(wanted: ReadonlySet<string>): void {
    for (const [domain, entry] of this.#managed) {
      if (wanted.has(domain)) continue;
      clearTimeout(entry.timer);
      clearTimeout(entry.expiryTimer);
      this.#managed.delete(domain);
    }
    for (const domain of wanted) {
      if (!this.#managed.has(domain)) this.#startManaging(domain);
    }
  }

  /** The context serving `domain` under a route's policy (the global one unless the route overrides it). */
  contextFor(domain: string, policy: ResolvedTlsPolicy): SecureContext | undefined {
    const certificate = this.#managed.get(domain)?.certificate;
    return certificate === undefined ? undefined : this.#contexts.get(certificate, policy);
  }

  statusOf(domain: string): ICertificateStatus | undefined {
    const entry = this.#managed.get(domain);
    return entry === undefined ? undefined : this.#status(entry);
  }

  list(): ICertificateStatus[] {
    return [...this.#managed.values()].map((entry) => this.#status(entry));
  }

  /** Obtains a certificate now (a renewal if there is one), sharing an order in flight. Rejects with CertificateError. */
  async provision(domain: string): Promise<ICertificateStatus> {
    const entry = this.#managed.get(domain) ?? this.#newEntry(domain);
    await this.#obtain(entry);
    if (entry.error !== undefined) throw new CertificateError(domain, entry.error);
    return this.#status(entry);
  }

  /** Shared session ticket keys for every context served, now and later. */
  setTicketKeys(keys: Buffer): void {
    this.#contexts.setTicketKeys(keys);
  }

  /**
   * Another instance saved a certificate for `domain` (or may have: the
   * periodic check): serve it if it is newer than ours. Never orders.
   */
  async refresh(domain: string): Promise<void> {
    const entry = this.#managed.get(domain);
    // A first load or an order of ours in flight (our own save's notice included) installs what it gets or finds under the lock.
    if (entry === undefined || this.#stopped || entry.ordering || entry.inFlight !== undefined) return;
    const stored = await this.#load(domain, true);
    const current = entry.certificate;
    if (stored === undefined || stored.cert === current?.cert || this.#managed.get(domain) !== entry || entry.ordering) return;
    if (stored.expiresAt.getTime() <= Date.now()) return;
    // Never one that lapses sooner; one as long-lived is taken, so instances that raced converge on the stored one.
    if (current !== undefined && stored.expiresAt.getTime() < current.expiresAt.getTime()) return;
    this.#install(entry, stored);
    entry.attempts = 0;
    entry.error = undefined;
    if (!entry.ordering) this.#scheduleRenewal(entry);
    this.#options.logger.info({ domain, expiresAt: stored.expiresAt }, 'another instance stored a newer certificate for this name; serving it');
  }

  /** Every managed name looked up again (refresh); the safety net under change notifications. */
  async refreshAll(): Promise<void> {
    for (const domain of [...this.#managed.keys()]) await this.refresh(domain);
  }

  /** The shared store is back: names whose order failed meanwhile are ordered now, not at their backoff time. */
  retryFailed(): void {
    for (const entry of this.#managed.values()) {
      if (entry.error === undefined || entry.inFlight !== undefined || this.#stopped) continue;
      this.#options.logger.info({ domain: entry.domain }, 'the shared store is reachable again; ordering now');
      void this.#obtain(entry);
    }
  }

  stop(): void {
    this.#stopped = true;
    for (const entry of this.#managed.values()) {
      clearTimeout(entry.timer);
      clearTimeout(entry.expiryTimer);
    }
  }

  #newEntry(domain: string): Managed {
    const entry: Managed = { domain, certificate: undefined, inFlight: undefined, ordering: false, attempts: 0, error: undefined, timer: undefined, expiryTimer: undefined, nextRenewal: undefined };
    this.#managed.set(domain, entry);
    return entry;
  }

  /** Serves a stored certificate when there is a good one (no CA request, no lock), otherwise orders one. */
  #startManaging(domain: string): void {
    const entry = this.#newEntry(domain);
    entry.inFlight = this.#load(domain).then((stored) => {
      entry.inFlight = undefined;
      if (stored !== undefined && stored.expiresAt.getTime() > Date.now()) {
        this.#install(entry, stored);
        this.#options.logger.info({ domain, expiresAt: stored.expiresAt }, 'serving stored certificate');
        this.#scheduleRenewal(entry);
      } else {
        void this.#obtain(entry);
      }
    });
  }

  /** The stored certificate; undefined (reported, unless `quiet` as when looking again under the lock) when the entry or the store cannot be read. */
  async #load(domain: string, quiet = false): Promise<IStoredCertificate | undefined> {
    try {
      const stored = await this.#options.store.loadCertificate(domain);
      this.#options.faults.clear('load-certificate');
      return stored;
    } catch (error) {
      if (quiet) return undefined;
      if (error instanceof CorruptStoreEntryError) this.#options.logger.error({ domain, err: error }, 'stored certificate is unusable; obtaining a new one');
      else this.#options.faults.report('load-certificate', error, 'could not read the certificate store; certificates are obtained again', { domain });
      return undefined;
    }
  }

  /** One order per domain at a time, however many routes or callers ask. */
  #obtain(entry: Managed): Promise<void> {
    if (entry.inFlight !== undefined) return entry.inFlight;
    const run: Promise<void> = this.#runOrder(entry).finally(() => {
      if (entry.inFlight === run) entry.inFlight = undefined;
    });
    entry.inFlight = run;
    return run;
  }

  async #runOrder(entry: Managed): Promise<void> {
    const { domain } = entry;
    const { lock, faults, logger } = this.#options;
    clearTimeout(entry.timer);
    entry.ordering = true;
    try {
      const outcome = await withNameLock(
        lock,
        domain,
        faults,
        logger,
        async (lease) => {
          const fresh = await this.#storedByAnother(entry);
          if (fresh !== undefined) return { kind: 'loaded' as const, certificate: fresh };
          let obtained: IStoredCertificate;
          try {
            obtained = await this.#fetchCertificate(domain, lease);
          } catch (error) {
            if (!(error instanceof LeaseLostError)) throw error;
            // Stopped before finalize: the instance that took the name over orders it; serve its certificate once stored.
            const theirs = await this.#load(domain, true);
            if (theirs === undefined) throw error;
            logger.warn({ domain, fence: lease?.fence }, 'the order lock passed to another instance mid-order; abandoned before finalize, serving the stored certificate');
            return { kind: 'loaded' as const, certificate: theirs };
          }
          if (this.#stopped) return undefined;
          if (lease !== undefined && !lease.stillHeld()) logger.warn({ domain }, 'the store lock on this name lapsed during the order; saving anyway unless the store finds another process took the name since');
          try {
            await this.#save(domain, obtained, lease);
          } catch (error) {
            if (!(error instanceof LeaseLostError)) throw error;
            // Another instance took the name over and saved first: serve its certificate, so the fleet serves one.
            const theirs = await this.#load(domain, true);
            logger.warn({ domain, fence: lease?.fence }, 'our late save was refused: the lock passed to another instance; serving the stored certificate instead');
            return { kind: 'loaded' as const, certificate: theirs ?? obtained };
          }
          return { kind: 'ordered' as const, certificate: obtained };
        },
        { required: this.#options.lockRequired },
      );
      if (outcome === undefined || this.#stopped) return;
      entry.inFlight = undefined; // a listener of the events below that asks for a certificate starts a new order
      const renewing = entry.certificate !== undefined;
      this.#install(entry, outcome.certificate);
      entry.attempts = 0;
      entry.error = undefined;
      entry.ordering = false;
      this.#scheduleRenewal(entry);
      const { expiresAt, source } = outcome.certificate;
      if (outcome.kind === 'loaded') {
        logger.info({ domain, expiresAt }, 'another process sharing the store obtained this certificate; serving it');
        return;
      }
      logger.info({ domain, expiresAt, renewing }, renewing ? 'certificate renewed' : 'certificate issued');
      this.#options.emit(renewing ? 'certificate-renewed' : 'certificate-issued', { domain, expiryDate: expiresAt, source });
    } catch (error) {
      if (this.#stopped) return;
      this.#failed(entry, error);
    }
  }

  /**
   * A certificate another process stored while we waited for the lock (or
   * since we last looked), still good and not yet due: taking it is what
   * keeps two processes on one store from ordering the same name twice.
   */
  async #storedByAnother(entry: Managed): Promise<IStoredCertificate | undefined> {
    const stored = await this.#load(entry.domain, true);
    if (stored === undefined || stored.cert === entry.certificate?.cert) return undefined;
    const due = renewalTime(stored.issuedAt, stored.expiresAt, this.#options.renewThresholdDays).getTime() <= Date.now();
    return due ? undefined : stored;
  }

  /** Stores the certificate; rethrows only LeaseLostError (the store refused a save under a lease no longer ours). */
  async #save(domain: string, certificate: IStoredCertificate, lease: ILease | undefined): Promise<void> {
    try {
      await this.#options.store.saveCertificate(domain, certificate, lease);
      this.#options.faults.clear('save-certificate');
    } catch (error) {
      if (error instanceof LeaseLostError) throw error;
      // Serving matters more than storing: the new certificate goes live anyway.
      this.#options.faults.report('save-certificate', error, 'could not store the new certificate; it is served but will be ordered again after a restart', { domain });
    }
  }

  #failed(entry: Managed, error: unknown): void {
    const { domain } = entry;
    const { logger, emit } = this.#options;
    entry.attempts++;
    entry.error = (error as Error).message;
    entry.ordering = false; // a listener of certificate-failed sees the status as 'error', not 'pending'
    entry.inFlight = undefined; // and a new order if it asks for one, not this failed one
    const retryAt = new Date(Date.now() + retryDelayMs(entry.attempts));
    this.#schedule(entry, retryAt);
    logger.error({ domain, err: error, retryAt, attempt: entry.attempts }, 'obtaining certificate failed; the current one (if any) keeps serving');
    const failure = new CertificateError(domain, entry.error, { cause: error });
    emit('certificate-failed', { domain, error: failure, retryAt });
    const expiresAt = entry.certificate?.expiresAt;
    if (expiresAt !== undefined && expiresAt.getTime() > Date.now() && expiresAt.getTime() - Date.now() <= expiringWithinMs) {
      logger.warn({ domain, expiresAt, attempt: entry.attempts, retryAt }, 'the certificate expires soon and renewing it keeps failing');
      emit('certificate-expiring', { domain, expiryDate: expiresAt, error: failure, retryAt });
    }
  }

  async #fetchCertificate(domain: string, lease: ILease | undefined): Promise<IStoredCertificate> {
    const { provision, issuer, logger } = this.#options;
    if (provision !== undefined) {
      try {
        const result = await provision(domain);
        if (result !== 'http01') {
          const facts = readCertificate(result.cert);
          return { cert: result.ca ? `${result.cert.trim()}\n${result.ca}` : result.cert, key: result.key, issuedAt: facts.notBefore, expiresAt: facts.notAfter, source: 'custom' };
        }
      } catch (error) {
        if (issuer === undefined) throw error;
        logger.warn({ domain, err: error }, 'certProvisionFunction failed; falling back to ACME');
      }
    }
    if (issuer === undefined) throw new Error('no ACME configured and the provision function asked for ACME');
    // A lease that could not be renewed means another instance may be ordering the name now: stop before finalize.
    const beforeFinalize = () => {
      if (lease !== undefined && lease.token !== undefined && !lease.stillHeld()) throw new LeaseLostError(domain, 'finalize');
    };
    return issuer.issue(domain, { beforeFinalize });
  }

  #install(entry: Managed, certificate: IStoredCertificate): void {
    // Built now under the global policy, so a PEM that does not load fails the order, not a later handshake.
    this.#contexts.get(certificate, this.#options.policy);
    entry.certificate = certificate;
    this.#options.mirror?.certificateInstalled(entry.domain, certificate);
    this.#contexts.retain([...this.#managed.values()].flatMap((m) => (m.certificate === undefined ? [] : [m.certificate])));
    this.#watchExpiry(entry, certificate);
  }

  /** certificate-expired when the certificate served lapses with no renewal in its place. */
  #watchExpiry(entry: Managed, certificate: IStoredCertificate): void {
    clearTimeout(entry.expiryTimer);
    if (this.#stopped) return;
    const wait = certificate.expiresAt.getTime() - Date.now();
    if (wait <= 0) return; // never served while valid: the order that replaces it is what matters
    entry.expiryTimer = setTimeout(() => {
      if (this.#managed.get(entry.domain) !== entry || entry.certificate !== certificate) return;
      if (certificate.expiresAt.getTime() > Date.now()) return this.#watchExpiry(entry, certificate);
      this.#options.logger.error({ domain: entry.domain, expiresAt: certificate.expiresAt, lastError: entry.error }, 'the certificate served has expired; clients now refuse it');
      this.#options.emit('certificate-expired', { domain: entry.domain, expiryDate: certificate.expiresAt });
    }, Math.min(wait + 1, maxTimerMs));
    entry.expiryTimer.unref();
  }

  #scheduleRenewal(entry: Managed): void {
    const certificate = entry.certificate!;
    this.#schedule(entry, renewalTime(certificate.issuedAt, certificate.expiresAt, this.#options.renewThresholdDays));
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

  #status(entry: Managed): ICertificateStatus {
    const certificate = entry.certificate;
    const source = certificate?.source ?? (this.#options.provision !== undefined ? 'custom' : 'acme');
    const base = { domain: entry.domain, source, nextRenewal: entry.nextRenewal, error: entry.error };
    if (certificate === undefined) return { ...base, status: entry.error !== undefined && !entry.ordering ? 'error' : 'pending' };
    const expired = certificate.expiresAt.getTime() <= Date.now();
    return { ...base, status: expired ? 'expired' : 'valid', expiryDate: certificate.expiresAt, issueDate: certificate.issuedAt };
  }
}
