import type { ILease, INameLock } from './name-lock.js';

/** A certificate with its key, as kept between restarts. */
export interface IStoredCertificate {
  /** PEM chain, leaf first. */
  cert: string;
  /** PEM private key of the leaf. */
  key: string;
  issuedAt: Date;
  expiresAt: Date;
  source: 'acme' | 'custom';
}

/**
 * Where certificates and the ACME account key live. The filesystem store is
 * the default; anything that can keep a few strings per domain (a database,
 * a secret manager shared by several proxy processes) can stand in for it.
 */
export interface ICertificateStore {
  /**
   * Serialises orders for one name (and creating the account key) across
   * every process that shares this store. A store shared between processes
   * should provide one (FileCertificateStore does: lock files); without it
   * orders are serialised within this process only.
   */
  readonly nameLock?: INameLock;
  /** The stored certificate, undefined when none; throws CorruptStoreEntryError when one exists but cannot be read. */
  loadCertificate(domain: string): Promise<IStoredCertificate | undefined>;
  /**
   * Stores a certificate. `lease` is the holding of the name's lock the
   * certificate was ordered under: a store shared by several instances
   * refuses the save (LeaseLostError) when the lease is no longer the
   * current holding, checked in the same step as the write (RedisStore does,
   * in one script). The file and memory stores ignore it: their saves are
   * atomic, and at worst a certificate ordered twice is stored twice.
   */
  saveCertificate(domain: string, certificate: IStoredCertificate, lease?: ILease): Promise<void>;
  /** The account key used with this ACME directory, undefined when none yet. */
  loadAccountKey(directoryUrl: string): Promise<string | undefined>;
  saveAccountKey(directoryUrl: string, keyPem: string): Promise<void>;
}

// Moved to errors.ts (on the SmartProxyError base, with a code); re-exported for existing importers.
export { CorruptStoreEntryError } from '../errors.js';

/** Keeps everything in memory: nothing survives a restart. For tests and short-lived proxies. */
export class MemoryCertificateStore implements ICertificateStore {
  readonly #certificates = new Map<string, IStoredCertificate>();
  readonly #accounts = new Map<string, string>();

  async loadCertificate(domain: string): Promise<IStoredCertificate | undefined> {
    return this.#certificates.get(domain);
  }

  async saveCertificate(domain: string, certificate: IStoredCertificate): Promise<void> {
    this.#certificates.set(domain, certificate);
  }

  async loadAccountKey(directoryUrl: string): Promise<string | undefined> {
    return this.#accounts.get(directoryUrl);
  }

  async saveAccountKey(directoryUrl: string, keyPem: string): Promise<void> {
    this.#accounts.set(directoryUrl, keyPem);
  }
}
