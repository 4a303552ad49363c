import t from 'tap';
import http from 'node:http';
import { SmartProxy } from '../ts/index.js';
import { startHttpBackend, httpGet, startEchoBackend, tcpExchange, silentLogger } from './helpers/backends.js';
import { getFreePort } from './helpers/free-port.js';

t.test('two routes on one port are routed by Host through one listener', async (t) => {
  const a = await startHttpBackend('a');
  const b = await startHttpBackend('b');
  const port = await getFreePort();
  const proxy = new SmartProxy({
    host: '127.0.0.1',
    logger: await silentLogger(),
    routes: [
      { name: 'a', match: { ports: port, domains: 'a.test' }, action: { type: 'forward', target: { host: '127.0.0.1', port: a.port } } },
      { name: 'b', match: { ports: port, domains: 'b.test' }, action: { type: 'forward', target: { host: '127.0.0.1', port: b.port } } },
    ],
  });
  const bound: number[] = [];
  proxy.on('port-bound', ({ port }) => bound.push(port));
  await proxy.start();
  t.teardown(async () => {
    await proxy.stop();
    await a.close();
    await b.close();
  });
  t.same(bound, [port], 'one port-bound event');
  t.equal(proxy.portManager.getPortRefCount(port), 2);
  t.equal((await httpGet(port, { host: 'a.test' })).json().name, 'a');
  t.equal((await httpGet(port, { host: 'b.test:1234' })).json().name, 'b');
  t.equal((await httpGet(port, { host: 'c.test' })).status, 404);

  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  const first = await httpGet(port, { host: 'a.test', agent });
  const second = await httpGet(port, { host: 'b.test', agent });
  t.equal(first.json().name, 'a');
  t.equal(second.json().name, 'b', 'one keep-alive connection reaches two routes');
  const xff = first.json<{ headers: Record<string, string> }>().headers;
  t.equal(xff['x-forwarded-for'], '127.0.0.1');
  t.equal(xff['x-forwarded-proto'], 'http');
  t.equal(xff['x-forwarded-host'], 'a.test');
  t.equal(xff['host'], 'a.test', 'Host preserved');
});

t.test('plain TCP forward pipes both ways', async (t) => {
  const echo = await startEchoBackend('echo');
  const port = await getFreePort();
  const proxy = new SmartProxy({
    host: '127.0.0.1',
    logger: await silentLogger(),
    routes: [{ match: { ports: port }, action: { type: 'forward', target: { host: '127.0.0.1', port: echo.port } } }],
  });
  await proxy.start();
  t.teardown(async () => {
    await proxy.stop();
    await echo.close();
  });
  t.equal(await tcpExchange(port, 'hello'), 'echo:hello');
});
