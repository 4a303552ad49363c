// Issue 13, item 7: terminate-and-reencrypt verifies the upstream's
// certificate by default (it used to send rejectUnauthorized: false with no
// way to verify). `ca` names the CAs to trust, `servername` the name to
// check, `verify: false` opts out and is logged once per route. Pooled
// upstream sockets never cross between routes verified differently.
import t from 'tap';
import https from 'node:https';
import { pino } from 'pino';
import type { TLSSocket } from 'node:tls';
import { createCertificateAuthority, createSelfSignedCertificate, type IRouteConfig, type IUpstreamTls } from '../ts/index.js';
import { exchange, httpsGet, serve, startProxy, tlsConnect, trackSockets, type Teardown } from './helpers/data-path.js';
import { getFreePort } from './helpers/free-port.js';

const clientCa = createCertificateAuthority('client-facing CA');
const front = createSelfSignedCertificate({ domains: ['a.test', 'b.test', 'c.test', 'd.test'], issuer: clientCa });
// The upstream's CA is one no system store trusts.
const privateCa = createCertificateAuthority('private upstream CA');
const upstreamCert = createSelfSignedCertificate({ domains: ['a.test', 'b.test', 'backend.internal'], issuer: privateCa });

async function startUpstream(t: Teardown) {
  const servernames: (string | false)[] = [];
  const server = trackSockets(
    https.createServer({ key: upstreamCert.key, cert: upstreamCert.cert }, (req, res) => {
      servernames.push((req.socket as TLSSocket).servername ?? false);
      res.end('verified upstream');
    }),
  );
  server.on('upgrade', (_req, socket) => socket.end('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n'));
  return Object.assign(await serve(t, server), { servernames });
}

function reencrypt(name: string, port: number, domain: string, upstreamPort: number, upstream?: IUpstreamTls): IRouteConfig {
  return {
    name,
    match: { ports: port, domains: domain },
    action: { type: 'forward', target: { host: '127.0.0.1', port: upstreamPort }, tls: { mode: 'terminate-and-reencrypt', certificate: front, ...(upstream ? { upstream } : {}) } },
  };
}

const get = (port: number, servername: string) => httpsGet(port, { servername, ca: clientCa.cert });

t.test('an upstream no trusted CA signed gets 502; with its ca, 200', async (t) => {
  const upstream = await startUpstream(t);
  const port = await getFreePort();
  await startProxy(t, [reencrypt('untrusted', port, 'a.test', upstream.port), reencrypt('trusted', port, 'b.test', upstream.port, { ca: privateCa.cert })]);
  t.equal((await get(port, 'a.test')).status, 502, 'verified by default against the system store: refused');
  const trusted = await get(port, 'b.test');
  t.equal(trusted.status, 200, 'verified against the route ca');
  t.equal(trusted.body, 'verified upstream');
  t.same(upstream.servernames, ['b.test'], 'only the verified route reached the upstream, with the request host as SNI');
});

t.test('servername is the name sent and checked; a wrong one gets 502', async (t) => {
  const upstream = await startUpstream(t);
  const port = await getFreePort();
  await startProxy(t, [
    reencrypt('wrong-name', port, 'a.test', upstream.port, { ca: [privateCa.cert], servername: 'wrong.internal' }),
    reencrypt('right-name', port, 'b.test', upstream.port, { ca: [privateCa.cert], servername: 'backend.internal' }),
  ]);
  t.equal((await get(port, 'a.test')).status, 502, 'certificate does not cover wrong.internal');
  t.equal((await get(port, 'b.test')).status, 200, 'certificate covers backend.internal');
  t.same(upstream.servernames, ['backend.internal']);
});

t.test('verify: false is an explicit opt-out, logged once per route, and its pooled sockets are never reused by a verified route', async (t) => {
  const upstream = await startUpstream(t);
  const port = await getFreePort();
  const lines: { msg: string; route?: string }[] = [];
  const logger = pino({ level: 'warn' }, { write: (line: string) => void lines.push(JSON.parse(line) as { msg: string; route?: string }) });
  // One upstream, one SNI for all three routes: only the verification settings tell their pooled sockets apart.
  const name = 'backend.internal';
  const routes = [
    reencrypt('opt-out', port, 'a.test', upstream.port, { verify: false, servername: name }),
    reencrypt('verified', port, 'b.test', upstream.port, { servername: name }),
    reencrypt('other-ca', port, 'c.test', upstream.port, { ca: clientCa.cert, servername: name }),
    reencrypt('right-ca', port, 'd.test', upstream.port, { ca: privateCa.cert, servername: name }),
  ];
  const proxy = await startProxy(t, routes, { logger });
  t.equal((await get(port, 'a.test')).status, 200, 'unverified route served');
  t.equal((await get(port, 'b.test')).status, 502, 'verified route refuses, though an unverified socket to the same upstream and SNI sits in the pool');
  t.equal((await get(port, 'd.test')).status, 200, 'route with the right CA served');
  t.equal((await get(port, 'c.test')).status, 502, 'route with another CA refuses, though a socket verified against the right one sits in the pool');
  t.equal((await get(port, 'a.test')).status, 200);
  await proxy.updateRoutes(routes);
  const warnings = lines.filter((line) => /not verified/.test(line.msg));
  t.equal(warnings.length, 1, 'one warning, not one per request or per update');
  t.equal(warnings[0]?.route, 'opt-out');
});

t.test('WebSocket upgrades through re-encrypt are verified too', async (t) => {
  const upstream = await startUpstream(t);
  const port = await getFreePort();
  await startProxy(t, [reencrypt('untrusted', port, 'a.test', upstream.port), reencrypt('trusted', port, 'b.test', upstream.port, { ca: privateCa.cert })]);
  const upgrade = (host: string) => `GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`;
  const untrusted = await tlsConnect(port, { servername: 'a.test', ca: clientCa.cert });
  t.match(await exchange(untrusted, upgrade('a.test'), 12), /^HTTP\/1\.1 502/, 'untrusted upstream: 502');
  untrusted.destroy();
  const trusted = await tlsConnect(port, { servername: 'b.test', ca: clientCa.cert });
  t.match(await exchange(trusted, upgrade('b.test'), 12), /^HTTP\/1\.1 101/, 'trusted upstream: switched');
  trusted.destroy();
});
