import { createHash, createPrivateKey, randomBytes, X509Certificate } from 'node:crypto';
import { mkdir, readFile, rename, rm, stat, writeFile, readdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { CorruptStoreEntryError, type ICertificateStore, type IStoredCertificate } from './store.js';

interface Meta {
  certFile: string;
  keyFile: string;
  issuedAt: string;
  expiresAt: string;
  source: 'acme' | 'custom';
}

/**
 * Certificates on disk, one directory per domain:
 *
 *   <dir>/<domain>/cert-<id>.pem   chain, leaf first
 *   <dir>/<domain>/key-<id>.pem    private key, mode 0600
 *   <dir>/<domain>/meta.json       which files are current, and dates
 *
 * Every file is written to a temporary name and renamed into place, and
 * meta.json is renamed last: it is the commit point. A crash at any moment
 * leaves either the old certificate or the new one readable, never a torn
 * mix. Files of older versions are removed after the commit.
 */
export class FileCertificateStore implements ICertificateStore {
  readonly #dir: string;

  constructor(dir: string) {
    this.#dir = dir;
  }

  async loadCertificate(domain: string): Promise<IStoredCertificate | undefined> {
    const dir = this.#domainDir(domain);
    let metaText: string;
    try {
      metaText = await readFile(join(dir, 'meta.json'), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    const what = `stored certificate for ${domain} (${dir})`;
    let meta: Meta;
    try {
      meta = JSON.parse(metaText) as Meta;
    } catch (error) {
      throw new CorruptStoreEntryError(what, `meta.json is not JSON (${(error as Error).message})`);
    }
    if (!isSafeName(meta.certFile) || !isSafeName(meta.keyFile)) throw new CorruptStoreEntryError(what, 'meta.json names no valid files');
    let cert: string;
    let key: string;
    try {
      [cert, key] = await Promise.all([readFile(join(dir, meta.certFile), 'utf8'), readFile(join(dir, meta.keyFile), 'utf8')]);
    } catch (error) {
      throw new CorruptStoreEntryError(what, (error as Error).message);
    }
    checkPair(what, cert, key);
    return { cert, key, issuedAt: new Date(meta.issuedAt), expiresAt: new Date(meta.expiresAt), source: meta.source };
  }

  async saveCertificate(domain: string, certificate: IStoredCertificate): Promise<void> {
    const dir = this.#domainDir(domain);
    await makeDirectory(dir, 0o700);
    const id = `${Date.now()}-${randomBytes(4).toString('hex')}`;
    const meta: Meta = {
      certFile: `cert-${id}.pem`,
      keyFile: `key-${id}.pem`,
      issuedAt: certificate.issuedAt.toISOString(),
      expiresAt: certificate.expiresAt.toISOString(),
      source: certificate.source,
    };
    await writeAtomically(join(dir, meta.keyFile), certificate.key, 0o600);
    await writeAtomically(join(dir, meta.certFile), certificate.cert, 0o644);
    await writeAtomically(join(dir, 'meta.json'), JSON.stringify(meta, null, 2), 0o644);
    await removeOtherVersions(dir, meta);
  }

  async loadAccountKey(directoryUrl: string): Promise<string | undefined> {
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

  #domainDir(domain: string): string {
    // Domains reach here validated, but the name becomes a path: refuse anything that could escape the store.
    if (!/^[a-z0-9*._-]+$/.test(domain) || domain.includes('..')) throw new Error(`refusing to store a certificate for '${domain}'`);
    return join(this.#dir, domain.replace('*', '_wildcard_'));
  }

  #accountFile(directoryUrl: string): string {
    const id = createHash('sha256').update(directoryUrl).digest('hex').slice(0, 16);
    return join(this.#dir, 'accounts', `${id}.key`);
  }
}

/**
 * `mkdir -p` that always ends. Node's recursive mkdir never settles (and
 * keeps a thread-pool thread spinning) when a parent exists but cannot hold
 * children, as with a store under /proc or behind a dangling symlink: the
 * child answers ENOENT, the parent EEXIST, and it tries again forever. Here
 * each missing level is created once, top down, and a failure is final.
 */
async function makeDirectory(path: string, mode: number): Promise<void> {
  try {
    await mkdir(path, { mode });
    return;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' && (await stat(path).then((s) => s.isDirectory(), () => false))) return;
    const parent = dirname(path);
    if (code !== 'ENOENT' || parent === path) throw error;
  }
  await makeDirectory(dirname(path), mode);
  await mkdir(path, { mode });
}

async function writeAtomically(path: string, content: string, mode: number): Promise<void> {
  const temp = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await writeFile(temp, content, { mode, flush: true });
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}

async function removeOtherVersions(dir: string, meta: Meta): Promise<void> {
  for (const name of await readdir(dir)) {
    const old = (name.startsWith('cert-') || name.startsWith('key-') || name.endsWith('.tmp')) && name !== meta.certFile && name !== meta.keyFile;
    if (old) await rm(join(dir, name), { force: true });
  }
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
