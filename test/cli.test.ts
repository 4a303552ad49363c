import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { httpGet, startHttpBackend } from './helpers/backends.js';
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

async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
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
