// Every option at every depth is checked by one table (config/option-schema.ts),
// the way routes are: an unknown name gets "did you mean", a wrong value says
// what was expected, and acme needs an email. The same table serves
// updateOptions(), which applies timeouts, limits and the log level live.
import t from 'tap';
import { pino } from 'pino';
import { Writable } from 'node:stream';
import { acmeOptions, checkOptions, limitOptions, restartOnlyChanges, smartProxyOptions, timeoutOptions } from '../ts/config/option-schema.js';
import { InvalidOptionError, SmartProxy, type ISmartProxyOptions } from '../ts/index.js';
import { defaultLimits, defaultTimeouts } from '../ts/options.js';
import { startEchoBackend } from './helpers/backends.js';
import { closed, eventually, rawConnect, startProxy } from './helpers/data-path.js';
import { getFreePort } from './helpers/free-port.js';

const problemsOf = (options: unknown) => {
  try {
    new SmartProxy(options as ISmartProxyOptions);
  } catch (error) {
    if (error instanceof InvalidOptionError) return error.problems.map((p) => `${p.option}: ${p.message}`);
    throw error;
  }
  return [];
};

t.test('the issue\'s examples are refused, each with what to do', async (t) => {
  t.same(problemsOf({ routes: [], enableDetailedLogging: true }), ['enableDetailedLogging: is not a known option']);
  t.same(problemsOf({ routes: [], acme: { email: 'a@b.test', useProdution: true } }), ["acme.useProdution: is not a known option (did you mean 'useProduction'?)"]);
  t.same(problemsOf({ routes: [], acme: { email: 'a@b.test', autoRenew: true } }), ['acme.autoRenew: is not a known option']);
  t.same(problemsOf({ routes: [], acme: {} }), ['acme.email: is required'], 'acme without email');
  t.same(problemsOf({ routes: [], acme: { email: 'nobody' } }), ["acme.email: should be the account's contact email address, instead got 'nobody'"]);
  t.same(problemsOf({ routes: [], timeouts: { headerMs: 5 } }), ["timeouts.headerMs: is not a known option (did you mean 'headersMs'?)"]);
});

t.test('every problem is listed at once, at every depth', async (t) => {
  const problems = problemsOf({ routes: 'x', hots: 'a', logLevel: 'loud', acme: { email: 'a@b.test', port: 0, fallbackPorts: [81, 'x'] }, limits: { maxConnections: 0 }, trustedProxies: ['10.0.0.0/8', 'nope'] });
  t.same(problems, [
    "hots: is not a known option (did you mean 'host'?)",
    "routes: should be an array of routes, instead got 'x'",
    'acme.port: should be a port from 1 to 65535, instead got 0',
    'acme.fallbackPorts[1]: should be a port from 1 to 65535, instead got x',
    "logLevel: should be one of fatal, error, warn, info, debug, trace, silent, instead got 'loud'",
    'trustedProxies[1]: ' + problems.find((p) => p.startsWith('trustedProxies[1]'))!.split(': ').slice(1).join(': '),
    'limits.maxConnections: should be a number of at least 1 (Infinity: no limit), instead got 0',
  ]);
  t.throws(() => new SmartProxy({ routes: [], acme: { email: 'a@b.test', useProdution: true } } as never), { code: 'ERR_INVALID_OPTION', message: /option "acme\.useProdution" is not a known option \(did you mean 'useProduction'\?\)/ });
});

t.test('a config file cannot hold code-only options', async (t) => {
  t.same(checkOptions({ routes: [], logger: {} }, { fromFile: true }), [{ path: 'logger', message: 'can only be given in code (new SmartProxy({ … })), not in a config file' }]);
  t.same(checkOptions({ routes: [], logger: pino({ level: 'silent' }) }), [], 'in code it is fine');
});

t.test('the tables cover every option with a default, and only those', async (t) => {
  t.same(Object.keys(timeoutOptions).sort(), Object.keys(defaultTimeouts).sort());
  t.same(Object.keys(limitOptions).sort(), Object.keys(defaultLimits).sort());
  t.ok(acmeOptions.email?.required, 'acme.email is required');
  t.same(Object.keys(smartProxyOptions).filter((k) => smartProxyOptions[k]!.live).sort(), ['limits', 'logLevel', 'routes', 'timeouts', 'trustedProxies']);
});

t.test('restartOnlyChanges names each changed option a running proxy cannot apply', async (t) => {
  const before = { routes: [], host: '127.0.0.1', acme: { email: 'a@b.test', port: 80 }, timeouts: { headersMs: 1 } };
  const after = { routes: [1], host: '0.0.0.0', acme: { email: 'c@d.test', port: 80 }, timeouts: { headersMs: 2 }, logLevel: 'debug' };
  t.same(restartOnlyChanges(before, after), ['acme.email', 'host']);
  t.same(restartOnlyChanges(before, { ...before }), []);
  t.same(restartOnlyChanges({ routes: [] }, { routes: [], acme: { email: 'a@b.test' } }), ['acme']);
});

t.test('updateOptions() is checked by the same table and applies limits and the log level live', async (t) => {
  const echo = await startEchoBackend('echo');
  t.teardown(() => echo.close());
  const port = await getFreePort();
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const proxy = await startProxy(t, [{ name: 'tcp', match: { ports: port }, action: { type: 'forward', target: { host: '127.0.0.1', port: echo.port } } }], { logger: pino({ level: 'info' }, stream), logLevel: 'warn' });
  t.throws(() => proxy.updateOptions({ limits: { maxConections: 1 } } as never), { code: 'ERR_INVALID_OPTION', message: /did you mean 'maxConnections'/ });
  t.throws(() => proxy.updateOptions({ host: '0.0.0.0' } as never), { code: 'ERR_INVALID_OPTION', message: /"host" is not a known option/ }, 'host needs a restart');

  const first = await rawConnect(port);
  t.teardown(() => first.destroy());
  await eventually(() => proxy.getMetrics().activeConnections === 1);
  proxy.updateOptions({ limits: { maxConnections: 1 } });
  t.equal(await closed(await rawConnect(port)), '', 'a connection beyond the new limit is refused');
  t.equal(proxy.getMetrics().limitHits.maxConnections, 1);
  t.ok(lines.some((l) => l.msg === 'limit reached: maxConnections' && l.name === 'smartproxy'), 'logged, named smartproxy, though the logger was the caller\'s');

  t.notOk(lines.some((l) => String(l.msg).startsWith('routes applied')), 'info lines are off at logLevel warn');
  proxy.updateOptions({ logLevel: 'info', limits: {} });
  await proxy.updateRoutes([]);
  // The routes line is written on the turn after updateRoutes() resolves (the route graph's warnings come with it).
  await new Promise(setImmediate);
  t.ok(lines.some((l) => String(l.msg).startsWith('routes applied: 0 routes on 0 ports (ports -')), 'info lines are on after the change');
  await proxy.updateRoutes([{ name: 'tcp', match: { ports: port }, action: { type: 'forward', target: { host: '127.0.0.1', port: echo.port } } }]);
  await new Promise(setImmediate);
  const applied = lines.filter((l) => String(l.msg).startsWith('routes applied')).at(-1)!;
  t.same({ routes: applied.routes, gained: applied.gained, lost: applied.lost }, { routes: 1, gained: [port], lost: [] }, 'the routes line says which ports were gained');
  const second = await rawConnect(port);
  t.teardown(() => second.destroy());
  await eventually(() => proxy.getMetrics().activeConnections >= 2);
  t.equal(proxy.getMetrics().activeConnections, 2, 'limits: {} returned maxConnections to its default');
});

t.test('port bound names the address', async (t) => {
  const port = await getFreePort();
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'info' }, new Writable({ write(chunk: Buffer, _e, done) { lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>); done(); } }));
  await startProxy(t, [{ match: { ports: port }, action: { type: 'block' } }], { logger });
  const bound = lines.find((l) => String(l.msg).startsWith('port bound'));
  t.match(bound, { port, address: '127.0.0.1', msg: `port bound: 127.0.0.1:${port}`, name: 'smartproxy' });
});
