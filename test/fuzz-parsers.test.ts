// Property-based fuzzing of the parts that read hostile input: the
// ClientHello parser, route validation and redirect template expansion.
// Cases found by fuzzing are kept below as fixed regressions.
import t from 'tap';
import fc from 'fast-check';
import { parseClientHello } from '../ts/proxy/tls/client-hello.js';
import { validateRoutes } from '../ts/routing/validate.js';
import { RouteManager } from '../ts/routing/route-manager.js';
import { expandTemplate } from '../ts/proxy/templates.js';

const runs = Number(process.env.FUZZ_RUNS ?? 2000);

t.test('ClientHello parser: never throws, always a known verdict, bounded', async (t) => {
  const hello = fc.uint8Array({ maxLength: 2048 }).map((bytes) => Buffer.from(bytes));
  const tlsish = fc.tuple(fc.uint8Array({ minLength: 4, maxLength: 4 }), fc.uint8Array({ maxLength: 4096 })).map(([head, body]) =>
    Buffer.concat([Buffer.from([0x16, 0x03, head[0]! % 4, head[1]!, head[2]!, 0x01]), Buffer.from(body)]),
  );
  fc.assert(
    fc.property(fc.oneof(hello, tlsish), (buffer) => {
      const result = parseClientHello(buffer);
      if (!['incomplete', 'not-tls', 'invalid', 'ok'].includes(result.kind)) return false;
      if (result.kind === 'ok') return result.consumed <= buffer.length && (result.serverName === undefined || /^[a-z0-9._-]+$/.test(result.serverName));
      return true;
    }),
    { numRuns: runs },
  );
  t.pass(`${runs} random inputs`);
});

const jsonish: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.constantFrom(0, -1, 1, 80, 65535, 65536, 1.5, NaN, null, true, '', '*', '*.a.test', 'a.test', '/api/*', '10.0.0.0/8', 'forward', 'redirect', 'static', 'block', 'terminate', 'passthrough', 'auto'),
    fc.string({ maxLength: 12 }),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(fc.constantFrom('name', 'match', 'action', 'ports', 'domains', 'path', 'type', 'target', 'host', 'port', 'tls', 'mode', 'certificate', 'redirect', 'to', 'status', 'static', 'body', 'headers', 'security', 'ipAllowList', 'from', 'to', 'priority', 'clientIp'), tie('value'), { maxKeys: 5 }),
  ),
})).value;

t.test('route validation: any input gives a list of problems or compiles, never a throw', async (t) => {
  fc.assert(
    fc.property(fc.array(jsonish, { maxLength: 4 }), (routes) => {
      const problems = validateRoutes(routes);
      if (problems.length > 0) return problems.every((p) => typeof p.route === 'string' && typeof p.path === 'string' && p.message.length > 0);
      // Accepted routes must compile into a table without throwing (or throw only a typed validation error for port conflicts).
      try {
        new RouteManager().prepare(routes as never);
      } catch (error) {
        return (error as { code?: string }).code === 'ERR_ROUTE_VALIDATION';
      }
      return true;
    }),
    { numRuns: runs },
  );
  t.pass(`${runs} random route lists`);
});

t.test('redirect templates: request values can never inject a header', async (t) => {
  const hostile = fc.string({ unit: fc.constantFrom('a', '/', '?', '&', '\r', '\n', '\u0000', ' ', '%', '{', '}', 'é'), maxLength: 40 });
  fc.assert(
    fc.property(fc.constantFrom('https://{domain}{path}?{query}', '{path}', 'https://x.test:{port}/{query}'), hostile, hostile, hostile, fc.integer({ min: 1, max: 65535 }), (template, domain, path, query, port) => {
      const location = expandTemplate(template, { domain, path, port, query });
      return !/[\u0000-\u0020\u007f]/.test(location);
    }),
    { numRuns: runs },
  );
  t.pass(`${runs} hostile values`);
});

t.test('regressions kept from fuzzing', async (t) => {
  t.equal(parseClientHello(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x00])).kind, 'invalid', 'zero-length record');
  t.equal(expandTemplate('{path}', { domain: '', path: '/a\r\nSet-Cookie: x=1', port: 80, query: '' }), '/a%0D%0ASet-Cookie:%20x=1');
  t.ok(validateRoutes([{ match: { ports: [] }, action: { type: 'forward' } }]).length >= 2, 'empty port list and missing target both reported');
});

t.test('regression: a value without a prototype in a route', async (t) => {
  const problems = validateRoutes([{ match: { ports: 1 }, action: { type: Object.create(null) } }]);
  t.match(problems[0], { path: 'action.type', message: /instead got an object/ });
});
