import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { httpGet, startHttpBackend } from './helpers/backends.js';
import { eventually } from './helpers/data-path.js';
import { getFreePort } from './helpers/free-port.js';

const cli = ['--import', 'tsx', join(import.meta.dirname, '..', 'ts', 'cli', 'main.ts')];

function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c));
    child.stderr.on('data', (c: Buffer) => (stderr += c));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Starts the CLI and resolves once its log says it is running. */
function startCli(t: { teardown(fn: () => unknown): void }, args: string[]): Promise<{ child: ChildProcess; log: () => string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    t.teardown(() => child.exitCode === null && child.kill('SIGKILL'));
    child.stdout!.on('data', (c: Buffer) => {
      out += c;
      if (out.includes('smartproxy running')) resolve({ child, log: () => out });
    });
    child.stderr!.on('data', (c: Buffer) => (out += c));
    child.on('exit', (code) => reject(new Error(`cli exited ${code}: ${out}`)));
  });
}

/** Waits (with the shared `eventually`) and fails loudly, naming what never happened. */
async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  if (!(await eventually(check, 5000))) throw new Error(`timed out waiting for ${what}`);
}

/** Saves the way editors and deploy tools do: a temporary file renamed over the old one. */
async function atomicSave(file: string, content: string): Promise<void> {
  const temporary = `${file}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  await writeFile(temporary, content);
  await rename(temporary, file);
}

function routesFor(port: number, backendPort: number) {
  return { routes: [{ name: 'site', match: { ports: port, domains: 'site.test' }, action: { type: 'forward', target: { host: '127.0.0.1', port: backendPort } } }] };
}

t.test('validate prints every problem with route name and field, exits non-zero', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'smartproxy-cli-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const bad = join(dir, 'bad.json');
  await writeFile(bad, JSON.stringify({ routes: [{ name: 'web', match: { ports: 70000 }, action: { type: 'forward' } }, { match: { ports: 80, domain: 'x' }, action: { type: 'nope' } }], extra: 1 }));
  const result = await runCli(['validate', bad]);
  t.equal(result.code, 1);
  t.match(result.stderr, /web match\.ports: 70000 is not a port/);
  t.match(result.stderr, /web action\.target: is required/);
  t.match(result.stderr, /routes\[1\] match\.domain: is not a known field \(did you mean 'domains'\?\)/);
  t.match(result.stderr, /routes\[1\] action\.type: should be one of/);
  t.match(result.stderr, /config extra: is not a known option/);

  const good = join(dir, 'good.yaml');
  await writeFile(good, 'routes:\n  - name: web\n    match: { ports: 8080, domains: a.test }\n    action: { type: forward, target: { host: 127.0.0.1, port: 3000 } }\n');
  const ok = await runCli(['validate', good]);
  t.equal(ok.code, 0, ok.stderr);
  t.match(ok.stdout, /1 route, valid/);
  t.equal((await runCli([])).code, 2, 'no arguments: usage');
});

t.test('run, reload on SIGHUP and on file change, keep routes on a bad file, drain on SIGTERM', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'smartproxy-cli-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const a = await startHttpBackend('a');
  const b = await startHttpBackend('b');
  t.teardown(() => a.close());
  t.teardown(() => b.close());
  const port = await getFreePort();
  const file = join(dir, 'proxy.json');
  await writeFile(file, JSON.stringify({ ...routesFor(port, a.port), host: '127.0.0.1' }));
  const { child, log } = await startCli(t, ['--config', file, '--watch']);
  const who = async () => (await httpGet(port, { host: 'site.test' })).json().name;
  t.equal(await who(), 'a');

  await writeFile(file, JSON.stringify({ ...routesFor(port, b.port), host: '127.0.0.1' }));
  await until(async () => (await who()) === 'b', 'the watched file to be applied');
  t.pass('file change applied');

  await writeFile(file, '{ "routes": [ { "match": { "ports": 0 } } ] }');
  child.kill('SIGHUP');
  await until(async () => log().includes('config not applied'), 'the bad file to be reported');
  t.equal(await who(), 'b', 'running routes kept after a bad file');

  await writeFile(file, JSON.stringify({ ...routesFor(port, a.port), host: '127.0.0.1' }));
  child.kill('SIGHUP');
  await until(async () => (await who()) === 'a', 'SIGHUP to re-apply');
  t.pass('SIGHUP applied');

  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  child.kill('SIGTERM');
  t.equal(await exited, 0, 'exits 0 after draining');
  const rebind = net.createServer();
  await new Promise<void>((resolve, reject) => rebind.once('error', reject).listen(port, '127.0.0.1', resolve));
  rebind.close();
  t.pass('port free after exit');
});

t.test('validate and --config run the same checks: a file validate passes starts, one it refuses does not', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'smartproxy-cli-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const route = { name: 'web', match: { ports: 8080, domains: 'a.test' }, action: { type: 'forward', target: { host: '127.0.0.1', port: 3000 } } };
  const cases: [string, object, RegExp][] = [
    ['timeouts', { routes: [route], timeouts: { headerMs: 5 } }, /config timeouts\.headerMs: is not a known option \(did you mean 'headersMs'\?\)/],
    ['acme', { routes: [route], acme: { useProdution: true } }, /config acme\.useProdution: is not a known option \(did you mean 'useProduction'\?\)\n\s*config acme\.email: is required/],
    ['logger', { routes: [route], logger: {} }, /config logger: can only be given in code/],
    ['auto certificate without acme', { routes: [{ ...route, match: { ports: 8443, domains: 'a.test' }, action: { ...route.action, tls: { mode: 'terminate', certificate: 'auto' } } }] }, /web action\.tls\.certificate: 'auto' needs the acme option/],
  ];
  for (const [what, config, expected] of cases) {
    const file = join(dir, `${what.replace(/\W/g, '-')}.json`);
    await writeFile(file, JSON.stringify(config));
    const checked = await runCli(['validate', file]);
    t.equal(checked.code, 1, `validate refuses ${what}`);
    t.match(checked.stderr, expected);
    const started = await runCli(['--config', file]);
    t.equal(started.code, 1, `--config refuses ${what} too`);
    t.match(started.stderr, expected);
  }
});

t.test('--watch follows the file across atomic saves; a reload applies logLevel live and names what needs a restart', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'smartproxy-cli-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const a = await startHttpBackend('a');
  const b = await startHttpBackend('b');
  t.teardown(() => a.close());
  t.teardown(() => b.close());
  const port = await getFreePort();
  const file = join(dir, 'proxy.json');
  await writeFile(file, JSON.stringify({ ...routesFor(port, a.port), host: '127.0.0.1' }));
  const { child, log } = await startCli(t, ['--config', file, '--watch']);
  const who = async () => (await httpGet(port, { host: 'site.test' })).json().name;
  t.equal(await who(), 'a');
  for (const [backend, name] of [[b, 'b'], [a, 'a'], [b, 'b']] as const) {
    await atomicSave(file, JSON.stringify({ ...routesFor(port, backend.port), host: '127.0.0.1' }));
    await until(async () => (await who()) === name, `atomic save switching to ${name}`);
    t.pass(`atomic save applied (now ${name})`);
  }

  t.notMatch(log(), /"level":20/, 'no debug lines at the default level');
  await atomicSave(file, JSON.stringify({ ...routesFor(port, b.port), host: '0.0.0.0', logLevel: 'debug', timeouts: { headersMs: 20000 } }));
  await until(async () => log().includes('need a restart'), 'the restart warning');
  const warning = log().split('\n').find((line) => line.includes('need a restart'))!;
  t.match(JSON.parse(warning), { name: 'smartproxy', needRestart: ['host'] }, 'host is named; logLevel and timeouts are not: they were applied');
  // A second route on the same port takes a reference on a listener already bound: the proxy logs that at debug.
  const two = { routes: [...routesFor(port, b.port).routes, { name: 'other', match: { ports: port, domains: 'other.test' }, action: { type: 'forward', target: { host: '127.0.0.1', port: a.port } } }] };
  await atomicSave(file, JSON.stringify({ ...two, host: '0.0.0.0', logLevel: 'debug', timeouts: { headersMs: 20000 } }));
  await until(async () => log().includes('reusing it'), 'a debug line from the proxy after logLevel: debug');
  t.match(JSON.parse(log().split('\n').find((line) => line.includes('reusing it'))!), { level: 20, name: 'smartproxy', port }, 'the proxy logs at the new level');

  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  child.kill('SIGTERM');
  t.equal(await exited, 0);
});
