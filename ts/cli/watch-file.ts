import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';

/**
 * Calls `onChange` (debounced) whenever the file at `path` is written,
 * replaced or renamed into place. Watches the directory, not the file:
 * editors and deploy tools save by writing a temporary file and renaming it
 * over the old one, and a watch on the old file's inode would go quiet after
 * the first such save.
 */
export function watchFile(path: string, onChange: () => void, debounceMs = 100): { close(): void } {
  const file = basename(path);
  let timer: NodeJS.Timeout | undefined;
  const watcher: FSWatcher = watch(dirname(resolve(path)), (_event, name) => {
    // Some platforms omit the name; then any change in the directory may be ours.
    if (name !== null && name !== file) return;
    clearTimeout(timer);
    timer = setTimeout(onChange, debounceMs);
  });
  return {
    close() {
      clearTimeout(timer);
      watcher.close();
    },
  };
}
