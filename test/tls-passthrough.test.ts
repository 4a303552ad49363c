import t from 'tap';
import { Duplex } from 'node:stream';
import net from 'node:net';
import tls from 'node:tls';
import { createCertificateAuthority, createSelfSignedCertificate } from '../ts/index.js';
import { httpGet, startHttpBackend } from './helpers/backends.js';
import {
  captureClientHello,
  closed,
  delay,
  eventually,
  exchange,
  httpsGet,
  rawConnect,
  startProxy,
  startRecorder,
  startTlsEcho,
  tlsConnect,
} from './helpers/data-path.js';
import { getFreePort } from './helpers/free-port.js';

const ca = createCertificateAuthority('passthrough test CA');
const certA = createSelfSignedCertificate({ domains: ['a.test'], issuer: ca });
const certB = createSelfSignedCertificate({ domains: ['b.test'], issuer: ca });
const certT = createSelfSignedCertificate({ domains: ['t.test'], issuer: ca });

t.test('passthrough by SNI reaches two TLS backends with their own certificates on one port', async (t) => {
  const a = await startTlsEcho(t, 'A', certA);
  const b = await startTlsEcho(t, 'B', certB);
  const port = await getFreePort();
  const proxy = await startProxy(t, [
    { name: 'a', match: { ports: port, domains: 'a.test' }, action: { type: 'forward', target: { host: '127.0.0.1', port: a.port }, tls: { mode: 'passthrough' } } },
    { name: 'b', match: { ports: port, domains: 'b.test' }, action: { type: 'forward', target: { host: '127.0.0.1', port: b.port }, tls: { mode: 'passthrough' } } },
  ]);
  t.same(proxy.getListeningPorts(), [port]);
  for (const [name, tag] of [['a.test', 'A'], ['b.test', 'B']] as const) {
    const socket = await tlsConnect(port, { servername: name, ca: ca.cert, rejectUnauthorized: true });
    t.equal(socket.getPeerCertificate().subject.CN, name, `${name} sees its backend's certificate`);
    t.equal(await exchange(socket, 'ping', 6), `${tag}:ping`);
    socket.destroy();
  }
  const unknown = tls.connect({ host: '127.0.0.1', port, servername: 'c.test', rejectUnauthorized: false });
  const error = await new Promise<Error>((resolve) => unknown.once('error', resolve));
  t.ok(error, 'a name no route claims is closed during the handshake');
});

t.test('a passthrough route without domains takes connections that send no SNI', async (t) => {
  const a = await startTlsEcho(t, 'A', certA);
  const port = await getFreePort();
  await startProxy(t, [{ name: 'any', match: { ports: port }, action: { type: 'forward', target: { host: '127.0.0.1', port: a.port }, tls: { mode: 'passthrough' } } }]);
  // An IP address as host: Node sends no SNI.
  const socket = await tlsConnect(port, {});
  t.equal(await exchange(socket, 'x', 3), 'A:x');
  socket.destroy();
});

t.test('passthrough and terminate for different domains share one port', async (t) => {
  const a = await startTlsEcho(t, 'A', certA);
  const web = await startHttpBackend('web');
  t.teardown(() => web.close());
  const port = await getFreePort();
  await startProxy(t, [
    { name: 'pass', match: { ports: port, domains: 'a.test' }, action: { type: 'forward', target: { host: '127.0.0.1', port: a.port }, tls: { mode: 'passthrough' } } },
    { name: 'term', match: { ports: port, domains: 't.test' }, action: { type: 'forward', target: { host: '127.0.0.1', port: web.port }, tls: { mode: 'terminate', certificate: certT } } },
  ]);
  const passed = await tlsConnect(port, { servername: 'a.test', ca: ca.cert, rejectUnauthorized: true });
  t.equal(passed.getPeerCertificate().subject.CN, 'a.test');
  t.equal(await exchange(passed, 'hi', 4), 'A:hi');
  passed.destroy();

  const res = await httpsGet(port, { servername: 't.test', ca: ca.cert, path: '/x' });
  t.equal(res.status, 200);
  t.equal(res.subject, 't.test', 'the proxy presents the terminate route certificate');
  const seen = JSON.parse(res.body) as { name: string; url: string; headers: Record<string, string> };
  t.equal(seen.name, 'web');
  t.equal(seen.url, '/x');
  t.equal(seen.headers['x-forwarded-proto'], 'https');
  t.equal(seen.headers['host'], 't.test');
});

t.test('a ClientHello written one byte at a time is forwarded byte-exact', async (t) => {
  const recorder = await startRecorder(t);
  const port = await getFreePort();
  await startProxy(t, [
    { name: 'rec', match: { ports: port, domains: 'a.test' }, action: { type: 'forward', target: { host: '127.0.0.1', port: recorder.port }, tls: { mode: 'passthrough' } } },
  ]);
  const hello = await captureClientHello('a.test', ['h2', 'http/1.1']);
  const socket = await rawConnect(port);
  socket.setNoDelay(true);
  for (const byte of hello) {
    socket.write(Buffer.of(byte));
    await delay(1);
  }
  const total = () => recorder.received[0]?.reduce((n, c) => n + c.length, 0) ?? 0;
  t.ok(await eventually(() => total() >= hello.length), 'the backend got the whole hello');
  t.ok(Buffer.concat(recorder.received[0]!).equals(hello), 'identical bytes');
  socket.destroy();
});

t.test('a full handshake trickled byte by byte terminates and serves HTTP', async (t) => {
  const web = await startHttpBackend('web');
  t.teardown(() => web.close());
  const port = await getFreePort();
  await startProxy(t, [
    { name: 'term', match: { ports: port, domains: 't.test' }, action: { type: 'forward', target: { host: '127.0.0.1', port: web.port }, tls: { mode: 'terminate', certificate: certT } } },
  ]);
  const raw = await rawConnect(port);
  raw.setNoDelay(true);
  const socket = tls.connect({ socket: trickle(raw, 2048), servername: 't.test', ca: ca.cert });
  await new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', resolve);
    socket.once('error', reject);
  });
  t.equal(socket.getPeerCertificate().subject.CN, 't.test');
  const reply = await exchange(socket, 'GET /slow HTTP/1.1\r\nHost: t.test\r\nConnection: close\r\n\r\n', Infinity);
  t.match(reply, /^HTTP\/1\.1 200/);
  t.match(reply, /"url":"\/slow"/);
  socket.destroy();
});

t.test('a client that sends nothing is closed after clientHelloMs', async (t) => {
  const a = await startTlsEcho(t, 'A', certA);
  const port = await getFreePort();
  await startProxy(t, [{ name: 'a', match: { ports: port, domains: 'a.test' }, action: { type: 'forward', target: { host: '127.0.0.1', port: a.port }, tls: { mode: 'passthrough' } } }], {
    timeouts: { clientHelloMs: 300 },
  });
  const silent = await rawConnect(port);
  t.equal(await closed(silent), '', 'closed without a byte sent back');

  // A trickle that never completes a hello is held to the same deadline.
  const hello = await captureClientHello('a.test');
  const slow = await rawConnect(port);
  slow.write(hello.subarray(0, 10));
  t.equal(await closed(slow), '');
});

t.test('garbage on a TLS port gets a handshake_failure alert and the port keeps serving', async (t) => {
  const a = await startTlsEcho(t, 'A', certA);
  const port = await getFreePort();
  await startProxy(t, [{ name: 'a', match: { ports: port, domains: 'a.test' }, action: { type: 'forward', target: { host: '127.0.0.1', port: a.port }, tls: { mode: 'passthrough' } } }]);
  const garbage = [
    Buffer.from('GET / HTTP/1.1\r\nHost: a.test\r\n\r\n'),
    Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 0x02, 0x00, 0x00, 0x01, 0x00]), // a ServerHello where a ClientHello belongs
    Buffer.from([0x16, 0x09, 0x09, 0x09]),
    Buffer.alloc(20_000, 0x16),
  ];
  for (const bytes of garbage) {
    const socket = await rawConnect(port);
    socket.write(bytes);
    // handshake_failure (40): none of these is a ClientHello (issue 13: a TLS alert, not a silent close).
    t.equal(await closed(socket), '\x15\x03\x03\x00\x02\x02\x28', `alert, then closed after ${bytes.subarray(0, 4).toString('hex')}…`);
  }
  const good = await tlsConnect(port, { servername: 'a.test' });
  t.equal(await exchange(good, 'ok', 4), 'A:ok', 'still serving');
  good.destroy();
});

t.test('a raw socket reset mid-ClientHello does not disturb the proxy', async (t) => {
  const a = await startTlsEcho(t, 'A', certA);
  const port = await getFreePort();
  await startProxy(t, [{ name: 'a', match: { ports: port, domains: 'a.test' }, action: { type: 'forward', target: { host: '127.0.0.1', port: a.port }, tls: { mode: 'passthrough' } } }]);
  const hello = await captureClientHello('a.test');
  for (let i = 0; i < 5; i++) {
    const socket = await rawConnect(port);
    socket.write(hello.subarray(0, 20));
    await delay(5);
    socket.resetAndDestroy();
  }
  const good = await tlsConnect(port, { servername: 'a.test' });
  t.equal(await exchange(good, 'ok', 4), 'A:ok');
  good.destroy();
});

/** A Duplex over `raw` that writes its first `slowBytes` bytes one per write, a millisecond apart. */
function trickle(raw: net.Socket, slowBytes: number): Duplex {
  let sent = 0;
  const duplex = new Duplex({
    write(chunk: Buffer, _encoding, callback) {
      void (async () => {
        for (let i = 0; i < chunk.length; i++) {
          if (sent >= slowBytes) {
            raw.write(chunk.subarray(i));
            break;
          }
          raw.write(chunk.subarray(i, i + 1));
          sent++;
          await delay(1);
        }
        callback();
      })();
    },
    read() {
      raw.resume();
    },
    final(callback) {
      raw.end();
      callback();
    },
    destroy(error, callback) {
      raw.destroy();
      callback(error);
    },
  });
  raw.on('data', (chunk: Buffer) => {
    if (!duplex.push(chunk)) raw.pause();
  });
  raw.on('end', () => duplex.push(null));
  // TLS over a JS stream only closes when that stream does.
  raw.on('close', () => duplex.destroy());
  return duplex;
}

t.test('one port serves passthrough, terminated and plain HTTP side by side', async (t) => {
  const a = await startTlsEcho(t, 'A', certA);
  const web = await startHttpBackend('web');
  t.teardown(() => web.close());
  const port = await getFreePort();
  await startProxy(t, [
    { name: 'pass', match: { ports: port, domains: 'a.test' }, action: { type: 'forward', target: { host: '127.0.0.1', port: a.port }, tls: { mode: 'passthrough' } } },
    { name: 'term', match: { ports: port, domains: 't.test' }, action: { type: 'forward', target: { host: '127.0.0.1', port: web.port }, tls: { mode: 'terminate', certificate: certT } } },
    { name: 'plain', match: { ports: port, domains: 'h.test' }, action: { type: 'forward', target: { host: '127.0.0.1', port: web.port } } },
  ]);
  const passed = await tlsConnect(port, { servername: 'a.test' });
  t.equal(await exchange(passed, 'p', 3), 'A:p');
  passed.destroy();
  const terminated = await httpsGet(port, { servername: 't.test', ca: ca.cert });
  t.equal(JSON.parse(terminated.body).headers['x-forwarded-proto'], 'https');
  const plain = await httpGet(port, { host: 'h.test' });
  t.equal(plain.json<{ headers: Record<string, string> }>().headers['x-forwarded-proto'], 'http');
  t.equal((await httpGet(port, { host: 't.test' })).status, 404, 'a TLS-only name is not served in plain HTTP');
});
