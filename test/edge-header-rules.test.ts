// Route header rules (issue 17, SmartProxy v19 parity): `headers.request`
// and `headers.response` set (a string, with {clientIp}, {domain}, {path},
// {port}, {route}) or remove (null) headers both ways, on every HTTP
// engine; framing and hop-by-hop headers are refused when routes are set.
import t from 'tap';
import { RouteValidationError, SmartProxy, type IRouteConfig } from '../ts/index.js';
import { validateRoutes } from '../ts/routing/validate.js';
import { startHttpServer } from './helpers/data-path.js';
import { fronts, startEdgeFronts } from './helpers/edge-fronts.js';
import { getFreePort } from './helpers/free-port.js';

t.test('request and response rules set and remove headers, templates expanded, on every engine', async (t) => {
  const upstream = await startHttpServer(t, (req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', server: 'secret/1.0', 'x-powered-by': 'php', 'x-keep': 'kept' });
    res.end(JSON.stringify(req.headers));
  });
  const edge = await startEdgeFronts(
    t,
    { target: { host: '127.0.0.1', port: upstream.port } },
    {
      headers: {
        request: { 'X-Client': '{clientIp}', 'X-Where': '{domain}{path} on {port} by {route}', Cookie: null, 'User-Agent': 'edge' },
        response: { Server: null, 'X-Powered-By': null, 'Strict-Transport-Security': 'max-age=63072000', 'X-Route': '{route}' },
      },
    },
  );
  for (const front of fronts) {
    const port = front === 'tls' ? edge.tlsPort : edge.plainPort;
    const res = await edge.request(front, { path: '/a/b?q=1', headers: { cookie: 'session=1', 'user-agent': 'curl' } });
    t.equal(res.status, 200, `${front}: 200`);
    const seen = res.json<Record<string, string>>();
    t.equal(seen['x-client'], '127.0.0.1', `${front}: {clientIp}`);
    t.equal(seen['x-where'], `e.test/a/b on ${port} by app-${port}`, `${front}: {domain}, {path}, {port}, {route}`);
    t.equal(seen.cookie, undefined, `${front}: request header removed`);
    t.equal(seen['user-agent'], 'edge', `${front}: request header replaced`);
    t.equal(seen['x-forwarded-for'], '127.0.0.1', `${front}: X-Forwarded-* still added`);
    t.equal(res.headers.server, undefined, `${front}: response header removed`);
    t.equal(res.headers['x-powered-by'], undefined, `${front}: another removed`);
    t.equal(res.headers['strict-transport-security'], 'max-age=63072000', `${front}: response header set`);
    t.equal(res.headers['x-route'], `app-${port}`, `${front}: response template`);
    t.equal(res.headers['x-keep'], 'kept', `${front}: others untouched`);
  }
});

t.test('a template value from the request cannot inject a header line', async (t) => {
  const upstream = await startHttpServer(t, (req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(req.headers)));
  const edge = await startEdgeFronts(t, { target: { host: '127.0.0.1', port: upstream.port } }, { headers: { request: { 'X-Path': '{path}' } } });
  const res = await edge.request('fast', { path: '/a%0d%0aX-Evil:%201' });
  t.equal(res.status, 200);
  t.equal(res.json<Record<string, string>>()['x-evil'], undefined, 'no injected header');
});

t.test('framing and hop-by-hop headers cannot be set or removed; Host may be set but not removed', async (t) => {
  const route = (headers: IRouteConfig['headers']): IRouteConfig => ({ name: 'r', match: { ports: 8080 }, action: { type: 'forward', target: { host: 'a', port: 1 } }, headers });
  for (const name of ['Content-Length', 'transfer-encoding', 'Connection', 'Keep-Alive', 'TE', 'Trailer', 'Upgrade', 'Proxy-Authorization']) {
    for (const side of ['request', 'response'] as const) {
      const problems = validateRoutes([route({ [side]: { [name]: 'x' } })]);
      t.match(problems, [{ path: `headers.${side}.${name}`, message: /framing or hop-by-hop/ }], `${side} ${name}: set refused`);
      t.equal(validateRoutes([route({ [side]: { [name]: null } })]).length, 1, `${side} ${name}: remove refused`);
    }
  }
  t.same(validateRoutes([route({ request: { Host: 'internal.example' } })]), [], 'Host may be set');
  t.match(validateRoutes([route({ request: { Host: null } })]), [{ path: 'headers.request.Host', message: /cannot be removed/ }]);
  t.match(validateRoutes([route({ request: { 'Bad Name': 'x' } })]), [{ message: /not a valid header name/ }]);
  t.match(validateRoutes([route({ request: { 'X-A': 'a\r\nX-B: b' } })]), [{ message: /control characters/ }]);
  t.match(validateRoutes([route({ request: { 'X-A': 5 as unknown as string } })]), [{ message: /string .* or null/ }]);
  t.match(validateRoutes([route({ requests: {} } as unknown as IRouteConfig['headers'])]), [{ path: 'headers.requests', message: /did you mean 'request'/ }]);
  const port = await getFreePort();
  t.throws(() => new SmartProxy({ routes: [{ ...route({ response: { 'Content-Length': '0' } }), match: { ports: port } }] }).getRouteGraph(), RouteValidationError, 'the proxy refuses such routes');
});
