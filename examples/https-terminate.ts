// TLS termination with a certificate made at start-up, next to a plain HTTP
// route on another port that redirects to it. Run: npx tsx examples/https-terminate.ts
import { createServer, get } from 'node:http';
import { request } from 'node:https';
import type { AddressInfo } from 'node:net';
import { SmartProxy, createSelfSignedCertificate } from 'smartproxy';

const app = createServer((req, res) => res.end(`app over ${req.headers['x-forwarded-proto']}\n`)).listen(0, '127.0.0.1');
await new Promise((resolve) => app.once('listening', resolve));
const appPort = (app.address() as AddressInfo).port;

const httpPort = Number(process.env.HTTP_PORT ?? 8080);
const httpsPort = Number(process.env.HTTPS_PORT ?? 8443);
const certificate = createSelfSignedCertificate({ domains: ['app.localhost'] });
const proxy = new SmartProxy({
  host: '127.0.0.1',
  routes: [
    { name: 'app', match: { ports: httpsPort, domains: 'app.localhost' }, action: { type: 'forward', target: { host: '127.0.0.1', port: appPort }, tls: { mode: 'terminate', certificate } } },
    { name: 'to-https', match: { ports: httpPort }, action: { type: 'redirect', redirect: { to: `https://{domain}:${httpsPort}{path}`, status: 308 } } },
  ],
});
await proxy.start();

const redirect = await new Promise<{ status?: number; location?: string }>((resolve, reject) => {
  get({ host: '127.0.0.1', port: httpPort, path: '/hello', headers: { host: 'app.localhost' } }, (res) => {
    res.resume();
    resolve({ status: res.statusCode, location: res.headers.location });
  }).on('error', reject);
});
console.log(`http  -> ${redirect.status} ${redirect.location}`);

const body = await new Promise<string>((resolve, reject) => {
  request({ host: '127.0.0.1', port: httpsPort, servername: 'app.localhost', headers: { host: 'app.localhost' }, ca: certificate.cert }, (res) => {
    let text = '';
    res.on('data', (chunk) => (text += chunk));
    res.on('end', () => resolve(text));
  })
    .on('error', reject)
    .end();
});
console.log(`https -> ${body.trim()}`);
await proxy.stop();
app.close();
