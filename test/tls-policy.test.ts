// Issue 13, item 9: terminated TLS follows Mozilla's "intermediate" profile
// by default (TLS 1.2 minimum; ECDHE with AES-GCM or ChaCha20 only), where
// it used to offer Node's defaults, static-RSA and CBC suites included. The
// `tls` option changes it for the whole proxy, `action.tls.minVersion` /
// `action.tls.ciphers` for one route; bad values are refused up front.
import t from 'tap';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { loadConfigFile } from '../ts/cli/config-file.js';
import { createCertificateAuthority, createSelfSignedCertificate, SmartProxy, SmartProxyError, type IRouteConfig, type IRouteTls } from '../ts/index.js';
import { startHttpBackend } from './helpers/backends.js';
import { startProxy } from './helpers/data-path.js';
import { getFreePort } from './helpers/free-port.js';

const ca = createCertificateAuthority('tls policy test CA');
const cert = createSelfSignedCertificate({ domains: ['a.test', 'b.test', 'c.test'], issuer: ca });

function terminate(port: number, target: number, domain: string, policy: Partial<IRouteTls> = {}): IRouteConfig {
  return { name: domain, match: { ports: port, domains: domain }, action: { type: 'forward', target: { host: '127.0.0.1', port: target }, tls: { mode: 'terminate', certificate: cert, ...policy } } };
}

interface Handshake {
  ok: boolean;
  protocol: string | undefined;
  cipher: string | undefined;
  output: string;
}

/** One openssl s_client handshake against 127.0.0.1:port; `ok` when a session was established. */
function sClient(port: number, servername: string, args: string[]): Promise<Handshake> {
  return new Promise((resolve) => {
    const child = execFile('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', servername, ...args], { timeout: 10_000 }, (_error, stdout, stderr) => {
      const output = `${stdout}\n${stderr}`;
      const cipher = /Cipher is (\S+)/.exec(stdout)?.[1];
      const protocol = /^\s*Protocol\s*:\s*(\S+)/m.exec(stdout)?.[1] ?? /^New, (TLSv[\d.]+)/m.exec(stdout)?.[1];
      resolve({ ok: cipher !== undefined && cipher !== '(NONE)', protocol, cipher, output });
    });
    child.stdin?.end();
  });
}

/** Node's TLS client: the negotiated protocol and cipher, or the error that ended the handshake. */
async function nodeHandshake(port: number, options: tls.ConnectionOptions): Promise<{ protocol: string | null; cipher: string } | Error> {
  const socket = tls.connect({ host: '127.0.0.1', port, ca: ca.cert, ...options });
  try {
    await once(socket, 'secureConnect');
    return { protocol: socket.getProtocol(), cipher: socket.getCipher().name };
  } catch (error) {
    return error as Error;
  } finally {
    socket.destroy();
  }
}

t.test('defaults: Mozilla intermediate', async (t) => {
  const web = await startHttpBackend('web');
  t.teardown(() => web.close());
  const port = await getFreePort();
  await startProxy(t, [terminate(port, web.port, 'a.test')]);

  const modern = await sClient(port, 'a.test', []);
  t.ok(modern.ok, `a default openssl client connects (${modern.protocol}, ${modern.cipher})`);
  t.equal(modern.protocol, 'TLSv1.3');
  const tls12 = await sClient(port, 'a.test', ['-tls1_2']);
  t.ok(tls12.ok, `a TLS 1.2 client connects (${tls12.cipher})`);
  t.match(tls12.cipher, /^ECDHE-RSA-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305)$/, 'with ECDHE and an AEAD cipher');

  const refused: [string, string[]][] = [
    ['TLS 1.1', ['-tls1_1', '-cipher', 'DEFAULT:@SECLEVEL=0']],
    ['TLS 1.0', ['-tls1', '-cipher', 'DEFAULT:@SECLEVEL=0']],
    ['CBC only (AES128-SHA, static RSA)', ['-tls1_2', '-cipher', 'AES128-SHA']],
    ['static RSA with GCM', ['-tls1_2', '-cipher', 'AES128-GCM-SHA256']],
    ['ECDHE with CBC', ['-tls1_2', '-cipher', 'ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES256-SHA384']],
  ];
  for (const [name, args] of refused) {
    const result = await sClient(port, 'a.test', args);
    t.notOk(result.ok, `${name}: refused (${result.output.match(/alert [a-z ]+|no protocols available|no ciphers available/)?.[0] ?? 'no session'})`);
  }
  const node11 = await nodeHandshake(port, { servername: 'a.test', minVersion: 'TLSv1.1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT:@SECLEVEL=0' });
  t.ok(node11 instanceof Error, `Node TLS 1.1 client refused: ${node11 instanceof Error ? node11.message.split('\n')[0] : ''}`);
});

t.test('per-route minVersion and ciphers override the global tls option', async (t) => {
  const web = await startHttpBackend('web');
  t.teardown(() => web.close());
  const port = await getFreePort();
  await startProxy(
    t,
    [
      terminate(port, web.port, 'a.test'),
      terminate(port, web.port, 'b.test', { minVersion: 'TLSv1.2' }),
      terminate(port, web.port, 'c.test', { ciphers: 'ECDHE-RSA-AES128-SHA:TLS_AES_128_GCM_SHA256' }),
    ],
    { tls: { minVersion: 'TLSv1.3' } },
  );
  const tls12 = { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' } as const;
  t.ok((await nodeHandshake(port, { servername: 'a.test', ...tls12 })) instanceof Error, 'global minVersion TLSv1.3: a TLS 1.2 client is refused');
  const b = await nodeHandshake(port, { servername: 'b.test', ...tls12 });
  t.same(b instanceof Error ? b.message : b.protocol, 'TLSv1.2', 'route minVersion TLSv1.2 lets it in');
  const a13 = await nodeHandshake(port, { servername: 'a.test' });
  t.same(a13 instanceof Error ? a13.message : a13.protocol, 'TLSv1.3', 'TLS 1.3 is fine on the global policy');
  // c.test: its own ciphers, the global TLS 1.3 minimum.
  const cbc = await sClient(port, 'c.test', ['-tls1_2', '-cipher', 'ECDHE-RSA-AES128-SHA']);
  t.notOk(cbc.ok, 'c.test keeps the global minimum: TLS 1.2 refused');
  const c13 = await sClient(port, 'c.test', ['-ciphersuites', 'TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256']);
  t.equal(c13.cipher, 'TLS_AES_128_GCM_SHA256', 'c.test offers only the TLS 1.3 suite its cipher string names');
  const aGcm256 = await sClient(port, 'a.test', ['-ciphersuites', 'TLS_AES_256_GCM_SHA384']);
  t.ok(aGcm256.ok, 'a.test (default ciphers) takes TLS_AES_256_GCM_SHA384');
  const cGcm256 = await sClient(port, 'c.test', ['-ciphersuites', 'TLS_AES_256_GCM_SHA384']);
  t.notOk(cGcm256.ok, 'c.test does not');
});

t.test('a route that allows a CBC suite serves it; the others still refuse it', async (t) => {
  const web = await startHttpBackend('web');
  t.teardown(() => web.close());
  const port = await getFreePort();
  await startProxy(t, [terminate(port, web.port, 'a.test'), terminate(port, web.port, 'c.test', { ciphers: 'ECDHE-RSA-AES128-SHA' })]);
  const args = ['-tls1_2', '-cipher', 'ECDHE-RSA-AES128-SHA'];
  t.notOk((await sClient(port, 'a.test', args)).ok, 'a.test: refused');
  const c = await sClient(port, 'c.test', args);
  t.equal(c.cipher, 'ECDHE-RSA-AES128-SHA', 'c.test: served with the suite it allows');
});

t.test('the tls option is validated when the proxy is created', async (t) => {
  const bad: [unknown, RegExp][] = [
    [{ minVerison: 'TLSv1.2' }, /tls\.minVerison.*did you mean 'minVersion'/],
    [{ minVersion: 'TLSv1.1' }, /tls\.minVersion.*'TLSv1\.2' or 'TLSv1\.3'.*broken/],
    [{ minVersion: 1.3 }, /tls\.minVersion/],
    [{ ciphers: 'NOT-A-CIPHER' }, /tls\.ciphers.*OpenSSL/],
    [{ ciphers: '' }, /tls\.ciphers/],
    ['TLSv1.3', /option "tls" should be/],
  ];
  for (const [value, message] of bad) {
    try {
      new SmartProxy({ routes: [], tls: value as never });
      t.fail(`accepted ${JSON.stringify(value)}`);
    } catch (error) {
      t.ok(SmartProxyError.isSmartProxyError(error) && error.code === 'ERR_INVALID_OPTION', `${JSON.stringify(value)}: ERR_INVALID_OPTION`);
      t.match((error as Error).message, message);
    }
  }
  t.doesNotThrow(() => new SmartProxy({ routes: [], tls: { minVersion: 'TLSv1.3', ciphers: 'TLS_AES_128_GCM_SHA256' } }));
});

t.test('a CLI config file may set tls', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tls-policy-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'proxy.json');
  await writeFile(file, JSON.stringify({ routes: [], tls: { minVersion: 'TLSv1.3' } }));
  t.same((await loadConfigFile(file)).tls, { minVersion: 'TLSv1.3' });
});

t.test('action.tls policy and upstream fields are validated like every other field', async (t) => {
  const route = (tls: Record<string, unknown>): IRouteConfig =>
    ({ name: 'r', match: { ports: 8443, domains: 'a.test' }, action: { type: 'forward', target: { host: '127.0.0.1', port: 1 }, tls } }) as unknown as IRouteConfig;
  const certificate = { key: cert.key, cert: cert.cert };
  const bad: [Record<string, unknown>, string, RegExp][] = [
    [{ mode: 'terminate', certificate, minVersion: 'TLSv1' }, 'action.tls.minVersion', /'TLSv1\.2' or 'TLSv1\.3'/],
    [{ mode: 'terminate', certificate, ciphers: 'NOPE' }, 'action.tls.ciphers', /OpenSSL/],
    [{ mode: 'terminate', certificate, ciphrs: 'x' }, 'action.tls.ciphrs', /did you mean 'ciphers'/],
    [{ mode: 'passthrough', ciphers: 'ECDHE-RSA-AES128-GCM-SHA256' }, 'action.tls.ciphers', /passthrough/],
    [{ mode: 'terminate', certificate, upstream: { verify: false } }, 'action.tls.upstream', /only used by terminate-and-reencrypt/],
    [{ mode: 'terminate-and-reencrypt', certificate, upstream: { verfy: false } }, 'action.tls.upstream.verfy', /did you mean 'verify'/],
    [{ mode: 'terminate-and-reencrypt', certificate, upstream: { verify: 'no' } }, 'action.tls.upstream.verify', /true or false/],
    [{ mode: 'terminate-and-reencrypt', certificate, upstream: { ca: 'not a pem' } }, 'action.tls.upstream.ca', /PEM/],
    [{ mode: 'terminate-and-reencrypt', certificate, upstream: { ca: [] } }, 'action.tls.upstream.ca', /PEM/],
    [{ mode: 'terminate-and-reencrypt', certificate, upstream: { ca: ca.cert, verify: false } }, 'action.tls.upstream.ca', /never used with verify: false/],
    [{ mode: 'terminate-and-reencrypt', certificate, upstream: { servername: '10.0.0.1' } }, 'action.tls.upstream.servername', /IP/],
    [{ mode: 'terminate-and-reencrypt', certificate, upstream: { servername: 'a b' } }, 'action.tls.upstream.servername', /host name/],
    [{ mode: 'terminate-and-reencrypt', certificate, upstream: 'verify' }, 'action.tls.upstream', /\{ ca\?, servername\?, verify\? \}/],
  ];
  for (const [tlsConfig, path, message] of bad) {
    const error = await new SmartProxy({ routes: [] }).updateRoutes([route(tlsConfig)]).then(
      () => undefined,
      (e: unknown) => e as { code: string; errors: { path: string; message: string }[] },
    );
    const problem = error?.errors.find((p) => p.path === path);
    t.equal(error?.code, 'ERR_ROUTE_VALIDATION', `${path}: ERR_ROUTE_VALIDATION`);
    t.match(problem?.message, message, `${path}: ${problem?.message}`);
  }
  const good = route({ mode: 'terminate-and-reencrypt', certificate, minVersion: 'TLSv1.3', ciphers: 'TLS_AES_128_GCM_SHA256', upstream: { ca: [ca.cert], servername: 'backend.internal', verify: true } });
  await t.resolves(new SmartProxy({ routes: [] }).updateRoutes([good]), 'every field together is fine');
});
