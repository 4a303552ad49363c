// Empties dist/ before a build, so a file whose source was deleted or renamed
// never lingers in dist/ and ships in the package.
import { rmSync } from 'node:fs';

rmSync(new URL('../dist/', import.meta.url), { recursive: true, force: true });
