// The package installs and works: the repo's files as a fresh clone has them
// (no dist/) are packed with `npm pack`, whose prepack step must build; the
// tarball holds what users need and nothing internal; it installs into a
// scratch app, imports as ESM (and through import() from CommonJS), and its
// bin validates the shipped example config. Copying first means the build
// never touches this checkout's dist/, which other tests are reading.
import t from 'tap';
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = join(import.meta.dirname, '..');
const npm = (args: string[], cwd: string) => run('npm', [...args, '--no-audit', '--no-fund', '--loglevel=error'], { cwd, timeout: 120_000, env: { ...process.env, npm_config_update_notifier: 'false' } });

t.test('npm pack from a fresh checkout, install the tarball, import it, run its bin', { timeout: 240_000 }, async (t) => {
  const work = await mkdtemp(join(tmpdir(), 'smartproxy-pack-'));
  t.teardown(() => rm(work, { recursive: true, force: true }));

  // A fresh clone's files (tracked and new, not ignored): no dist/, no node_modules/.
  const clone = join(work, 'clone');
  const { stdout: listed } = await run('git', ['ls-files', '-co', '--exclude-standard', '-z'], { cwd: root, maxBuffer: 16 << 20 });
  for (const file of listed.split('\0').filter(Boolean)) {
    if (file.startsWith('node_modules')) continue;
    await mkdir(dirname(join(clone, file)), { recursive: true });
    await cp(join(root, file), join(clone, file), { dereference: false }).catch(() => undefined);
  }
  await symlink(join(root, 'node_modules'), join(clone, 'node_modules'), 'dir');

  const { stdout: packed } = await npm(['pack', '--json', '--pack-destination', work], clone);
  const [info] = JSON.parse(packed) as [{ filename: string; files: { path: string }[] }];
  const files = info.files.map((f) => f.path).sort();
  for (const needed of ['dist/index.js', 'dist/index.d.ts', 'dist/cli/main.js', 'LICENSE', 'readme.md', 'package.json', 'examples/proxy.json', 'examples/shared-port.ts', 'dist/redis/index.js', 'dist/redis/index.d.ts']) {
    t.ok(files.includes(needed), `ships ${needed}`);
  }
  t.same(files.filter((f) => /^(ts|test|bench|scripts)\/|readme\.plan\.md|^dist\/demo\./.test(f)), [], 'ships no sources, tests, plan or demo');

  // Every source map carries its sources, since ts/ is not shipped.
  const maps = files.filter((f) => f.endsWith('.map'));
  const unpacked = join(work, 'unpacked');
  await mkdir(unpacked);
  await run('tar', ['-xzf', join(work, info.filename), '-C', unpacked]);
  const withoutSources: string[] = [];
  for (const map of maps) {
    const parsed = JSON.parse(await readFile(join(unpacked, 'package', map), 'utf8')) as { sources: string[]; sourcesContent?: (string | null)[] };
    if (parsed.sourcesContent?.length !== parsed.sources.length || parsed.sourcesContent.some((s) => typeof s !== 'string')) withoutSources.push(map);
  }
  t.ok(maps.length > 0, `${maps.length} source maps`);
  t.same(withoutSources, [], 'each source map has sourcesContent');

  const manifest = JSON.parse(await readFile(join(unpacked, 'package', 'package.json'), 'utf8')) as Record<string, Record<string, string>>;
  t.notOk(manifest.dependencies?.['pino-pretty'], 'pino-pretty is not a runtime dependency');
  t.ok(manifest.optionalDependencies?.['pino-pretty'], 'it is optional');

  const app = join(work, 'app');
  await mkdir(app);
  await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'scratch-app', version: '1.0.0', private: true, type: 'module' }));
  await npm(['install', '--prefer-offline', '--omit=optional', join(work, info.filename)], app);

  await writeFile(join(app, 'esm.mjs'), "import { SmartProxy, RouteValidationError } from 'smartproxy';\nconst p = new SmartProxy({ routes: [] });\nconsole.log(typeof SmartProxy, typeof RouteValidationError, p.portManager.getListeningPorts().length);\n");
  t.equal((await run(process.execPath, ['esm.mjs'], { cwd: app })).stdout.trim(), 'function function 0', 'imports as ESM');
  await writeFile(join(app, 'cjs.cjs'), "import('smartproxy').then(({ SmartProxy }) => console.log(typeof SmartProxy));\n");
  t.equal((await run(process.execPath, ['cjs.cjs'], { cwd: app })).stdout.trim(), 'function', 'CommonJS loads it with import()');

  const bin = join(app, 'node_modules', '.bin', 'smartproxy');
  const validated = await run(bin, ['validate', join(app, 'node_modules', 'smartproxy', 'examples', 'proxy.json')], { cwd: app });
  t.match(validated.stdout, /proxy\.json: 2 routes, valid/, 'the bin validates the shipped example (without pino-pretty installed)');
  t.ok((await readdir(join(app, 'node_modules'))).every((name) => name !== 'pino-pretty'), 'installed without the optional pretty printer');
  const installed = await readdir(join(app, 'node_modules'));
  t.notOk(installed.includes('redis') || installed.includes('@redis'), 'redis is not installed with it (an optional peer), and the imports above worked without it');
  await writeFile(join(app, 'redis.mjs'), "import('smartproxy/redis').then(() => console.log('loaded'), (e) => console.log(e.code, /'redis'/.test(e.message)));\n");
  t.equal((await run(process.execPath, ['redis.mjs'], { cwd: app })).stdout.trim(), 'ERR_MODULE_NOT_FOUND true', 'smartproxy/redis without redis installed names the missing package');
});
