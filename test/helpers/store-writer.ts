// A child process that saves certificates and account keys into a store as
// fast as it can, until it is killed (the parent kills it with SIGKILL at a
// random moment). Usage: node --import tsx store-writer.ts <dir> <domain>
import { FileCertificateStore } from '../../ts/certificates/file-store.js';
import { readCertificate } from '../../ts/certificates/certificate-info.js';
import { createSelfSignedCertificate } from '../../ts/certificates/self-signed.js';

const [dir, domain] = process.argv.slice(2) as [string, string];
const store = new FileCertificateStore(dir);
const versions = [0, 1].map(() => {
  const pair = createSelfSignedCertificate({ domains: [domain] });
  const facts = readCertificate(pair.cert);
  return { cert: pair.cert, key: pair.key, issuedAt: facts.notBefore, expiresAt: facts.notAfter, source: 'acme' as const };
});
process.stdout.write('ready\n');
for (let i = 0; ; i++) {
  await store.saveCertificate(domain, versions[i % 2]!);
  await store.saveAccountKey('https://ca.test/dir', versions[i % 2]!.key);
}
