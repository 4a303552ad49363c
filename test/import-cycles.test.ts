// ts/ has no import cycles, type-only imports and re-exports included
// (scripts/check-import-cycles.mjs, also runnable on its own). A type-only
// cycle is still a cycle: it ties the public option types to implementation
// files and makes every file in the loop part of every other's type-check.
import t from 'tap';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const script = join(import.meta.dirname, '..', 'scripts', 'check-import-cycles.mjs');

t.test('ts/ has no import cycles', async (t) => {
  const { stdout } = await run(process.execPath, [script]);
  t.match(stdout, /no import cycles/);
});

t.test('the check finds type-only cycles and re-export cycles', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'smartproxy-cycles-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'options.ts'), "import type { Manager } from './manager.js';\nexport interface Options { m?: Manager }\n");
  await writeFile(join(dir, 'manager.ts'), "import type {\n  Context,\n} from './context.js';\nexport class Manager { c?: Context }\n");
  await writeFile(join(dir, 'context.ts'), "export type { Options as Context } from './options.js';\n");
  await writeFile(join(dir, 'leaf.ts'), "import type { Options } from './options.js';\nexport const x: Options = {};\n");
  const failed = await run(process.execPath, [script, dir]).then(() => undefined, (error: { code: number; stderr: string }) => error);
  t.equal(failed?.code, 1, 'exits 1');
  t.match(failed?.stderr, /import cycle: context\.ts -> options\.ts -> manager\.ts -> context\.ts/);
  t.notMatch(failed?.stderr, /leaf\.ts/, 'a file that only points into a cycle is not part of it');
});
