// `smartproxy validate` prints warnings and still exits 0; `smartproxy routes`
// prints the graph as a tree, warnings under the routes they concern.
import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const cli = ['--import', 'tsx', join(root, 'ts', 'cli', 'main.ts')];

function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'], cwd: root });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c));
    child.stderr.on('data', (c: Buffer) => (stderr += c));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const forward = (port: number) => ({ type: 'forward', target: { host: '127.0.0.1', port } });

/** A config with one of each warning: a bare TCP relay joined by HTTP, a shadowed path route on two ports, a redirect to itself. */
const withWarnings = {
  routes: [
    { name: 'smtp', match: { ports: 2525 }, action: forward(25) },
    { name: 'web', match: { ports: 2525, domains: 'w.test' }, action: forward(3000) },
    { name: 'api', priority: 1, match: { ports: [8080, 8443], path: '/api/*' }, action: { type: 'static', static: { body: 'api' } } },
    { name: 'api-v1', match: { ports: [8080, 8443], path: '/api/v1/*' }, action: { type: 'static', static: { body: 'v1' } } },
    { name: 'secure', match: { ports: 8443, domains: 's.test' }, action: { ...forward(3443), tls: { mode: 'passthrough' } } },
    { name: 'loop', match: { ports: 80 }, action: { type: 'redirect', redirect: { to: 'http://{domain}{path}' } } },
  ],
};

t.test('the example config: valid, no warnings, and its tree', async (t) => {
  const valid = await runCli(['validate', join('examples', 'proxy.json')]);
  t.equal(valid.code, 0, valid.stderr);
  t.match(valid.stdout, /2 routes, valid\n$/);
  const tree = await runCli(['routes', '--config', join('examples', 'proxy.json')]);
  t.equal(tree.code, 0, tree.stderr);
  t.equal(
    tree.stdout,
    [
      'examples/proxy.json: 2 routes on 1 port, 0 warnings',
      'port 8080  http  2 routes',
      '  http',
      '  ├─ app    app.localhost  → forward 127.0.0.1:3000',
      '  └─ hello  *  /hello  → static',
      '',
    ].join('\n'),
    'port → mode → routes in match order (the domain route first)',
  );
});

t.test('warnings: printed by validate (exit 0) and beside their routes in the tree', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'smartproxy-graph-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'proxy.json');
  await writeFile(file, JSON.stringify(withWarnings));

  const valid = await runCli(['validate', file]);
  t.equal(valid.code, 0, 'warnings never fail validation');
  t.match(valid.stdout, /6 routes, valid, 3 warnings/);
  t.match(valid.stdout, /smtp \(protocol\): route 'smtp' is a plain TCP forward on port 2525, which HTTP route 'web' also uses/);
  t.match(valid.stdout, /api-v1 \(shadowed\): route 'api-v1' can never match on ports 8080, 8443: route 'api'/);
  t.match(valid.stdout, /loop \(redirect-loop\)/);

  const tree = await runCli(['routes', '--config', file]);
  t.equal(tree.code, 0, tree.stderr);
  const lines = tree.stdout.split('\n');
  t.equal(lines[0], `${file}: 6 routes on 4 ports, 3 warnings`);
  const at = (text: string, from = 0) => lines.findIndex((line, i) => i >= from && line.includes(text));
  const tlsPort = at('port 8443  tls+http  3 routes');
  t.ok(tlsPort > 0, 'a port with TLS and HTTP routes says so');
  t.same(
    lines.slice(tlsPort + 1, tlsPort + 7).map((l) => l.trim().split('  ')[0]),
    ['tls', '└─ secure', 'http', '├─ api', '└─ api-v1', '! shadowed: route \'api-v1\' can never match on ports 8080, 8443: route \'api\' matches every path \'/api/v1/*\' matches (its path is \'/api/*\'), and has a higher priority (1 > 0)'],
    'TLS routes, then HTTP routes in match order, the warning under the route it concerns',
  );
  const relay = at('port 2525');
  t.match(lines[at('└─ smtp', relay) + 1], /! protocol: route 'smtp'/);
  t.match(lines[at('└─ loop') + 1], /! redirect-loop/);
});

t.test('routes: a bad file is reported like validate does', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'smartproxy-graph-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'bad.json');
  await writeFile(file, JSON.stringify({ routes: [{ name: 'web', match: { ports: 70000 }, action: forward(1) }] }));
  const result = await runCli(['routes', '--config', file]);
  t.equal(result.code, 1);
  t.match(result.stderr, /web match\.ports: 70000 is not a port/);
  t.equal((await runCli(['routes'])).code, 2, 'no file: usage');
});
