import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { link, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { makeDirectory, writeAtomically } from './fs-atomic.js';
import type { ILease, INameLock } from './name-lock.js';

export interface FileNameLockOptions {
  /** A lock file not refreshed for this long is stale: its holder died or hung, and it may be broken. Default: 10000 ms. */
  leaseMs?: number;
  /** How often a waiter looks at a held lock again. Default: 250 ms. */
  pollMs?: number;
}

interface Seen {
  token: string;
  mtimeMs: number;
}

/**
 * Lock files in one directory, shared by every process that uses it (as
 * certmagic's file storage does): `<name>.lock` created exclusively, its
 * mtime refreshed every third of the lease while held, and broken by a
 * waiter once it has not been refreshed for a whole lease. `<name>.fence`
 * counts acquisitions, read and bumped by each new holder.
 *
 * Breaking is a rename aside, then a check that what was moved is the stale
 * file judged so, not one a faster waiter created in between (which is put
 * back). As with any file lock, a holder stalled for longer than the lease
 * can lose it; `stillHeld()` turns false then, and the store's writes are
 * atomic, so the worst case is a certificate ordered twice.
 */
export class FileNameLock implements INameLock {
  readonly #dir: string;
  readonly #leaseMs: number;
  readonly #pollMs: number;

  constructor(dir: string, options: FileNameLockOptions = {}) {
    this.#dir = dir;
    this.#leaseMs = options.leaseMs ?? 10_000;
    this.#pollMs = options.pollMs ?? 250;
  }

  async acquire(name: string, options: { signal?: AbortSignal } = {}): Promise<ILease> {
    const { signal } = options;
    const path = join(this.#dir, `${safeName(name)}.lock`);
    const token = `${hostname()}:${process.pid}:${randomBytes(8).toString('hex')}`;
    for (;;) {
      signal?.throwIfAborted();
      if (await this.#tryCreate(path, token)) break;
      const seen = await readLock(path);
      if (seen !== undefined && Date.now() - seen.mtimeMs > this.#leaseMs) await this.#breakStale(path, seen);
      else await sleep(this.#pollMs, undefined, { signal }).catch(() => signal?.throwIfAborted()); // the signal's own reason, as MemoryNameLock
    }
    try {
      const fence = await this.#nextFence(name);
      return new FileLease(path, token, fence, this.#leaseMs);
    } catch (error) {
      await rm(path, { force: true });
      throw error;
    }
  }

  async #tryCreate(path: string, token: string): Promise<boolean> {
    try {
      await writeFile(path, token, { flag: 'wx', mode: 0o600 });
      return true;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') return false;
      if (code !== 'ENOENT') throw error;
    }
    await makeDirectory(this.#dir, 0o700);
    return this.#tryCreate(path, token);
  }

  async #breakStale(path: string, seen: Seen): Promise<void> {
    const aside = `${path}.${randomBytes(4).toString('hex')}.stale`;
    try {
      await rename(path, aside);
    } catch {
      return; // gone already: someone else broke or released it
    }
    const moved = await readLock(aside);
    if (moved !== undefined && (moved.token !== seen.token || Date.now() - moved.mtimeMs <= this.#leaseMs)) {
      // A fresh lock taken between our look and the rename: hand it back unless the name was taken again meanwhile.
      await link(aside, path).catch(() => undefined);
    }
    await rm(aside, { force: true });
  }

  async #nextFence(name: string): Promise<number> {
    const path = join(this.#dir, `${safeName(name)}.fence`);
    const text = await readFile(path, 'utf8').catch(() => '0');
    const fence = (Number.parseInt(text, 10) || 0) + 1;
    await writeAtomically(path, String(fence), 0o600);
    return fence;
  }
}

class FileLease implements ILease {
  readonly fence: number;
  readonly #path: string;
  readonly #token: string;
  readonly #leaseMs: number;
  readonly #timer: NodeJS.Timeout;
  #confirmedAt = Date.now();
  #lost = false;
  #released = false;

  constructor(path: string, token: string, fence: number, leaseMs: number) {
    this.fence = fence;
    this.#path = path;
    this.#token = token;
    this.#leaseMs = leaseMs;
    this.#timer = setInterval(() => void this.#refresh(), Math.max(Math.floor(leaseMs / 3), 10));
    this.#timer.unref();
  }

  stillHeld(): boolean {
    return !this.#released && !this.#lost && Date.now() - this.#confirmedAt < this.#leaseMs;
  }

  async release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    clearInterval(this.#timer);
    if (this.#lost) return;
    // Compare, then delete: never remove a lock that has passed to someone else.
    const seen = await readLock(this.#path);
    if (seen?.token === this.#token) await rm(this.#path, { force: true }).catch(() => undefined);
  }

  async #refresh(): Promise<void> {
    if (this.#released || this.#lost) return;
    const seen = await readLock(this.#path);
    // Missing for a moment while a waiter that took it for stale moves it aside and back: unconfirmed, not lost.
    if (seen === undefined) return;
    if (seen.token !== this.#token) {
      this.#lost = true;
      clearInterval(this.#timer);
      return;
    }
    const now = new Date();
    try {
      await utimes(this.#path, now, now);
      this.#confirmedAt = now.getTime();
    } catch {
      // Not confirmed: stillHeld() turns false once the lease runs out without a refresh.
    }
  }
}

async function readLock(path: string): Promise<Seen | undefined> {
  try {
    const [token, info] = await Promise.all([readFile(path, 'utf8'), stat(path)]);
    return { token, mtimeMs: info.mtimeMs };
  } catch {
    return undefined;
  }
}

/** Names become file names: keep letters, digits, dots and dashes, and nothing that could leave the directory. */
function safeName(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9.-]/g, '_').replace(/^\.+/, '_');
}
