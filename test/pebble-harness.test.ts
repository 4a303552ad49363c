// Proves test/helpers/pebble.ts end to end with acme-client alone (no smartproxy
// code): pebble validates a real HTTP-01 challenge on loopback and issues a
// chain that verifies against its root.
import t from 'tap';
import acme from 'acme-client';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { Agent } from 'node:https';
import type { AddressInfo } from 'node:net';
import { createCertificateAuthority, createSelfSignedCertificate } from '../ts/certificates/self-signed.js';
import { getFreePort } from './helpers/free-port.js';
import { startPebble, type PebbleInstance } from './helpers/pebble.js';

const CHALLENGE_PREFIX = '/.well-known/acme-challenge/';

// The parts of a tap test the helpers below use.
type Tap = Pick<typeof t, 'teardown' | 'ok' | 'equal' | 'comment'>;

t.test('self-signed: CA-signed leaf verifies against its CA and carries the SANs', async (t) => {
  const started = performance.now();
  const ca = createCertificateAuthority('test CA');
  const leaf = createSelfSignedCertificate({ domains: ['a.test', 'b.test'], ips: ['127.0.0.1'], issuer: ca });
  const self = createSelfSignedCertificate({ domains: ['c.test'] });
  const perCert = (performance.now() - started) / 3;
  t.comment(`self-signed: ${perCert.toFixed(0)} ms per certificate`);
  // Native RSA-2048 key generation alone varies 70-370 ms here (random prime search),
  // so a tight bound would flake; this one catches a slide back to forge's JS keygen (seconds).
  t.ok(perCert < 1000, 'certificates are made with native key generation');

  const caCert = new X509Certificate(ca.cert);
  const leafCert = new X509Certificate(leaf.cert);
  t.ok(caCert.ca, 'CA has basicConstraints cA');
  t.notOk(leafCert.ca, 'leaf is not a CA');
  t.ok(leafCert.verify(caCert.publicKey), 'leaf signature verifies with the CA key');
  t.ok(leafCert.checkIssued(caCert), 'leaf issuer matches CA subject');
  t.equal(leafCert.subjectAltName, 'DNS:a.test, DNS:b.test, IP Address:127.0.0.1');
  t.ok(leafCert.checkPrivateKey(createPrivateKey(leaf.key)), 'key matches certificate');
  t.ok(BigInt(`0x${leafCert.serialNumber}`) > 0n, 'serial is positive');
  t.ok(Date.parse(leafCert.validFrom) < Date.now() - 50 * 60 * 1000, 'notBefore is backdated');

  const selfCert = new X509Certificate(self.cert);
  t.ok(selfCert.verify(selfCert.publicKey), 'self-signed leaf verifies with its own key');
  t.equal(selfCert.subjectAltName, 'DNS:c.test');
  t.throws(() => createSelfSignedCertificate({ domains: [] }), /at least one entry/);
});

t.test('pebble issues a.test over HTTP-01', async (t) => {
  const env = await startEnvironment(t);
  // Module-global: every acme-client Client in this process now trusts the CA.
  const agent = new Agent({ ca: env.pebble.caCertificate });
  acme.axios.defaults.httpsAgent = agent;
  t.teardown(() => {
    delete acme.axios.defaults.httpsAgent;
    agent.destroy();
  });
  await issueAndVerify(t, env, 'a.test');
});

t.test('pebble trust can be scoped to one ACME origin with an axios interceptor', async (t) => {
  const env = await startEnvironment(t);
  // Per-origin alternative to the global default: only requests to this pebble get its CA.
  const origin = new URL(env.pebble.directoryUrl).origin;
  const agent = new Agent({ ca: env.pebble.caCertificate });
  const id = acme.axios.interceptors.request.use((config) => {
    if (config.httpsAgent === undefined && config.url !== undefined && new URL(config.url).origin === origin) {
      config.httpsAgent = agent;
    }
    return config;
  });
  t.teardown(() => {
    acme.axios.interceptors.request.eject(id);
    agent.destroy();
  });
  t.equal(acme.axios.defaults.httpsAgent, undefined, 'no global agent is set');
  await issueAndVerify(t, env, 'b.test');
});

interface Environment {
  pebble: PebbleInstance;
  /** Key authorizations served on the HTTP-01 port, by token. */
  challenges: Map<string, string>;
  /** How many challenge requests pebble made. */
  hits: { count: number };
}

async function startEnvironment(t: Tap): Promise<Environment> {
  const challenges = new Map<string, string>();
  const hits = { count: 0 };
  const server = createServer((req, res) => {
    const token = req.url?.startsWith(CHALLENGE_PREFIX) ? req.url.slice(CHALLENGE_PREFIX.length) : undefined;
    const keyAuthorization = token === undefined ? undefined : challenges.get(token);
    if (keyAuthorization === undefined) {
      res.writeHead(404).end();
      return;
    }
    hits.count++;
    res.writeHead(200, { 'content-type': 'text/plain' }).end(keyAuthorization);
  });
  await listen(server);
  t.teardown(() => closeServer(server));
  const httpPort = (server.address() as AddressInfo).port;
  const pebble = await startPebble({ httpPort, tlsPort: await getFreePort() });
  t.teardown(() => pebble.stop());
  return { pebble, challenges, hits };
}

async function issueAndVerify(t: Tap, env: Environment, domain: string): Promise<void> {
  const client = new acme.Client({
    directoryUrl: env.pebble.directoryUrl,
    accountKey: await acme.crypto.createPrivateKey(),
    backoffMin: 200, // default 5 s makes every pending poll slow
    backoffMax: 1000,
  });
  const [, csr] = await acme.crypto.createCsr({ altNames: [domain] });
  const started = performance.now();
  const chainPem = await client.auto({
    csr,
    termsOfServiceAgreed: true,
    challengePriority: ['http-01'],
    // acme-client's pre-flight uses the system resolver, which cannot resolve *.test.
    skipChallengeVerification: true,
    challengeCreateFn: async (_authz, challenge, keyAuthorization) => {
      env.challenges.set(challenge.token, keyAuthorization);
    },
    challengeRemoveFn: async (_authz, challenge) => {
      env.challenges.delete(challenge.token);
    },
  });
  t.comment(`${domain}: issued in ${(performance.now() - started).toFixed(0)} ms`);
  t.ok(env.hits.count >= 1, 'pebble fetched the HTTP-01 challenge');
  t.equal(env.challenges.size, 0, 'challenge was removed afterwards');

  const chain = acme.crypto.splitPemChain(chainPem).map((pem) => new X509Certificate(pem));
  const leaf = chain[0];
  if (leaf === undefined) throw new Error('empty chain');
  t.equal(leaf.subjectAltName, `DNS:${domain}`);

  const root = new X509Certificate(await env.pebble.getRoots());
  const path = [...chain, root];
  for (let i = 0; i + 1 < path.length; i++) {
    const [child, parent] = [path[i], path[i + 1]];
    if (child === undefined || parent === undefined) throw new Error('unreachable');
    t.ok(child.checkIssued(parent) && child.verify(parent.publicKey), `${child.subject.trim()} is signed by ${parent.subject.trim()}`);
  }
  t.ok(root.verify(root.publicKey), 'root is self-signed');
}

function listen(server: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
}

function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}
