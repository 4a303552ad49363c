import acme from 'acme-client';
import { get as httpGet, type IncomingMessage } from 'node:http';
import { Agent, get as httpsGet } from 'node:https';
import type { Logger } from 'pino';
import { readCertificate } from './certificate-info.js';
import type { ICertificateStore, IStoredCertificate } from './store.js';

export const letsEncryptProduction = 'https://acme-v02.api.letsencrypt.org/directory';
export const letsEncryptStaging = 'https://acme-staging-v02.api.letsencrypt.org/directory';

export type ChallengeType = 'http-01' | 'tls-alpn-01';

/** How the issuer publishes a challenge answer; the CertificateManager wires these to routes and the TLS path. */
export interface ChallengeHooks {
  addHttpToken(token: string, keyAuthorization: string): Promise<void>;
  removeHttpToken(token: string): Promise<void>;
  /** May return a promise: the CA is told to validate once it settles (every worker process has the answer). */
  addAlpnCertificate(domain: string, keyPem: string, certPem: string): void | Promise<void>;
  removeAlpnCertificate(domain: string): void;
}

export interface AcmeIssuerOptions {
  directoryUrl: string;
  email: string;
  challengeTypes: ChallengeType[];
  skipChallengeVerification: boolean;
  caCertificates: string[];
  pollIntervalMs: number;
  store: ICertificateStore;
  hooks: ChallengeHooks;
  logger: Logger;
}

/**
 * Obtains certificates from an ACME CA with acme-client: one account per
 * directory (its key kept in the store and reused), one order per call.
 */
export class AcmeIssuer {
  readonly #options: AcmeIssuerOptions;
  #client: Promise<acme.Client> | undefined;
  #trust: { agent: Agent; interceptor: number } | undefined;

  constructor(options: AcmeIssuerOptions) {
    this.#options = options;
    if (options.caCertificates.length > 0) this.#trustCa(options.caCertificates);
  }

  /** Runs one order for `domain` through to a certificate; rejects when the CA or the challenge fails. */
  async issue(domain: string): Promise<IStoredCertificate> {
    try {
      return await this.#order(domain);
    } catch (error) {
      throw await this.#explain(error);
    }
  }

  async #order(domain: string): Promise<IStoredCertificate> {
    const { challengeTypes, hooks, skipChallengeVerification, email, logger } = this.#options;
    const client = await this.#getClient();
    const [keyBuffer, csr] = await acme.crypto.createCsr({ altNames: [domain] }, await acme.crypto.createPrivateEcdsaKey());
    logger.info({ domain, challengeTypes }, 'ordering certificate');
    const chain = await client.auto({
      csr,
      email,
      termsOfServiceAgreed: true,
      challengePriority: challengeTypes,
      skipChallengeVerification,
      challengeCreateFn: async (authz, challenge, keyAuthorization) => {
        // acme-client's types predate tls-alpn-01; its runtime supports it.
        const type: string = challenge.type;
        if (type === 'http-01') return hooks.addHttpToken(challenge.token, keyAuthorization);
        if (type === 'tls-alpn-01') {
          const [alpnKey, alpnCert] = await acme.crypto.createAlpnCertificate(authz, keyAuthorization);
          return hooks.addAlpnCertificate(authz.identifier.value, alpnKey.toString(), alpnCert.toString());
        }
        throw new Error(`challenge type ${challenge.type} is not supported`);
      },
      challengeRemoveFn: async (authz, challenge) => {
        const type: string = challenge.type;
        if (type === 'http-01') return hooks.removeHttpToken(challenge.token);
        if (type === 'tls-alpn-01') return hooks.removeAlpnCertificate(authz.identifier.value);
      },
    });
    const facts = readCertificate(chain);
    return { cert: chain, key: keyBuffer.toString(), issuedAt: facts.notBefore, expiresAt: facts.notAfter, source: 'acme' };
  }

  /** Stops trusting the extra CAs (the interceptor is on acme-client's process-wide axios). */
  close(): void {
    if (this.#trust === undefined) return;
    acme.axios.interceptors.request.eject(this.#trust.interceptor);
    this.#trust.agent.destroy();
    this.#trust = undefined;
  }

  #getClient(): Promise<acme.Client> {
    this.#client ??= this.#createClient().catch((error: unknown) => {
      this.#client = undefined; // a store or CA hiccup must not poison every later order
      throw error;
    });
    return this.#client;
  }

  /**
   * The account key comes from the store, or is created and stored. A store
   * that cannot be read or written must not stop certificates from being
   * issued: the key then lives in memory for this process (a new account
   * after a restart) and the failure is logged.
   */
  async #createClient(): Promise<acme.Client> {
    const { directoryUrl, store, pollIntervalMs, logger } = this.#options;
    let accountKey: string | undefined;
    try {
      accountKey = await store.loadAccountKey(directoryUrl);
    } catch (error) {
      logger.error({ directoryUrl, err: error }, 'could not read the stored ACME account key; using a new account');
    }
    if (accountKey === undefined) {
      accountKey = (await acme.crypto.createPrivateKey()).toString();
      try {
        await store.saveAccountKey(directoryUrl, accountKey);
        logger.info({ directoryUrl }, 'created ACME account key');
      } catch (error) {
        logger.error({ directoryUrl, err: error }, 'could not store the new ACME account key; it is kept in memory until the process exits');
      }
    }
    return new acme.Client({
      directoryUrl,
      accountKey,
      backoffMin: pollIntervalMs,
      backoffMax: Math.max(pollIntervalMs * 6, 1000),
    });
  }

  /**
   * acme-client 5.4 loses the cause of a failure to reach the CA: once its
   * retries are spent it reads the response that never came and throws
   * "Cannot read properties of undefined (reading 'config')". The directory
   * is asked once more, directly, so the error says why (ECONNREFUSED, a
   * TLS failure, a timeout).
   */
  async #explain(error: unknown): Promise<unknown> {
    if (!(error instanceof TypeError) || !error.message.includes("reading 'config'")) return error;
    const { directoryUrl } = this.#options;
    const reason = await probe(directoryUrl, this.#trust?.agent);
    return new Error(`the ACME CA at ${directoryUrl} could not be reached: ${reason}`, { cause: error });
  }

  /**
   * acme-client has no per-client TLS options, only one shared axios
   * instance; an interceptor scoped to our directory's origin adds trust for
   * our CAs there without touching any other client in the process.
   */
  #trustCa(caCertificates: string[]): void {
    const origin = new URL(this.#options.directoryUrl).origin;
    const agent = new Agent({ ca: caCertificates, keepAlive: false });
    const interceptor = acme.axios.interceptors.request.use((config) => {
      if (config.httpsAgent === undefined && config.url !== undefined && new URL(config.url, origin).origin === origin) {
        config.httpsAgent = agent;
      }
      return config;
    });
    this.#trust = { agent, interceptor };
  }
}

/** What a GET of the URL runs into: a network error's code and message, or the status it answers with now. */
function probe(url: string, agent: Agent | undefined): Promise<string> {
  return new Promise((resolve) => {
    const onResponse = (res: IncomingMessage) => {
      res.resume();
      resolve(`no answer during the order (the directory answers HTTP ${res.statusCode} now)`);
    };
    const req = url.startsWith('https:') ? httpsGet(url, { agent: agent ?? false, timeout: 10_000 }, onResponse) : httpGet(url, { agent: false, timeout: 10_000 }, onResponse);
    req.on('timeout', () => req.destroy(new Error('no answer within 10 s')));
    req.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ? `${error.code} (${error.message})` : error.message));
  });
}
