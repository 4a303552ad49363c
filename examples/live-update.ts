// Routes change at runtime without touching the listener: a keep-alive
// connection opened before the update keeps working after it.
// Run: npx tsx examples/live-update.ts
import { Agent, createServer, get } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SmartProxy, type IRouteConfig } from 'smartproxy';

async function backend(name: string): Promise<number> {
  const server = createServer((_req, res) => res.end(name)).listen(0, '127.0.0.1');
  server.unref();
  await new Promise((resolve) => server.once('listening', resolve));
  return (server.address() as AddressInfo).port;
}

const port = Number(process.env.PORT ?? 8080);
const v1 = await backend('v1');
const v2 = await backend('v2');
const route = (target: number): IRouteConfig[] => [{ name: 'site', match: { ports: port, domains: 'site.localhost' }, action: { type: 'forward', target: { host: '127.0.0.1', port: target } } }];

const proxy = new SmartProxy({ host: '127.0.0.1', routes: route(v1) });
proxy.on('port-bound', ({ port }) => console.log(`bound ${port}`));
proxy.on('port-released', ({ port }) => console.log(`released ${port}`));
await proxy.start();

const agent = new Agent({ keepAlive: true, maxSockets: 1 });
const ask = () =>
  new Promise<string>((resolve, reject) => {
    get({ host: '127.0.0.1', port, headers: { host: 'site.localhost' }, agent }, (res) => {
      let text = '';
      res.on('data', (chunk) => (text += chunk));
      res.on('end', () => resolve(text));
    }).on('error', reject);
  });

console.log(`before: ${await ask()}`);
await proxy.updateRoutes(route(v2)); // swaps the table; port stays bound, no event fires
console.log(`after:  ${await ask()} (same connection, port still bound: ${proxy.portManager.isPortBoundBySmartProxy(port)})`);
agent.destroy();
await proxy.stop();
