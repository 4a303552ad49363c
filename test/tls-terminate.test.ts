import t from 'tap';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { createHash, randomBytes, X509Certificate } from 'node:crypto';
import { createCertificateAuthority, createSelfSignedCertificate, type IRouteConfig, type ISocketHandlerContext } from '../ts/index.js';
import { startHttpBackend } from './helpers/backends.js';
import { exchange, httpsGet, serve, startProxy, tlsConnect, trackSockets } from './helpers/data-path.js';
import { getFreePort } from './helpers/free-port.js';

const ca = createCertificateAuthority('terminate test CA');
const certA = createSelfSignedCertificate({ domains: ['a.test'], issuer: ca });
const certB = createSelfSignedCertificate({ domains: ['b.test'], issuer: ca });
const certAB = createSelfSignedCertificate({ domains: ['shared-a.test', 'shared-b.test'], issuer: ca });

function terminate(name: string, port: number, domains: string | string[], target: number, certificate: { key: string; cert: string }, extra: Partial<IRouteConfig> = {}): IRouteConfig {
  return { name, match: { ports: port, domains }, action: { type: 'forward', target: { host: '127.0.0.1', port: target }, tls: { mode: 'terminate', certificate } }, ...extra };
}

t.test('terminate with static certificates for two domains on one port', async (t) => {
  const web = await startHttpBackend('web');
  t.teardown(() => web.close());
  const port = await getFreePort();
  await startProxy(t, [terminate('a', port, 'a.test', web.port, certA), terminate('b', port, 'b.test', web.port, certB)]);
  const a = await httpsGet(port, { servername: 'a.test', ca: ca.cert });
  const b = await httpsGet(port, { servername: 'b.test', ca: ca.cert });
  t.equal(a.subject, 'a.test', 'a.test client sees the a.test certificate');
  t.equal(b.subject, 'b.test', 'b.test client sees the b.test certificate');
  t.equal(a.status, 200);
  t.equal(b.status, 200);
  t.equal(a.alpn, false, 'no ALPN offered, none chosen');
  const h2 = await tlsConnect(port, { servername: 'a.test', ALPNProtocols: ['h2', 'http/1.1'] });
  t.equal(h2.alpnProtocol, 'h2', 'HTTP/2 is chosen when a client offers h2 (issue 16)');
  h2.destroy();
  const h1 = await tlsConnect(port, { servername: 'a.test', ALPNProtocols: ['http/1.1'] });
  t.equal(h1.alpnProtocol, 'http/1.1', 'HTTP/1.1 when that is all the client offers');
  h1.destroy();
});

t.test('terminate-and-reencrypt speaks TLS to the upstream with the request host as SNI', async (t) => {
  const seen: { servername: string | false; xfp: string | undefined; host: string | undefined }[] = [];
  const upstream = await serve(
    t,
    trackSockets(
      https.createServer({ key: certA.key, cert: certA.cert }, (req, res) => {
        seen.push({ servername: (req.socket as TLSSocket).servername ?? false, xfp: req.headers['x-forwarded-proto'] as string | undefined, host: req.headers.host });
        res.end('secure upstream');
      }),
    ),
  );
  const port = await getFreePort();
  await startProxy(t, [
    { name: 're', match: { ports: port, domains: 'a.test' }, action: { type: 'forward', target: { host: '127.0.0.1', port: upstream.port }, tls: { mode: 'terminate-and-reencrypt', certificate: certA, upstream: { ca: ca.cert } } } },
  ]);
  const res = await httpsGet(port, { servername: 'a.test', ca: ca.cert, host: 'a.test:' + port });
  t.equal(res.status, 200);
  t.equal(res.body, 'secure upstream');
  t.equal(res.subject, 'a.test');
  t.same(seen, [{ servername: 'a.test', xfp: 'https', host: `a.test:${port}` }]);
});

t.test('421 when SNI names one route and Host another with a different certificate', async (t) => {
  const web = await startHttpBackend('web');
  t.teardown(() => web.close());
  const port = await getFreePort();
  await startProxy(t, [
    terminate('a', port, 'a.test', web.port, certA),
    terminate('b', port, 'b.test', web.port, certB),
    terminate('sa', port, 'shared-a.test', web.port, certAB),
    terminate('sb', port, 'shared-b.test', web.port, certAB),
  ]);
  const misdirected = await httpsGet(port, { servername: 'a.test', host: 'b.test', ca: ca.cert });
  t.equal(misdirected.status, 421);
  t.match(misdirected.body, /421/);
  const shared = await httpsGet(port, { servername: 'shared-a.test', host: 'shared-b.test', ca: ca.cert });
  t.equal(shared.status, 200, 'routes presenting the same certificate may share a connection');
  const same = await httpsGet(port, { servername: 'a.test', host: 'A.TEST:' + port, ca: ca.cert });
  t.equal(same.status, 200, 'Host matching the SNI with case and port differences is fine');
});

t.test("a route's certificate swapped by updateRoutes is served on the next handshake without touching the port", async (t) => {
  const web = await startHttpBackend('web');
  t.teardown(() => web.close());
  const port = await getFreePort();
  const first = createSelfSignedCertificate({ domains: ['a.test'], issuer: ca });
  const second = createSelfSignedCertificate({ domains: ['a.test'], issuer: ca });
  const proxy = await startProxy(t, [terminate('a', port, 'a.test', web.port, first)]);
  const events: string[] = [];
  proxy.on('port-bound', ({ port }) => events.push(`bound ${port}`));
  proxy.on('port-released', ({ port }) => events.push(`released ${port}`));

  const serial = async () => {
    const socket = await tlsConnect(port, { servername: 'a.test', ca: ca.cert, rejectUnauthorized: true });
    const serialNumber = socket.getPeerCertificate().serialNumber;
    socket.destroy();
    return serialNumber;
  };
  const held = await tlsConnect(port, { servername: 'a.test' });
  t.equal(await serial(), new X509Certificate(first.cert).serialNumber);
  await proxy.updateRoutes([terminate('a', port, 'a.test', web.port, second)]);
  t.equal(await serial(), new X509Certificate(second.cert).serialNumber, 'new certificate on the next handshake');
  t.same(events, [], 'no port-bound or port-released events');
  held.write('GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n');
  t.match(await exchange(held, '', Infinity), /^HTTP\/1\.1 200/, 'a connection made before the swap keeps working');
});

t.test('a socket handler on a terminated TLS port gets the decrypted socket and its context', async (t) => {
  const port = await getFreePort();
  const contexts: ISocketHandlerContext[] = [];
  await startProxy(t, [
    {
      name: 'greeter',
      match: { ports: port, domains: 'a.test' },
      action: {
        type: 'socket-handler',
        tls: { mode: 'terminate', certificate: certA },
        socketHandler: (socket, context) => {
          contexts.push(context);
          socket.once('data', (chunk: Buffer) => socket.end(`hello ${chunk.toString()} over ${(socket as TLSSocket).encrypted ? 'tls' : 'tcp'}`));
        },
      },
    },
  ]);
  const socket = await tlsConnect(port, { servername: 'a.test', ca: ca.cert, rejectUnauthorized: true });
  t.equal(await exchange(socket, 'you', Infinity), 'hello you over tls');
  t.same(contexts, [{ port, clientIp: '127.0.0.1', domain: 'a.test', routeName: 'greeter' }]);
});

t.test('real clients: curl through a terminate route, openssl s_client sees the certificate subject', async (t) => {
  const web = await startHttpBackend('web');
  t.teardown(() => web.close());
  const port = await getFreePort();
  await startProxy(t, [terminate('a', port, 'a.test', web.port, certA), terminate('b', port, 'b.test', web.port, certB)]);
  const dir = await mkdtemp(join(tmpdir(), 'smartproxy-curl-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const caFile = join(dir, 'ca.pem');
  await writeFile(caFile, ca.cert);

  const curl = await run('curl', ['-sS', '--max-time', '10', '--resolve', `b.test:${port}:127.0.0.1`, '--cacert', caFile, `https://b.test:${port}/from/curl?x=1`]);
  const body = JSON.parse(curl) as { url: string; headers: Record<string, string> };
  t.equal(body.url, '/from/curl?x=1');
  t.equal(body.headers['x-forwarded-proto'], 'https');
  t.equal(body.headers['host'], `b.test:${port}`);

  const openssl = await run('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'a.test', '-CAfile', caFile], '');
  t.match(openssl, /subject=\s*CN\s*=\s*a\.test/, 'openssl sees CN = a.test');
  t.match(openssl, /Verify return code: 0 \(ok\)/);
});

t.test('curl uploads a 3 MiB body with Expect: 100-continue through a terminate route', async (t) => {
  const upstream = await serve(
    t,
    trackSockets(
      http.createServer((req, res) => {
        const hash = createHash('sha256');
        let bytes = 0;
        req.on('data', (chunk: Buffer) => {
          hash.update(chunk);
          bytes += chunk.length;
        });
        req.on('end', () => res.end(`${bytes} ${hash.digest('hex')} ${req.headers.expect ?? '-'}`));
      }),
    ),
  );
  const port = await getFreePort();
  await startProxy(t, [terminate('a', port, 'a.test', upstream.port, certA)]);
  const dir = await mkdtemp(join(tmpdir(), 'smartproxy-curl-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const body = randomBytes(3 * 1024 * 1024);
  await writeFile(join(dir, 'body.bin'), body);
  await writeFile(join(dir, 'ca.pem'), ca.cert);
  const out = await run('curl', [
    '-sS', '--max-time', '20', '-H', 'Expect: 100-continue', '--data-binary', `@${join(dir, 'body.bin')}`,
    '--resolve', `a.test:${port}:127.0.0.1`, '--cacert', join(dir, 'ca.pem'), `https://a.test:${port}/upload`,
  ]);
  const [bytes, hash] = out.split(' ');
  t.equal(Number(bytes), body.length);
  t.equal(hash, createHash('sha256').update(body).digest('hex'));
});

function run(command: string, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(command, args, { timeout: 15_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${command} failed: ${error.message}\n${stderr}`));
      else resolve(stdout);
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

t.test('requests on one terminated connection are routed by path, each to its own upstream', async (t) => {
  const api = await startHttpBackend('api');
  const site = await startHttpBackend('site');
  t.teardown(async () => {
    await api.close();
    await site.close();
  });
  const port = await getFreePort();
  await startProxy(t, [terminate('site', port, 'a.test', site.port, certA), terminate('api', port, 'a.test', api.port, certA, { match: { ports: port, domains: 'a.test', path: '/api/*' } })]);
  const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca: ca.cert, servername: 'a.test' });
  t.teardown(() => agent.destroy());
  const names: string[] = [];
  for (const path of ['/', '/api/users', '/about', '/api']) {
    names.push(JSON.parse((await httpsGet(port, { servername: 'a.test', path, agent, ca: ca.cert })).body).name);
  }
  t.same(names, ['site', 'api', 'site', 'api']);
});
