/**
 * Path routes that guard a prefix (block '/admin/*') must not be sidestepped
 * by spelling the same path differently. Upstreams resolve these spellings
 * to the guarded path (Express reads the path of an absolute-form target,
 * static file servers resolve dot segments, many decode %XX), so the proxy
 * matches routes on the path as the upstream will read it:
 * - absolute-form targets (`GET http://a.test/admin/x`) are matched by
 *   their path and their authority, and forwarded in origin-form;
 * - dot segments, doubled slashes and percent-encoded unreserved
 *   characters are resolved before matching (the forwarded URL is left
 *   as the client sent it, as nginx does without a rewrite).
 */
import t from 'tap';
import { closed, rawConnect, startHttpServer, startProxy } from './helpers/data-path.js';
import { getFreePort } from './helpers/free-port.js';
import { readRequestTarget } from '../ts/proxy/request-target.js';

t.test('a blocked path prefix cannot be reached by another spelling of it', async (t) => {
  const seen: string[] = [];
  const backend = await startHttpServer(t, (req, res) => {
    seen.push(`${req.headers.host} ${req.url}`);
    res.end('upstream');
  });
  const port = await getFreePort();
  await startProxy(t, [
    { name: 'site', match: { ports: port, domains: 'a.test' }, action: { type: 'forward', target: { host: '127.0.0.1', port: backend.port } } },
    { name: 'admin', match: { ports: port, domains: 'a.test', path: '/admin/*' }, action: { type: 'block' } },
    { name: 'other', match: { ports: port, domains: 'b.test' }, action: { type: 'static', static: { body: 'b' } } },
  ]);
  const ask = async (target: string, host = 'a.test') => {
    const socket = await rawConnect(port);
    socket.write(`GET ${target} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
    const reply = await closed(socket);
    return Number(reply.slice(9, 12));
  };
  const blocked = ['/admin/x', '/admin', '/public/../admin/x', '/./admin/x', '//admin/x', '/%61dmin/x', '/%2e%2e/admin/x', '/admin/%2e%2e/admin/x', 'http://a.test/admin/x', 'HTTP://A.TEST:80/admin'];
  for (const target of blocked) t.equal(await ask(target), 403, `${target} is blocked`);
  t.equal(await ask('http://b.test/x', 'a.test'), 400, 'an absolute-form authority that contradicts Host is refused');
  t.same(seen, [], 'none reached the upstream');

  t.equal(await ask('/public/x'), 200);
  t.equal(await ask('/administrator'), 200, 'a longer name is not the prefix');
  t.equal(await ask('http://a.test/public/y?q=1'), 200);
  t.equal(await ask('http://a.test'), 200);
  t.same(seen, ['a.test /public/x', 'a.test /administrator', 'a.test /public/y?q=1', 'a.test /'], 'absolute-form is forwarded in origin-form');
});

t.test('readRequestTarget', async (t) => {
  const cases: [string, { path: string; originForm: string | undefined; authority: string | undefined } | undefined][] = [
    ['/plain/path?x=1', { path: '/plain/path', originForm: undefined, authority: undefined }],
    ['/', { path: '/', originForm: undefined, authority: undefined }],
    ['/a/b/..', { path: '/a/', originForm: undefined, authority: undefined }],
    ['/a/./b/.', { path: '/a/b/', originForm: undefined, authority: undefined }],
    ['/../../etc', { path: '/etc', originForm: undefined, authority: undefined }],
    ['/a//b///c/', { path: '/a/b/c/', originForm: undefined, authority: undefined }],
    ['/%7Euser/%2Fx%41', { path: '/~user/%2FxA', originForm: undefined, authority: undefined }],
    ['/a/%2E%2E/b#frag', { path: '/b', originForm: undefined, authority: undefined }],
    ['*', { path: '*', originForm: undefined, authority: undefined }],
    ['http://a.test', { path: '/', originForm: '/', authority: 'a.test' }],
    ['https://a.test:8443?x=1', { path: '/', originForm: '/?x=1', authority: 'a.test:8443' }],
    ['ws://[::1]:80/s', { path: '/s', originForm: '/s', authority: '[::1]:80' }],
    ['http://user@a.test/', undefined],
    ['http:///x', undefined],
    ['a.test:443', undefined],
    ['ftp://a.test/', undefined],
    ['', undefined],
  ];
  for (const [url, expected] of cases) t.same(readRequestTarget(url), expected, JSON.stringify(url));
});
