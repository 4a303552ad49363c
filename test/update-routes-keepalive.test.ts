// A port that stays in use across updateRoutes() is never closed or
// re-bound: a keep-alive connection opened before the update, idle during
// it, carries on afterwards and sees the new routes.
import t from 'tap';
import http from 'node:http';
import type { Socket } from 'node:net';
import { SmartProxy, type IRouteConfig } from '../ts/index.js';
import { silentLogger, startHttpBackend } from './helpers/backends.js';
import { getFreePort } from './helpers/free-port.js';

function web(name: string, port: number, backendPort: number): IRouteConfig {
  return { name, match: { ports: port, domains: `${name}.test` }, action: { type: 'forward', target: { host: '127.0.0.1', port: backendPort } } };
}

/** One request on the agent; reports which client socket carried it. */
function request(port: number, host: string, agent: http.Agent): Promise<{ status: number; name: string | undefined; socket: Socket }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: '/', agent, headers: { host } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => {
        const name = res.statusCode === 200 ? (JSON.parse(body) as { name: string }).name : undefined;
        resolve({ status: res.statusCode ?? 0, name, socket: req.socket! });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

t.test('adding and removing routes on a shared port keeps an idle keep-alive connection working', async (t) => {
  const a = await startHttpBackend('a');
  const b = await startHttpBackend('b');
  const [port, other] = [await getFreePort(), await getFreePort()];
  const proxy = new SmartProxy({
    host: '127.0.0.1',
    logger: await silentLogger(),
    routes: [web('a', port, a.port), web('gone', port, b.port), web('elsewhere', other, b.port)],
  });
  const events: string[] = [];
  proxy.on('port-bound', (e) => events.push(`bound ${e.port}`));
  proxy.on('port-released', (e) => events.push(`released ${e.port}`));
  await proxy.start();
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(async () => {
    agent.destroy();
    await proxy.stop();
    await a.close();
    await b.close();
  });

  const first = await request(port, 'a.test', agent);
  t.equal(first.name, 'a');
  const socket = first.socket;
  const localPort = socket.localPort;
  let closed = false;
  socket.on('close', () => (closed = true));
  events.length = 0;

  // Add 'b', remove 'gone' on the shared port; drop the other port entirely.
  await proxy.updateRoutes([web('a', port, a.port), web('b', port, b.port)]);
  t.equal(proxy.portManager.getPortRefCount(port), 2);
  t.same(events, [`released ${other}`], 'the shared port was neither released nor bound again');

  const second = await request(port, 'a.test', agent);
  t.equal(second.name, 'a');
  t.equal(second.socket, socket, 'the same client socket carried the request');
  t.equal(second.socket.localPort, localPort);
  t.notOk(closed, 'the connection was never closed');

  t.equal((await request(port, 'b.test', agent)).name, 'b', 'the added route serves on the old connection');
  const removed = await request(port, 'gone.test', agent);
  t.equal(removed.status, 404, 'the removed route is gone on the old connection');
  t.equal(removed.socket, socket);

  // Another update that only removes routes, with the connection idle again.
  await proxy.updateRoutes([web('a', port, a.port)]);
  const last = await request(port, 'a.test', agent);
  t.equal(last.name, 'a');
  t.equal(last.socket, socket);
  t.notOk(closed);
  t.equal(proxy.portManager.getPortRefCount(port), 1);
});
