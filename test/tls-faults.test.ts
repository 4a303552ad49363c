// Issue 13, items 6 and 8: what terminated TLS does under faults. A TLS 1.2
// client that renegotiates is refused (a tls.Server cuts a flood at 4; we
// used to allow 9 and more); a corrupt record after the handshake closes the
// connection at once (it used to stay open ~30 s); a hello the proxy cannot
// serve gets a TLS alert instead of a silent FIN; a trailing dot in SNI and
// Host names the same host; hellos of 20 and 40 KiB (post-quantum key
// shares) complete.
import t from 'tap';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { pino, type Logger } from 'pino';
import { createCertificateAuthority, createSelfSignedCertificate, type IRouteConfig } from '../ts/index.js';
import { startHttpBackend } from './helpers/backends.js';
import { captureClientHello as captureHello, closed, exchange, httpsGet, rawConnect, startProxy, startTlsEcho, type Teardown } from './helpers/data-path.js';
import { getFreePort } from './helpers/free-port.js';

const ca = createCertificateAuthority('tls faults test CA');
const certA = createSelfSignedCertificate({ domains: ['a.test'], issuer: ca });

function terminate(port: number, target: number, domains?: string): IRouteConfig {
  return {
    name: `terminate-${domains ?? 'any'}`,
    match: { ports: port, ...(domains === undefined ? {} : { domains }) },
    action: { type: 'forward', target: { host: '127.0.0.1', port: target }, tls: { mode: 'terminate', certificate: certA } },
  };
}

async function terminatingProxy(t: Teardown, domains: string | undefined = 'a.test', logger?: Logger): Promise<number> {
  const web = await startHttpBackend('web');
  t.teardown(() => web.close());
  const port = await getFreePort();
  await startProxy(t, [terminate(port, web.port, domains)], logger ? { logger } : {});
  return port;
}

/** Runs openssl s_client against 127.0.0.1:port and resolves with its stdout and stderr together. */
function sClient(port: number, args: string[]): Promise<string> {
  return new Promise((resolve) => {
    const child = execFile('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, ...args], { timeout: 10_000 }, (_error, stdout, stderr) => resolve(`${stdout}\n${stderr}`));
    child.stdin?.end();
  });
}

const alert = (description: number) => String.fromCharCode(0x15, 0x03, 0x03, 0x00, 0x02, 0x02, description);

t.test('a TLS 1.2 client that renegotiates is refused and the connection closed', async (t) => {
  const port = await terminatingProxy(t);
  const socket = tls.connect({ host: '127.0.0.1', port, servername: 'a.test', ca: ca.cert, maxVersion: 'TLSv1.2' });
  socket.on('error', () => undefined);
  await once(socket, 'secureConnect');
  t.equal(socket.getProtocol(), 'TLSv1.2');
  // The client learns of the refusal as an 'error' (OpenSSL: "no renegotiation") or a close,
  // not through renegotiate()'s callback, which is called with no error only when it succeeded.
  const started = Date.now();
  const outcome = new Promise<string>((resolve) => {
    socket.once('error', (error) => resolve(`refused: ${error.message.split('\n')[0]}`));
    socket.once('close', () => resolve('refused: closed'));
  });
  const gone = closed(socket);
  t.ok(socket.renegotiate({ rejectUnauthorized: false }, (error) => error === null && socket.emit('renegotiated')), 'renegotiation requested');
  const result = await Promise.race([outcome, once(socket, 'renegotiated').then(() => 'renegotiated')]);
  t.match(result, /^refused/, result);
  await gone;
  // Before the fix the renegotiation succeeded and the connection lived on until the 30 s headers timeout.
  t.ok(Date.now() - started < 5000, `closed after ${Date.now() - started} ms`);
  t.ok(socket.destroyed, 'the connection is closed');
});

t.test('a corrupt record after the handshake closes the connection at once', async (t) => {
  const lines: { level: number; msg: string; code?: string }[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as { level: number; msg: string; code?: string }) });
  const port = await terminatingProxy(t, 'a.test', logger);
  for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
    const raw = await rawConnect(port);
    const socket = tls.connect({ socket: raw, servername: 'a.test', ca: ca.cert, minVersion: version, maxVersion: version });
    socket.on('error', () => undefined);
    await once(socket, 'secureConnect');
    t.equal(await exchange(socket, 'GET / HTTP/1.1\r\nHost: a.test\r\n\r\n', 12).then((r) => r.slice(0, 12)), 'HTTP/1.1 200', `${version}: serving`);
    const gone = once(raw, 'close');
    const started = process.hrtime.bigint();
    // An application-data record whose MAC cannot verify.
    raw.write(Buffer.concat([Buffer.from([0x17, 0x03, 0x03, 0x00, 0x40]), Buffer.alloc(0x40, 0xa5)]));
    await gone;
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    t.comment(`${version}: closed ${ms.toFixed(1)} ms after the corrupt record`);
    // nginx takes ~2 ms; the bound is generous for a loaded 2-core machine. It used to be ~30 s.
    t.ok(ms < 1000, `${version}: closed within 1 s (${ms.toFixed(1)} ms)`);
  }
  const logged = lines.filter((line) => line.msg === 'TLS error after the handshake; closing the connection');
  t.equal(logged.length, 2, 'each logged once');
  t.ok(logged.every((line) => line.level === 20), `at debug (${logged.map((line) => line.code).join(', ')})`);
});

t.test('alerts: unknown SNI gets unrecognized_name, as openssl s_client reports', async (t) => {
  const port = await terminatingProxy(t);
  const output = await sClient(port, ['-servername', 'unknown.test']);
  t.match(output, /unrecognized name|alert number 112/, 'openssl names the alert');
  const hello = await captureHello('unknown.test');
  const socket = await rawConnect(port);
  socket.write(hello);
  t.equal(await closed(socket), alert(112), 'the raw reply is one fatal unrecognized_name alert');
});

t.test('alerts: garbage and SSLv2 hellos get handshake_failure or decode_error', async (t) => {
  const port = await terminatingProxy(t);
  const cases: [string, Buffer, number][] = [
    ['SSLv2 hello', Buffer.from([0x80, 0x2e, 0x01, 0x00, 0x02, 0x00, 0x15, 0x00, 0x00, 0x00, 0x10]), 40],
    ['not a TLS version', Buffer.from([0x16, 0x09, 0x09, 0x09, 0x09]), 40],
    ['a ServerHello', Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 0x02, 0x00, 0x00, 0x01, 0x00]), 40],
    ['lengths that do not add up', Buffer.from([0x16, 0x03, 0x01, 0x00, 0x08, 0x01, 0x00, 0x00, 0x04, 0x03, 0x03, 0x00, 0x00]), 50],
    ['plain text', Buffer.from('hello there\r\n'), 40],
  ];
  for (const [name, bytes, description] of cases) {
    const socket = await rawConnect(port);
    socket.write(bytes);
    t.equal(await closed(socket), alert(description), `${name}: fatal alert ${description}, then closed`);
  }
  const output = await sClient(port, ['-servername', 'a.test']);
  t.match(output, /CN ?= ?a\.test/, 'the port keeps serving');
});

t.test('a trailing dot in SNI and Host is the same name', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tls-faults-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const caFile = join(dir, 'ca.pem');
  await writeFile(caFile, ca.cert);
  for (const domains of ['a.test', undefined]) {
    const port = await terminatingProxy(t, domains);
    const res = await httpsGet(port, { servername: 'a.test.', host: `a.test.:${port}`, ca: ca.cert });
    t.equal(res.status, 200, `${domains ?? 'catch-all'}: served`);
    t.equal(res.subject, 'a.test');
    const curl = await new Promise<string>((resolve) => {
      execFile('curl', ['-sS', '--cacert', caFile, '--resolve', `a.test.:${port}:127.0.0.1`, '-o', '/dev/null', '-w', '%{http_code}', `https://a.test.:${port}/`], { timeout: 10_000 }, (_e, stdout, stderr) => resolve(stdout + stderr));
    });
    t.equal(curl, '200', `${domains ?? 'catch-all'}: curl https://a.test.:port/ gets 200`);
  }
});

t.test('20 KiB and 40 KiB ClientHellos complete the handshake', async (t) => {
  const port = await terminatingProxy(t);
  const echo = await startTlsEcho(t, 'P', certA);
  const passPort = await getFreePort();
  await startProxy(t, [{ name: 'pass', match: { ports: passPort, domains: 'a.test' }, action: { type: 'forward', target: { host: '127.0.0.1', port: echo.port }, tls: { mode: 'passthrough' } } }]);
  for (const kib of [20, 40]) {
    const alpn = bigAlpnList(kib * 1024);
    const hello = await captureHello('a.test', alpn);
    t.ok(hello.length >= kib * 1024 && hello.length < (kib + 1) * 1024, `${hello.length}-byte hello, over ${Math.ceil(hello.length / 16384)} records`);
    const socket = tls.connect({ host: '127.0.0.1', port, servername: 'a.test', ca: ca.cert, ALPNProtocols: alpn });
    socket.on('error', () => undefined);
    await once(socket, 'secureConnect');
    t.equal(socket.alpnProtocol, 'http/1.1', `${kib} KiB: terminated, HTTP/1.1 chosen`);
    const reply = await exchange(socket, 'GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n', 12);
    t.equal(reply.slice(0, 12), 'HTTP/1.1 200', `${kib} KiB: request served`);
    socket.destroy();
    const passed = tls.connect({ host: '127.0.0.1', port: passPort, servername: 'a.test', ca: ca.cert, ALPNProtocols: alpn });
    passed.on('error', () => undefined);
    await once(passed, 'secureConnect');
    t.equal(await exchange(passed, 'x', 3), 'P:x', `${kib} KiB: passed through whole`);
    passed.destroy();
  }
});

/** ALPN names (250 bytes each, then http/1.1) that make Node's ClientHello about `bytes` long. */
function bigAlpnList(bytes: number): string[] {
  const names: string[] = [];
  for (let i = 0; i * 251 < bytes - 250; i++) names.push(`${String(i).padStart(4, '0')}${'x'.repeat(246)}`);
  names.push('http/1.1');
  return names;
}
