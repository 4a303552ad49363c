import { createHash, createPrivateKey, randomBytes, X509Certificate } from 'node:crypto';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { FileNameLock, type FileNameLockOptions } from './file-name-lock.js';
import { makeDirectory, staleTempMs, staleVersionMs, sweep, tempSuffix, writeAtomically } from './fs-atomic.js';
import type { INameLock } from './name-lock.js';
import { CorruptStoreEntryError, type ICertificateStore, type IStoredCertificate } from './store.js';

interface Meta {
  certFile: string;
  keyFile: string;
  issuedAt: string;
  expiresAt: string;
  source: 'acme' | 'custom';
}

export interface FileCertificateStoreOptions {
  /** The per-name lock files under `<dir>/locks`. Default lease: 10 s. */
  lock?: FileNameLockOptions;
}

/**
 * Certificates on disk, one directory per domain:
 *
 *   <dir>/<domain>/cert-<id>.pem   chain, leaf first
 *   <dir>/<domain>/key-<id>.pem    private key, mode 0600
 *   <dir>/<domain>/meta.json       which files are current, and dates
 *   <dir>/accounts/<hash>.key      ACME account key per directory URL
 *   <dir>/locks/<name>.lock        per-name order lock (see FileNameLock)
 *
 * Every file is written to a temporary name and renamed into place, and
 * meta.json is renamed last: it is the commit point. A crash at any moment
 * leaves either the old certificate or the new one readable, never a torn
 * mix. Several writers (processes, a cluster pair) may share a directory:
 * a save removes only the version it replaced and the files it wrote itself
 * when it fails; anything else left over (a crash, a writer that lost a race)
 * is swept when a store is first used: temp files once a minute old,
 * uncommitted versions once ten minutes old.
 */
export class FileCertificateStore implements ICertificateStore {
  readonly nameLock: INameLock;
  readonly #dir: string;
  #swept: Promise<void> | undefined;

  constructor(dir: string, options: FileCertificateStoreOptions = {}) {
    this.#dir = dir;
    this.nameLock = new FileNameLock(join(dir, 'locks'), options.lock);
  }

  async loadCertificate(domain: string): Promise<IStoredCertificate | undefined> {
    const dir = this.#domainDir(domain);
    await this.#sweepOnce();
    const what = `stored certificate for ${domain} (${dir})`;
    // A concurrent save may remove the version named by the meta.json just read; the meta.json read again names the new one.
    for (let attempt = 1; ; attempt++) {
      const meta = await readMeta(dir, what);
      if (meta === undefined) return undefined;
      let cert: string;
      let key: string;
      try {
        [cert, key] = await Promise.all([readFile(join(dir, meta.certFile), 'utf8'), readFile(join(dir, meta.keyFile), 'utf8')]);
      } catch (error) {
        const again = attempt < 3 && (error as NodeJS.ErrnoException).code === 'ENOENT' && !sameMeta(meta, await readMeta(dir, what).catch(() => undefined));
        if (again) continue;
        throw new CorruptStoreEntryError(what, (error as Error).message);
      }
      checkPair(what, cert, key);
      return { cert, key, issuedAt: new Date(meta.issuedAt), expiresAt: new Date(meta.expiresAt), source: meta.source };
    }
  }

  async saveCertificate(domain: string, certificate: IStoredCertificate): Promise<void> {
    const dir = this.#domainDir(domain);
    await this.#sweepOnce();
    await makeDirectory(dir, 0o700);
    const replaced = await readMeta(dir, dir).catch(() => undefined);
    const id = `${Date.now()}-${randomBytes(4).toString('hex')}`;
    const meta: Meta = {
      certFile: `cert-${id}.pem`,
      keyFile: `key-${id}.pem`,
      issuedAt: certificate.issuedAt.toISOString(),
      expiresAt: certificate.expiresAt.toISOString(),
      source: certificate.source,
    };
    const written: string[] = [];
    try {
      await writeAtomically(join(dir, meta.keyFile), certificate.key, 0o600);
      written.push(meta.keyFile);
      await writeAtomically(join(dir, meta.certFile), certificate.cert, 0o644);
      written.push(meta.certFile);
      await writeAtomically(join(dir, 'meta.json'), JSON.stringify(meta, null, 2), 0o644);
    } catch (error) {
      // Not committed: what this save put in place is nobody's, so it goes now rather than waiting for a sweep.
      for (const name of written) await rm(join(dir, name), { force: true });
      throw error;
    }
    // Only the version this save replaced, and its own if another writer committed over it meanwhile: files
    // of other writers are theirs to remove (they may not be committed yet), or the sweep's once a minute old.
    const current = await readMeta(dir, dir).catch(() => undefined);
    const mine = [meta.certFile, meta.keyFile];
    const superseded = current !== undefined && !sameMeta(meta, current) ? mine : [];
    const gone = [...(replaced === undefined ? [] : [replaced.certFile, replaced.keyFile]), ...superseded];
    for (const name of gone) {
      if (current === undefined || (name !== current.certFile && name !== current.keyFile)) await rm(join(dir, name), { force: true });
    }
    // Versions lost in such races by writers that saw nothing of each other: a long-lived pair must not pile them up.
    await sweep(dir, (name) => !name.endsWith(tempSuffix) && (name.startsWith('cert-') || name.startsWith('key-')) && current !== undefined && name !== current.certFile && name !== current.keyFile, staleVersionMs);
  }

  async loadAccountKey(directoryUrl: string): Promise<string | undefined> {
    await this.#sweepOnce();
    try {
      return await readFile(this.#accountFile(directoryUrl), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  async saveAccountKey(directoryUrl: string, keyPem: string): Promise<void> {
    await makeDirectory(join(this.#dir, 'accounts'), 0o700);
    await writeAtomically(this.#accountFile(directoryUrl), keyPem, 0o600);
  }

  /** Removes crash leftovers a minute old or more; runs once per store object, before its first load or save. */
  sweepLeftovers(): Promise<void> {
    return this.#sweepOnce();
  }

  #sweepOnce(): Promise<void> {
    this.#swept ??= this.#sweep().catch(() => undefined);
    return this.#swept;
  }

  async #sweep(): Promise<void> {
    const isTemp = (name: string) => name.endsWith(tempSuffix);
    await sweep(join(this.#dir, 'accounts'), isTemp);
    await sweep(join(this.#dir, 'locks'), (name) => isTemp(name) || name.endsWith('.stale'));
    const entries = await readdir(this.#dir, { withFileTypes: true }).catch(() => []);
    for (const entry of entries) {
      if (!entry.isDirectory() || entry.name === 'accounts' || entry.name === 'locks') continue;
      const dir = join(this.#dir, entry.name);
      const meta = await readMeta(dir, dir).catch(() => undefined);
      // Versions never committed, or replaced by a writer that lost a race with another, are as dead as temp files.
      const unreferenced = (name: string) => !isTemp(name) && (name.startsWith('cert-') || name.startsWith('key-')) && meta !== undefined && name !== meta.certFile && name !== meta.keyFile;
      await sweep(dir, isTemp, staleTempMs);
      await sweep(dir, unreferenced, staleVersionMs);
    }
  }

  #domainDir(domain: string): string {
    // Domains reach here validated, but the name becomes a path: refuse anything that could escape the store.
    if (!/^[a-z0-9*._-]+$/.test(domain) || domain.includes('..')) throw new Error(`refusing to store a certificate for '${domain}'`);
    return join(this.#dir, domain.replace('*', '_wildcard_'));
  }

  #accountFile(directoryUrl: string): string {
    return join(this.#dir, 'accounts', `${accountId(directoryUrl)}.key`);
  }
}

/** A short stable name for an ACME directory URL (account files, account locks). */
export function accountId(directoryUrl: string): string {
  return createHash('sha256').update(directoryUrl).digest('hex').slice(0, 16);
}

async function readMeta(dir: string, what: string): Promise<Meta | undefined> {
  let text: string;
  try {
    text = await readFile(join(dir, 'meta.json'), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    throw error;
  }
  let meta: Meta;
  try {
    meta = JSON.parse(text) as Meta;
  } catch (error) {
    throw new CorruptStoreEntryError(what, `meta.json is not JSON (${(error as Error).message})`);
  }
  if (!isSafeName(meta.certFile) || !isSafeName(meta.keyFile)) throw new CorruptStoreEntryError(what, 'meta.json names no valid files');
  return meta;
}

function sameMeta(a: Meta, b: Meta | undefined): boolean {
  return b !== undefined && a.certFile === b.certFile && a.keyFile === b.keyFile;
}

function isSafeName(name: unknown): name is string {
  return typeof name === 'string' && /^[a-z]+-[0-9a-f-]+\.pem$/.test(name);
}

function checkPair(what: string, cert: string, key: string): void {
  try {
    const leaf = new X509Certificate(cert);
    if (!leaf.checkPrivateKey(createPrivateKey(key))) throw new Error('the key does not match the certificate');
  } catch (error) {
    throw new CorruptStoreEntryError(what, (error as Error).message);
  }
}
