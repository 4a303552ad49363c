import { MemoryChallengeStore, type IChallengeStore } from '../certificates/challenge-store.js';
import type { IAcmeOptions } from '../options.js';
import type { CertificateMirror } from '../certificates/certificate-manager.js';
import type { Logger } from 'pino';
import type { WorkerGroup } from './worker-group.js';

/**
 * The challenge store the control plane's CertificateManager writes HTTP-01
 * tokens to: the user's (or a memory) store, plus every worker. `set`
 * resolves once every worker answers the token, and the manager awaits it
 * before the CA is told to validate, so whichever worker the CA reaches
 * knows the answer.
 */
export function mirroredChallengeStore(inner: IChallengeStore, group: WorkerGroup): IChallengeStore {
  return {
    async set(token, keyAuthorization) {
      await inner.set(token, keyAuthorization);
      await group.pushToken(token, keyAuthorization);
    },
    get: (token) => inner.get(token),
    async delete(token) {
      await inner.delete(token);
      await group.pushToken(token, undefined);
    },
  };
}

/** The acme option with its challenge store mirrored to the workers (the user's store, or a memory one, stays the source). */
export function acmeForWorkers(acme: IAcmeOptions | undefined, group: WorkerGroup): IAcmeOptions | undefined {
  return acme === undefined ? undefined : { ...acme, challengeStore: mirroredChallengeStore(acme.challengeStore ?? new MemoryChallengeStore(), group) };
}

/** Pushes every certificate the control plane installs, and every TLS-ALPN-01 answer, to the workers. */
export function workerCertificateMirror(group: WorkerGroup, logger: Logger): CertificateMirror {
  return {
    certificateInstalled(domain, certificate) {
      group.pushCertificate(domain, certificate.cert, certificate.key).catch((error: unknown) => logger.error({ domain, err: error }, 'pushing a certificate to the workers'));
    },
    alpnCertificate: (domain, pem) => group.pushAlpnCertificate(domain, pem),
  };
}
