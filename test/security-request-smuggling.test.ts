/**
 * Request smuggling through a chunked GET.
 *
 * The proxy strips Transfer-Encoding (a hop-by-hop header) from the request
 * it forwards. Node's http client sends no framing of its own for a GET
 * without Content-Length, so the de-chunked body used to go upstream raw,
 * right after the headers: a body that is itself an HTTP request became a
 * second request on the pooled upstream connection, invisible to the
 * proxy's routing and security checks, and its response was handed to the
 * next client that got that pooled connection.
 */
import t from 'tap';
import http from 'node:http';
import { closed, rawConnect, startHttpServer, startProxy } from './helpers/data-path.js';
import { getFreePort } from './helpers/free-port.js';

t.test('a chunked body on a GET is forwarded as a body, never as a second request', async (t) => {
  const seen: { method: string; url: string; body: string }[] = [];
  const backend = await startHttpServer(t, (req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, body });
      res.end(`answer for ${req.url}`);
    });
  });
  const port = await getFreePort();
  await startProxy(t, [
    { name: 'public', match: { ports: port, domains: 'a.test' }, action: { type: 'forward', target: { host: '127.0.0.1', port: backend.port } } },
    { name: 'admin', match: { ports: port, domains: 'a.test', path: '/admin' }, action: { type: 'block' } },
  ]);
  const smuggled = 'GET /admin HTTP/1.1\r\nHost: a.test\r\n\r\n';
  const client = await rawConnect(port);
  client.write(
    'GET /innocent HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n' +
      `${smuggled.length.toString(16)}\r\n${smuggled}\r\n0\r\n\r\n`,
  );
  const reply = await closed(client);
  t.match(reply, /answer for \/innocent/);
  t.notMatch(reply, /\/admin/);
  // A second client reusing the pooled upstream connection must get its own answer.
  const next = await new Promise<string>((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/next', headers: { host: 'a.test' }, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve(body));
      })
      .on('error', reject);
  });
  t.equal(next, 'answer for /next');
  t.notOk(
    seen.some((r) => r.url === '/admin'),
    'the upstream never saw /admin as a request',
  );
  t.same(seen[0], { method: 'GET', url: '/innocent', body: smuggled }, 'the body arrived as a body');
});

t.test('Content-Length together with Transfer-Encoding is refused before any upstream is contacted', async (t) => {
  let requests = 0;
  const backend = await startHttpServer(t, (_req, res) => {
    requests++;
    res.end('ok');
  });
  const port = await getFreePort();
  await startProxy(t, [{ name: 'a', match: { ports: port, domains: '*' }, action: { type: 'forward', target: { host: '127.0.0.1', port: backend.port } } }]);
  const client = await rawConnect(port);
  client.write('POST / HTTP/1.1\r\nHost: a.test\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /x HTTP/1.1\r\nHost: a.test\r\n\r\n');
  const reply = await closed(client);
  t.match(reply, /^HTTP\/1\.1 400/);
  t.equal(requests, 0);
});

t.test('a request with two Host headers is refused: the upstream could read the other one', async (t) => {
  let requests = 0;
  const backend = await startHttpServer(t, (_req, res) => {
    requests++;
    res.end('ok');
  });
  const port = await getFreePort();
  await startProxy(t, [{ name: 'a', match: { ports: port, domains: 'a.test' }, action: { type: 'forward', target: { host: '127.0.0.1', port: backend.port } } }]);
  const client = await rawConnect(port);
  client.write('GET / HTTP/1.1\r\nHost: a.test\r\nhost: b.test\r\nConnection: close\r\n\r\n');
  t.match(await closed(client), /^HTTP\/1\.1 400/);
  t.equal(requests, 0);
});
