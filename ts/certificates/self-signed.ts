import { createPrivateKey, generateKeyPairSync, randomBytes, sign as signNative, type KeyObject } from 'node:crypto';
import forge from 'node-forge';

/** PemKeyPair is a PEM private key (PKCS#8) and its PEM certificate. */
export interface PemKeyPair {
  key: string;
  cert: string;
}

/** SelfSignedOptions describes a leaf certificate for createSelfSignedCertificate. */
export interface SelfSignedOptions {
  /** DNS names put in the subjectAltName; the first one is also the subject CN. */
  domains: string[];
  /** Validity in days. Default: 365. */
  days?: number;
  /** CA that signs the leaf; its key must be RSA. Default: the leaf signs itself. */
  issuer?: PemKeyPair;
  /** IPv4/IPv6 addresses put in the subjectAltName as IP entries. Default: none. */
  ips?: string[];
}

// Clocks on test machines and peers drift; starting an hour back avoids "not yet valid".
const BACKDATE_MS = 60 * 60 * 1000;
const DAY_MS = 24 * 60 * 60 * 1000;

/** createCertificateAuthority makes an RSA-2048 root CA. Default validity: 3650 days. */
export function createCertificateAuthority(commonName: string, days = 3650): PemKeyPair {
  const { key, publicKey } = generateKeys();
  const subject = [{ name: 'commonName', value: commonName }];
  const cert = newCertificate(publicKey, days, subject, subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  return { key: key.pem, cert: sign(cert, key.native) };
}

/**
 * createSelfSignedCertificate makes an RSA-2048 server certificate for the given
 * names, signed by `issuer` when given and by its own key otherwise.
 */
export function createSelfSignedCertificate(opts: SelfSignedOptions): PemKeyPair {
  const { domains, days = 365, issuer, ips = [] } = opts;
  const commonName = domains[0] ?? ips[0];
  if (commonName === undefined) {
    throw new Error('creating certificate: need at least one entry in domains or ips');
  }
  const { key, publicKey } = generateKeys();
  const subject = [{ name: 'commonName', value: commonName }];
  const issuerCert = issuer ? forge.pki.certificateFromPem(issuer.cert) : undefined;
  const cert = newCertificate(publicKey, days, subject, issuerCert?.subject.attributes ?? subject);
  const extensions: object[] = [
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
    {
      name: 'subjectAltName',
      altNames: [...domains.map((value) => ({ type: 2, value })), ...ips.map((ip) => ({ type: 7, ip }))],
    },
    { name: 'subjectKeyIdentifier' },
  ];
  if (issuerCert) {
    // Lets verifiers pick the right CA when several share a subject name.
    extensions.push({ name: 'authorityKeyIdentifier', keyIdentifier: issuerCert.generateSubjectKeyIdentifier().getBytes() });
  }
  cert.setExtensions(extensions);
  const signingKey = issuer ? createPrivateKey(issuer.key) : key.native;
  if (signingKey.asymmetricKeyType !== 'rsa') {
    throw new Error(`creating certificate: issuer key is ${signingKey.asymmetricKeyType}, expected rsa`);
  }
  return { key: key.pem, cert: sign(cert, signingKey) };
}

interface GeneratedKeys {
  key: { pem: string; native: KeyObject };
  publicKey: forge.pki.rsa.PublicKey;
}

// Native key generation takes tens of milliseconds; node-forge's pure-JS one takes seconds.
function generateKeys(): GeneratedKeys {
  const pair = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  return {
    key: { pem: pair.privateKey, native: createPrivateKey(pair.privateKey) },
    publicKey: forge.pki.publicKeyFromPem(pair.publicKey),
  };
}

function newCertificate(
  publicKey: forge.pki.rsa.PublicKey,
  days: number,
  subject: forge.pki.CertificateField[],
  issuer: forge.pki.CertificateField[],
): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  cert.serialNumber = randomSerial();
  const now = Date.now();
  cert.validity.notBefore = new Date(now - BACKDATE_MS);
  cert.validity.notAfter = new Date(now + days * DAY_MS);
  cert.setSubject(subject);
  cert.setIssuer(issuer);
  return cert;
}

// 128 random bits. The first byte is kept in 0x40..0x7f: the high bit clear keeps the
// DER integer positive, and a nonzero first byte avoids a non-minimal encoding that
// strict parsers reject.
function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = ((bytes[0] ?? 0) & 0x3f) | 0x40;
  return bytes.toString('hex');
}

const SHA256_WITH_RSA_OID = '1.2.840.113549.1.1.11';

// getTBSCertificate is exported by node-forge but missing from @types/node-forge.
const { getTBSCertificate } = forge.pki as typeof forge.pki & {
  getTBSCertificate(cert: forge.pki.Certificate): forge.asn1.Asn1;
};

// Does what forge's cert.sign does, but with Node's native RSA: forge's JavaScript
// RSA takes 30-80 ms per signature, the native one well under 1 ms.
function sign(cert: forge.pki.Certificate, key: KeyObject): string {
  cert.signatureOid = cert.siginfo.algorithmOid = SHA256_WITH_RSA_OID;
  cert.tbsCertificate = getTBSCertificate(cert);
  const tbs = Buffer.from(forge.asn1.toDer(cert.tbsCertificate).getBytes(), 'binary');
  cert.signature = signNative('sha256', tbs, key).toString('binary');
  return forge.pki.certificateToPem(cert);
}
