// Two proxy processes on one certificate directory and one shared challenge
// store, as a pm2 or cluster pair behind one address. Before: the process
// that holds port 80 answered 301/404 for tokens the other one placed (the
// challenge route existed only where an order was pending), and both
// processes ordered the same names. Now whichever holds the ACME port
// answers every token in the shared store, and the per-name lock makes the
// second process load the first one's certificate instead of ordering.
import t from 'tap';
import acme from 'acme-client';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { IRouteConfig } from '../ts/index.js';
import { startHttpBackend } from './helpers/backends.js';
import { autoRoute, fetchCertificate, startAcmeEnv } from './helpers/acme-env.js';
import { getFreePort } from './helpers/free-port.js';

const axiosDefaults = acme.axios.defaults as typeof acme.axios.defaults & { acmeSettings: Record<string, unknown> };
axiosDefaults.acmeSettings = { ...axiosDefaults.acmeSettings, retryMaxAttempts: 0 };

interface ChildEvent {
  event: string;
  domain?: string;
  port?: number;
  message?: string;
  line?: { msg?: string; domain?: string };
}

interface Child {
  events: ChildEvent[];
  /** SIGKILL, as a crash would. */
  kill(): void;
  exited: Promise<unknown>;
  /** Resolves with the first event (after those seen) that `match` accepts. */
  waitFor(match: (e: ChildEvent) => boolean, timeoutMs?: number): Promise<ChildEvent>;
}

function startChild(t: { teardown(fn: () => unknown): void }, config: unknown): Child {
  const script = join(import.meta.dirname, 'helpers', 'proxy-child.ts');
  const child = spawn(process.execPath, ['--import', 'tsx', script, JSON.stringify(config)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  t.teardown(async () => {
    child.stdin.end();
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  });
  const events: ChildEvent[] = [];
  const waiters = new Set<(e: ChildEvent) => void>();
  createInterface({ input: child.stdout }).on('line', (line) => {
    const event = JSON.parse(line) as ChildEvent;
    events.push(event);
    for (const waiter of waiters) waiter(event);
  });
  return {
    events,
    kill: () => void child.kill('SIGKILL'),
    exited,
    waitFor: (match, timeoutMs = 60_000) =>
      new Promise((resolve, reject) => {
        const seen = events.find(match);
        if (seen !== undefined) return resolve(seen);
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(new Error(`no matching event within ${timeoutMs} ms; got ${events.filter((e) => e.event !== 'log').map((e) => `${e.event} ${e.domain ?? e.port ?? ''}`).join(', ')}`));
        }, timeoutMs);
        const waiter = (event: ChildEvent) => {
          if (!match(event)) return;
          clearTimeout(timer);
          waiters.delete(waiter);
          resolve(event);
        };
        waiters.add(waiter);
      }),
  };
}

const issued = (domain: string) => (e: ChildEvent) => (e.event === 'certificate-issued' || e.event === 'certificate-failed') && e.domain === domain;

t.test('two processes, one store, one shared challenge store: the port-80 holder answers the other’s challenge; a name is ordered once', async (t) => {
  const env = await startAcmeEnv(t);
  const backend = await startHttpBackend('app');
  t.teardown(() => backend.close());
  const challengeDir = await mkdtemp(join(tmpdir(), 'smartproxy-challenges-'));
  t.teardown(() => rm(challengeDir, { recursive: true, force: true }));
  const acmeOptions = env.acme({ timeoutMs: 10_000 });
  const [tlsA, tlsB, tlsC] = [env.tlsPort, await getFreePort(), await getFreePort()];
  const site: IRouteConfig = { name: 'site', match: { ports: env.httpPort, domains: 'site.test' }, action: { type: 'forward', target: { host: '127.0.0.1', port: backend.port } } };

  // A holds the ACME port through a user route, and orders shared.test itself.
  const a = startChild(t, { acme: acmeOptions, challengeDir, routes: [site, autoRoute(tlsA, 'shared.test', backend.port)] });
  t.equal((await a.waitFor(issued('shared.test'))).event, 'certificate-issued', 'A ordered shared.test');

  // B cannot bind the ACME port; its own order is answered by A from the shared store; shared.test it loads.
  const b = startChild(t, { acme: acmeOptions, challengeDir, routes: [autoRoute(tlsB, ['shared.test', 'b-only.test'], backend.port)] });
  const bOnly = await b.waitFor(issued('b-only.test'));
  t.equal(bOnly.event, 'certificate-issued', `B's certificate was issued (${bOnly.message ?? ''}), its challenge answered by A`);
  t.notOk(b.events.some((e) => e.event === 'port-bound' && e.port === env.httpPort), 'B never held the ACME port');
  await b.waitFor((e) => e.event === 'log' && e.line?.domain === 'shared.test' && /serving stored certificate/.test(e.line.msg ?? ''), 10_000);
  t.notOk(b.events.some((e) => e.event === 'certificate-issued' && e.domain === 'shared.test'), 'B did not order shared.test again: it serves A’s');
  const roots = await env.pebble.getRoots();
  const [fromA, fromB] = [await fetchCertificate(tlsA, 'shared.test', roots), await fetchCertificate(tlsB, 'shared.test', roots)];
  t.equal(fromB.leaf.serialNumber, fromA.leaf.serialNumber, 'both serve the one certificate');

  // B and C start together on a name neither has: the lock lets one order it, the other waits and loads it.
  const c = startChild(t, { acme: acmeOptions, challengeDir, routes: [autoRoute(tlsC, 'race.test', backend.port)] });
  const b2 = startChild(t, { acme: acmeOptions, challengeDir, routes: [autoRoute(await getFreePort(), 'race.test', backend.port)] });
  const loaded = (e: ChildEvent) => e.event === 'log' && e.line?.domain === 'race.test' && /another process|serving stored certificate/.test(e.line.msg ?? '');
  const settle = (child: Child) => child.waitFor((e) => issued('race.test')(e) || loaded(e));
  const outcomes = await Promise.all([settle(c), settle(b2)]);
  const orders = outcomes.filter((e) => e.event === 'certificate-issued').length;
  t.equal(orders, 1, `race.test was ordered once between two processes starting together (${outcomes.map((e) => e.event === 'log' ? e.line?.msg : e.event).join(' / ')})`);
  t.notOk(outcomes.some((e) => e.event === 'certificate-failed'), 'and nothing failed');
});

t.test('a process killed -9 while ordering: its lock goes stale and the next process orders the name', async (t) => {
  const env = await startAcmeEnv(t);
  const backend = await startHttpBackend('app');
  t.teardown(() => backend.close());
  const challengeDir = await mkdtemp(join(tmpdir(), 'smartproxy-challenges-'));
  t.teardown(() => rm(challengeDir, { recursive: true, force: true }));
  const acmeOptions = env.acme({ timeoutMs: 60_000 });
  const routes = [autoRoute(env.tlsPort, 'killed.test', backend.port)];

  env.pebble.freeze(); // the order hangs with the lock held
  t.teardown(() => env.pebble.thaw());
  const a = startChild(t, { acme: acmeOptions, challengeDir, routes });
  await a.waitFor((e) => e.event === 'log' && e.line?.domain === 'killed.test' && /ordering certificate/.test(e.line.msg ?? ''), 30_000);
  a.kill();
  await a.exited;
  t.ok((await readdir(join(env.storeDir, 'locks'))).includes('killed.test.lock'), 'the killed process left its lock file behind');
  env.pebble.thaw();

  const started = Date.now();
  const b = startChild(t, { acme: acmeOptions, challengeDir, routes });
  const outcome = await b.waitFor(issued('killed.test'), 60_000);
  t.equal(outcome.event, 'certificate-issued', `the next process issued it ${Date.now() - started} ms after starting (lease 10 s)`);
});
