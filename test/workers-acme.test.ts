// The workers option with ACME against Pebble: one order per name for the
// group (run by the control plane), the certificate served by every
// worker, and HTTP-01 / TLS-ALPN-01 validated whichever worker accepts the
// CA's connection (each answer is acknowledged by every worker
// before the CA is told to validate).
import t from 'tap';
import { pino } from 'pino';
import type { IRouteConfig } from '../ts/index.js';
import { startHttpBackend } from './helpers/backends.js';
import { autoRoute, fetchCertificate, once, startAcmeEnv } from './helpers/acme-env.js';
import { servedBetween, startWorkerProxy, workerCounters } from './helpers/workers.js';

/** A logger that keeps every line's message, to count orders. */
function recordingLogger() {
  const messages: string[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void messages.push((JSON.parse(line) as { msg: string }).msg) });
  return { logger, orders: () => messages.filter((m) => m === 'ordering certificate').length };
}

/**
 * Twenty handshakes for `domain`: how many verified against `root` with the
 * right name, and how many each worker served. Four at a time, not twenty at
 * once: the workers accept from one shared socket, and a burst of twenty
 * can all be taken by whichever worker the kernel scheduled first (the
 * spread over many connections is checked in workers-listening.test.ts).
 */
async function twentyHandshakes(proxy: Awaited<ReturnType<typeof startWorkerProxy>>, port: number, domain: string, root: string): Promise<{ verified: number; byWorker: number[] }> {
  const before = await workerCounters(proxy);
  const served: Awaited<ReturnType<typeof fetchCertificate>>[] = [];
  for (let wave = 0; wave < 5; wave++) served.push(...(await Promise.all(Array.from({ length: 4 }, () => fetchCertificate(port, domain, root)))));
  const verified = served.filter((s) => s.authorized && s.leaf.subjectAltName === `DNS:${domain}`).length;
  const byWorker = servedBetween(before, await workerCounters(proxy, before.reduce((s, w) => s + w.totalConnections, 0) + 20));
  return { verified, byWorker: [...byWorker.values()] };
}

t.test('HTTP-01 with two workers: one order, every worker serves the certificate', { timeout: 90_000 }, async (t) => {
  const env = await startAcmeEnv(t);
  const backend = await startHttpBackend('app');
  t.teardown(() => backend.close());
  const { logger, orders } = recordingLogger();
  const routes: IRouteConfig[] = [
    { name: 'to-https', match: { ports: env.httpPort }, action: { type: 'redirect', redirect: { to: 'https://{domain}{path}' } } },
    autoRoute(env.tlsPort, 'w1.test', backend.port),
  ];
  const proxy = await startWorkerProxy(t, routes, { acme: env.acme(), logger });
  const issued = await once<{ domain: string }>(proxy, 'certificate-issued', 60_000);
  t.equal(issued.domain, 'w1.test');
  t.equal(orders(), 1, 'one order for the group');
  t.equal(proxy.certificateManager.getCertificateStatus('w1.test')?.status, 'valid');
  const { verified, byWorker } = await twentyHandshakes(proxy, env.tlsPort, 'w1.test', await env.pebble.getRoots());
  t.equal(verified, 20, "20 of 20 handshakes present the certificate, verified against pebble's root");
  t.same(byWorker.map((n) => n >= 2), [true, true], `both workers served it (${byWorker.join(', ')})`);
});

t.test('TLS-ALPN-01 with two workers: validated on a port every worker serves', { timeout: 90_000 }, async (t) => {
  const env = await startAcmeEnv(t);
  const backend = await startHttpBackend('app');
  t.teardown(() => backend.close());
  const { logger, orders } = recordingLogger();
  const proxy = await startWorkerProxy(t, [autoRoute(env.tlsPort, 'w2.test', backend.port)], { acme: env.acme({ challengeTypes: ['tls-alpn-01'] }), logger });
  const issued = await once<{ domain: string }>(proxy, 'certificate-issued', 60_000);
  t.equal(issued.domain, 'w2.test');
  t.equal(orders(), 1, 'one order for the group');
  t.same(proxy.getListeningPorts(), [env.tlsPort], 'port 80 (the HTTP-01 port) never bound');
  const { verified, byWorker } = await twentyHandshakes(proxy, env.tlsPort, 'w2.test', await env.pebble.getRoots());
  t.equal(verified, 20, "20 of 20 handshakes present the certificate, verified against pebble's root");
  t.same(byWorker.map((n) => n >= 2), [true, true], `both workers served it (${byWorker.join(', ')})`);
});
