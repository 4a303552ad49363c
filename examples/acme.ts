// Certificates from an ACME CA on a port shared with your own HTTP routes.
// By default it talks to Let's Encrypt staging and needs a public DNS name
// pointing at this machine with port 80 forwarded here; the test suite runs
// it against Pebble with ACME_DIRECTORY_URL, ACME_CA_FILE and the ports set.
// Run: DOMAIN=example.com EMAIL=you@example.com npx tsx examples/acme.ts
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SmartProxy } from 'smartproxy';

const domain = process.env.DOMAIN ?? 'example.com';
const httpPort = Number(process.env.HTTP_PORT ?? 80);
const httpsPort = Number(process.env.HTTPS_PORT ?? 443);
const app = createServer((_req, res) => res.end('hello over TLS\n')).listen(0, '127.0.0.1');
await new Promise((resolve) => app.once('listening', resolve));

const proxy = new SmartProxy({
  host: process.env.HOST,
  acme: {
    email: process.env.EMAIL ?? 'you@example.com',
    directoryUrl: process.env.ACME_DIRECTORY_URL, // default: Let's Encrypt staging
    caCertificates: process.env.ACME_CA_FILE ? readFileSync(process.env.ACME_CA_FILE, 'utf8') : undefined,
    skipChallengeVerification: process.env.ACME_DIRECTORY_URL !== undefined,
    port: httpPort,
    certificateStore: process.env.CERT_DIR ?? './certs',
  },
  routes: [
    // Your own catch-all on port 80 keeps working while challenges are answered on the same listener.
    { name: 'to-https', match: { ports: httpPort }, action: { type: 'redirect', redirect: { to: `https://{domain}:${httpsPort}{path}` } } },
    {
      name: 'site',
      match: { ports: httpsPort, domains: domain },
      action: { type: 'forward', target: { host: '127.0.0.1', port: (app.address() as AddressInfo).port }, tls: { mode: 'terminate', certificate: 'auto' } },
    },
  ],
});
const issued = new Promise<void>((resolve, reject) => {
  proxy.once('certificate-issued', ({ domain, expiryDate }) => {
    console.log(`certificate for ${domain} until ${expiryDate.toISOString()}`);
    resolve();
  });
  proxy.once('certificate-failed', ({ error }) => reject(error));
});
await proxy.start();
await issued;
console.log(JSON.stringify(proxy.certificateManager.getCertificateStatus(domain)));
await proxy.stop();
app.close();
