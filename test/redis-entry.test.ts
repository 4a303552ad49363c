// The Redis client loads only for those who import smartproxy/redis: the
// main entry's module graph never reaches it. And `store` is the only store
// when given: acme.certificateStore or acme.challengeStore beside it is an
// InvalidOptionError, as is a `store` that is no ISharedStore.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { RedisStore } from '../ts/redis/index.js';
import { InvalidOptionError, MemoryCertificateStore, MemoryChallengeStore, SmartProxy, type ISharedStore } from '../ts/index.js';

const root = join(import.meta.dirname, '..');

/** Every bare module a source file reaches through static and dynamic imports, following relative ones. */
function bareImports(entry: string): Set<string> {
  const seen = new Set<string>();
  const bare = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const source = readFileSync(file, 'utf8');
    for (const match of source.matchAll(/(?:from|import)\s*\(?\s*['"]([^'"]+)['"]/g)) {
      const specifier = match[1]!;
      if (specifier.startsWith('.')) visit(resolve(dirname(file), specifier.replace(/\.js$/, '.ts')));
      else bare.add(specifier);
    }
  };
  visit(entry);
  return bare;
}

t.test('the main entry never imports the Redis client; smartproxy/redis does', async (t) => {
  const main = bareImports(join(root, 'ts', 'index.ts'));
  t.same([...main].filter((m) => m === 'redis' || m.startsWith('@redis/')), [], 'nothing under ts/index.ts imports redis');
  t.ok(bareImports(join(root, 'ts', 'redis', 'index.ts')).has('redis'), 'ts/redis/index.ts does (the check can see it)');
  const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { exports: Record<string, { import: string; types: string }>; dependencies: Record<string, string>; peerDependenciesMeta: Record<string, { optional: boolean }> };
  t.same(manifest.exports['./redis'], { types: './dist/redis/index.d.ts', import: './dist/redis/index.js' }, 'exported as smartproxy/redis, with types');
  t.notOk(manifest.dependencies.redis, 'redis is not a dependency of every install');
  t.ok(manifest.peerDependenciesMeta.redis?.optional, 'it is an optional peer');
});

const fakeStore = (): ISharedStore => ({
  certificates: new MemoryCertificateStore(),
  challenges: Object.assign(new MemoryChallengeStore(), { shared: true as const, setAlpn: async () => {}, getAlpn: async () => undefined, deleteAlpn: async () => {} }),
  onCertificateChanged: () => () => {},
  onAvailable: () => () => {},
});

t.test('store supplies the certificate and challenge stores: giving either too is refused', async (t) => {
  for (const extra of [{ certificateStore: './certs' }, { challengeStore: new MemoryChallengeStore() }]) {
    const option = Object.keys(extra)[0]!;
    t.throws(() => new SmartProxy({ routes: [], store: fakeStore(), acme: { email: 'a@b.test', ...extra } }), InvalidOptionError, `acme.${option} with store`);
    try {
      new SmartProxy({ routes: [], store: fakeStore(), acme: { email: 'a@b.test', ...extra } });
    } catch (error) {
      t.equal((error as InvalidOptionError).problems[0]?.option, `acme.${option}`, 'the problem names the option to leave out');
    }
  }
  t.throws(() => new SmartProxy({ routes: [], store: {} as ISharedStore }), InvalidOptionError, 'a store that is no ISharedStore');
  const proxy = new SmartProxy({ routes: [], store: fakeStore(), acme: { email: 'a@b.test' }, logLevel: 'silent' });
  t.ok(proxy, 'store alone is accepted');
});

t.test('RedisStore checks its options before connecting: every problem in one InvalidOptionError', async (t) => {
  const thrown = t.throws(() => new RedisStore({ url: 'localhost:6379', prefix: 'a{b}', leaseMs: -1 }), InvalidOptionError) as InvalidOptionError;
  t.same(thrown.problems.map((p) => p.option), ['RedisStore.url', 'RedisStore.prefix', 'RedisStore.leaseMs'], 'each problem named');
});
