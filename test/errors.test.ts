// Every error a user can get is a SmartProxyError with a stable code, and
// every code is documented in the readme.
import t from 'tap';
import { readFile } from 'node:fs/promises';
import {
  AcmeTimeoutError,
  CertificateError,
  ConfigFileError,
  CorruptStoreEntryError,
  errorCodes,
  InvalidOptionError,
  LeaseLostError,
  PortBindError,
  PortInUseError,
  ProxyStateError,
  RouteValidationError,
  SmartProxy,
  SmartProxyError,
  WorkerError,
} from '../ts/index.js';

const samples: [SmartProxyError, string, string][] = [
  [new PortInUseError(8080), 'EADDRINUSE', 'PortInUseError'],
  [new PortBindError(80, Object.assign(new Error('listen EACCES'), { code: 'EACCES' })), 'ERR_PORT_BIND', 'PortBindError'],
  [new RouteValidationError([{ route: 'r', path: 'match.ports', message: 'bad' }]), 'ERR_ROUTE_VALIDATION', 'RouteValidationError'],
  [new InvalidOptionError('host', 'a string', 42), 'ERR_INVALID_OPTION', 'InvalidOptionError'],
  [new ProxyStateError('stopped'), 'ERR_PROXY_STATE', 'ProxyStateError'],
  [new CertificateError('a.test', 'order failed'), 'ERR_CERTIFICATE', 'CertificateError'],
  [new ConfigFileError('proxy.json', [{ route: 'config', path: 'hots', message: 'is not a known option' }]), 'ERR_CONFIG_FILE', 'ConfigFileError'],
  [new CorruptStoreEntryError('a.test', 'meta.json is not JSON'), 'ERR_CORRUPT_STORE_ENTRY', 'CorruptStoreEntryError'],
  [new AcmeTimeoutError('https://ca.test/dir', 30_000), 'ERR_ACME_TIMEOUT', 'AcmeTimeoutError'],
  [new LeaseLostError('a.test', 'save'), 'ERR_LEASE_LOST', 'LeaseLostError'],
  [new WorkerError('starting worker processes: worker 42 exited before it was ready', { pid: 42 }), 'ERR_WORKER', 'WorkerError'],
];

t.test('each error class has its stable code and name, and is a SmartProxyError', async (t) => {
  for (const [error, code, name] of samples) {
    t.equal(error.code, code, name);
    t.equal(error.name, name);
    t.ok(error instanceof SmartProxyError);
    t.ok(error instanceof Error);
    t.ok(SmartProxyError.isSmartProxyError(error), `${name} passes the brand check`);
    t.ok(error.message.length > 0 && !error.message.endsWith('.'), 'a message without a final period');
  }
  const exported: unknown[] = Object.values(await import('../ts/errors.js'));
  const classes = exported.filter((value): value is Function => typeof value === 'function' && value.prototype instanceof SmartProxyError);
  t.same(classes.map((c) => c.name).sort(), samples.map(([, , name]) => name).sort(), 'every error class exported is checked here');
  t.same(samples.map(([, code]) => code).sort(), [...errorCodes].sort(), 'errorCodes lists exactly the codes in use');
  t.equal(new Set(errorCodes).size, errorCodes.length, 'no code is reused');
});

t.test('isSmartProxyError: brand-checked, not duck-typed on code', async (t) => {
  t.notOk(SmartProxyError.isSmartProxyError(new Error('x')));
  t.notOk(SmartProxyError.isSmartProxyError(Object.assign(new Error('x'), { code: 'EADDRINUSE' })));
  t.notOk(SmartProxyError.isSmartProxyError({ code: 'ERR_PROXY_STATE' }));
  t.notOk(SmartProxyError.isSmartProxyError(null));
  t.notOk(SmartProxyError.isSmartProxyError('ERR_PROXY_STATE'));
  // A second copy of the library (another module instance) makes its own classes; the brand still matches.
  const copy = (await import(new URL('../ts/errors.ts?second-copy', import.meta.url).href)) as typeof import('../ts/errors.js');
  const foreign = new copy.ProxyStateError('from another copy');
  t.notOk(foreign instanceof ProxyStateError, 'instanceof fails across copies');
  t.ok(SmartProxyError.isSmartProxyError(foreign), 'the brand check does not');
});

t.test('errors carry what the user needs', async (t) => {
  const inUse = new PortInUseError(8443, { host: '0.0.0.0', routes: ['site', 'api'] });
  t.equal(inUse.port, 8443);
  t.same(inUse.routes, ['site', 'api']);
  t.match(inUse.message, /0\.0\.0\.0:8443 is in use by another application, not by smartproxy/);
  t.match(inUse.message, /the routes that use 8443 \('site', 'api'\)/, 'names the routes that wanted the port');
  const problems = [
    { route: 'a', path: 'match.ports', message: 'bad' },
    { route: 'b', path: 'action', message: 'missing' },
  ];
  const validation = new RouteValidationError(problems);
  problems.pop();
  t.equal(validation.errors.length, 2, 'problems are copied');
  t.ok(Object.isFrozen(validation.errors));
  t.match(validation.message, '2 route problems, nothing was applied: a match.ports: bad; b action: missing');
  t.match(new InvalidOptionError('host', 'a string', 42).message, 'option "host" should be a string, instead got 42');
  const cause = new Error('rate limited');
  const certificate = new CertificateError('a.test', 'order failed', { cause });
  t.equal(certificate.domain, 'a.test');
  t.equal(certificate.cause, cause);
});

t.test('the constructor throws InvalidOptionError for bad options', async (t) => {
  t.throws(() => new SmartProxy(null as never), { code: 'ERR_INVALID_OPTION' });
  t.throws(() => new SmartProxy({ routes: 'x' } as never), { code: 'ERR_INVALID_OPTION', message: /"routes"/ });
  t.throws(() => new SmartProxy({ routes: [], host: 1 } as never), { code: 'ERR_INVALID_OPTION', message: /"host"/ });
});

t.test('the public error classes are exported from the package entry point', async (t) => {
  const index: Record<string, unknown> = await import('../ts/index.js');
  const errors: Record<string, unknown> = await import('../ts/errors.js');
  for (const [name, value] of Object.entries(errors)) {
    if (typeof value === 'function' && (value === SmartProxyError || value.prototype instanceof SmartProxyError)) t.equal(index[name], value, `${name} is exported`);
  }
});

t.test('every code in errorCodes is documented in readme.md', async (t) => {
  const readme = await readFile(new URL('../readme.md', import.meta.url), 'utf8');
  for (const code of errorCodes) t.ok(readme.includes(`\`${code}\``), `readme.md documents ${code}`);
});
