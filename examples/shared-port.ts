// Two backends behind one port, routed by Host. Run: npx tsx examples/shared-port.ts
import { createServer, get } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SmartProxy } from 'smartproxy';

const backend = (name: string) =>
  new Promise<number>((resolve) => {
    const server = createServer((req, res) => res.end(`${name} saw ${req.headers.host}\n`)).listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
    server.unref();
  });

const port = Number(process.env.PORT ?? 8080);
const proxy = new SmartProxy({
  host: '127.0.0.1',
  routes: [
    { name: 'shop', match: { ports: port, domains: 'shop.localhost' }, action: { type: 'forward', target: { host: '127.0.0.1', port: await backend('shop') } } },
    { name: 'blog', match: { ports: port, domains: 'blog.localhost' }, action: { type: 'forward', target: { host: '127.0.0.1', port: await backend('blog') } } },
  ],
});
await proxy.start();
console.log(`port ${port} is shared by ${proxy.portManager.getPortRefCount(port)} routes`);

const ask = (host: string) =>
  new Promise<string>((resolve, reject) => {
    get({ host: '127.0.0.1', port, headers: { host } }, (res) => {
      let text = '';
      res.on('data', (chunk) => (text += chunk));
      res.on('end', () => resolve(text));
    }).on('error', reject);
  });
for (const host of ['shop.localhost', 'blog.localhost']) process.stdout.write(await ask(host));
await proxy.stop();
