import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/** Suffix of every file written under a temporary name; what a crash can leave behind. */
export const tempSuffix = '.tmp';

/** Temp files older than this are left over from a crash, not a write in progress: 1 minute. Sweeping a live one only fails that save cleanly. */
export const staleTempMs = 60_000;

/**
 * Uncommitted certificate files older than this are left over: 10 minutes.
 * Longer than for temp files, because removing the files of a save that is
 * merely slow (a stalled disk) would leave its meta.json pointing at nothing.
 */
export const staleVersionMs = 10 * 60_000;

/**
 * `mkdir -p` that always ends. Node's recursive mkdir never settles (and
 * keeps a thread-pool thread spinning) when a parent exists but cannot hold
 * children, as with a store under /proc or behind a dangling symlink: the
 * child answers ENOENT, the parent EEXIST, and it tries again forever. Here
 * each missing level is created once, top down, and a failure is final.
 */
export async function makeDirectory(path: string, mode: number): Promise<void> {
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

/**
 * Writes to a unique temporary name (flushed) and renames into place, so a
 * reader sees the old content or the new, never a torn file. The temporary
 * file is removed when the write fails; a crash leaves it for the sweep.
 */
export async function writeAtomically(path: string, content: string, mode: number): Promise<void> {
  const temp = `${path}.${randomBytes(4).toString('hex')}${tempSuffix}`;
  try {
    await writeFile(temp, content, { mode, flush: true });
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}

/**
 * Removes the files in `dir` that `isLeftover` picks and that have not been
 * touched for `olderThanMs`: a younger one may belong to a writer (this
 * process or another) that is still at work. Missing directories are fine.
 */
export async function sweep(dir: string, isLeftover: (name: string) => boolean, olderThanMs = staleTempMs): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  const cutoff = Date.now() - olderThanMs;
  for (const name of names) {
    if (!isLeftover(name)) continue;
    const path = join(dir, name);
    const info = await stat(path).catch(() => undefined);
    if (info === undefined || !info.isFile() || info.mtimeMs > cutoff) continue;
    await rm(path, { force: true });
    removed.push(name);
  }
  return removed;
}
