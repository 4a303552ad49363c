// A private copy of dist/ for the whole run. Other work in the repository
// (a test run's build) may rewrite dist/ while the benchmark runs; processes
// started later would then measure different code than those started first.
import { createHash } from 'node:crypto';
import { cpSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const benchDir = fileURLToPath(new URL('..', import.meta.url));

/**
 * Copies ../dist into bench/.bench-out/dist-<pid> (inside the repository, so
 * its imports still resolve from the root node_modules) and returns
 * { dir, entry, hash, remove() }.
 */
export function snapshotDist() {
  const source = join(benchDir, '../dist');
  const dir = join(benchDir, '.bench-out', `dist-${process.pid}`);
  cpSync(source, dir, { recursive: true });
  return { dir, entry: join(dir, 'index.js'), hash: hashTree(dir), remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Short SHA-256 over every .js file's path and content: names the exact build measured. */
function hashTree(root) {
  const hash = createHash('sha256');
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.js')) hash.update(relative(root, path)).update('\0').update(readFileSync(path));
    }
  };
  walk(root);
  return hash.digest('hex').slice(0, 12);
}
