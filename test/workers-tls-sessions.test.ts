// The workers option, TLS sessions: the control plane's ticket keys are in
// every worker, so a session made on one worker resumes on the other
// (the workers accept from one shared socket and the kernel gives each
// connection to one of them, so the file only asks that each took some).
import t from 'tap';
import tls from 'node:tls';
import { createCertificateAuthority, createSelfSignedCertificate } from '../ts/index.js';
import { startHttpBackend } from './helpers/backends.js';
import { getFreePort } from './helpers/free-port.js';
import { servedBetween, startWorkerProxy, workerCounters } from './helpers/workers.js';

/** A TLS 1.3 connection offering `session`: whether it resumed, and the ticket the server sent when it sent one. */
function connect(port: number, ca: string, session: Buffer | undefined): Promise<{ reused: boolean; ticket: Buffer | undefined }> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername: 'tls.test', ca, session, minVersion: 'TLSv1.3' });
    let ticket: Buffer | undefined;
    // TLS 1.3 sends tickets after the handshake, and none on a resumption: wait briefly for one.
    socket.on('session', (t: Buffer) => (ticket = t));
    socket.once('secureConnect', () => {
      setTimeout(() => {
        resolve({ reused: socket.isSessionReused(), ticket });
        socket.end();
      }, 100);
    });
    socket.on('error', reject);
  });
}

t.test('a TLS session resumes on any worker', { timeout: 60_000 }, async (t) => {
  const ca = createCertificateAuthority('workers sessions CA');
  const certificate = createSelfSignedCertificate({ domains: ['tls.test'], issuer: ca });
  const app = await startHttpBackend('app');
  t.teardown(() => app.close());
  const port = await getFreePort();
  const proxy = await startWorkerProxy(t, [{ name: 'tls', match: { ports: port, domains: 'tls.test' }, action: { type: 'forward', target: { host: '127.0.0.1', port: app.port }, tls: { mode: 'terminate', certificate } } }]);
  const before = await workerCounters(proxy);
  const first = await connect(port, ca.cert, undefined);
  t.ok(first.ticket, 'the first connection gets a session ticket');
  let ticket = first.ticket;
  const reused: boolean[] = [];
  for (let i = 0; i < 12; i++) {
    const result = await connect(port, ca.cert, ticket);
    reused.push(result.reused);
    ticket = result.ticket ?? ticket;
  }
  t.same(reused, Array(12).fill(true), 'twelve resumptions in a row, whichever worker took each');
  const served = servedBetween(before, await workerCounters(proxy, before.reduce((s, w) => s + w.totalConnections, 0) + 13));
  t.same([...served.values()].map((n) => n >= 1), [true, true], `both workers took part (${[...served.values()].join(', ')})`);
});
