import acme from 'acme-client';
import { get as httpGet, type IncomingMessage } from 'node:http';
import { get as httpsGet, type Agent } from 'node:https';
import type { Logger } from 'pino';
import { AcmeHttp } from './acme-http.js';
import { readCertificate } from './certificate-info.js';
import { accountId } from './file-store.js';
import type { INameLock } from './name-lock.js';
import { withNameLock } from './with-name-lock.js';
import type { StoreFaults } from './store-faults.js';
import type { ICertificateStore, IStoredCertificate } from './store.js';

/** Checks an order passes through; each throws to abandon the order. */
export interface OrderGuards {
  /** Runs just before the CSR is sent (the step that makes the CA issue): a lease no longer held throws here. */
  beforeFinalize?: () => void;
}

/**
 * The client as acme-client's auto() sees it, with finalizeOrder checked
 * first: auto() runs the whole order and offers no hook between the last
 * challenge and finalize, and errors in its challengeRemoveFn are swallowed.
 * The wrapper inherits everything else from the shared client.
 */
function guarded(client: acme.Client, guards: OrderGuards): acme.Client {
  const check = guards.beforeFinalize;
  if (check === undefined) return client;
  const wrapper = Object.create(client) as acme.Client;
  wrapper.finalizeOrder = (order, csr) => {
    check();
    return client.finalizeOrder(order, csr);
  };
  return wrapper;
}

export const letsEncryptProduction = 'https://acme-v02.api.letsencrypt.org/directory';
export const letsEncryptStaging = 'https://acme-staging-v02.api.letsencrypt.org/directory';

export type ChallengeType = 'http-01' | 'tls-alpn-01';

/** How the issuer publishes a challenge answer; the challenge solvers wire these to routes and the TLS path. */
export interface ChallengeHooks {
  addHttpToken(token: string, keyAuthorization: string): Promise<void>;
  removeHttpToken(token: string): Promise<void>;
  addAlpnCertificate(domain: string, keyPem: string, certPem: string): Promise<void>;
  removeAlpnCertificate(domain: string): Promise<void>;
}

export interface AcmeIssuerOptions {
  directoryUrl: string;
  email: string;
  challengeTypes: ChallengeType[];
  skipChallengeVerification: boolean;
  caCertificates: string[];
  pollIntervalMs: number;
  /** Bound on every request to the CA. */
  timeoutMs: number;
  store: ICertificateStore;
  lock: INameLock;
  faults: StoreFaults;
  hooks: ChallengeHooks;
  logger: Logger;
}

/** acme-client's message for a request signed with an account URL the CA does not know (RFC 8555 accountDoesNotExist). */
const accountGone = /accountDoesNotExist|account\b.*\b(not found|does not exist)/i;

/**
 * Obtains certificates from an ACME CA with acme-client: one account per
 * directory (its key kept in the store and reused), one order per call.
 */
export class AcmeIssuer {
  readonly #options: AcmeIssuerOptions;
  readonly #http: AcmeHttp;
  #client: acme.Client | undefined;
  #clientKey: string | undefined;
  #refreshing: Promise<acme.Client> | undefined;
  /** The account key in use; survives a store that cannot be read or written, so one process keeps one account. */
  #accountKey: string | undefined;
  #keyStored = false;

  constructor(options: AcmeIssuerOptions) {
    this.#options = options;
    this.#http = new AcmeHttp({ directoryUrl: options.directoryUrl, timeoutMs: options.timeoutMs, caCertificates: options.caCertificates });
  }

  /**
   * Runs one order for `domain` through to a certificate; rejects when the
   * CA or the challenge fails. A CA that lost our account (restarted, its
   * database reset) gets the same key registered again and the order once more.
   */
  async issue(domain: string, guards: OrderGuards = {}): Promise<IStoredCertificate> {
    const started = Date.now();
    try {
      return await this.#order(domain, guards);
    } catch (error) {
      if (!(error instanceof Error) || !accountGone.test(error.message)) throw await this.#explain(error, started);
      this.#options.logger.warn({ domain, directoryUrl: this.#options.directoryUrl, err: error }, 'the ACME CA no longer knows our account; registering the same key again');
      this.#client = undefined;
    }
    try {
      return await this.#order(domain, guards);
    } catch (error) {
      throw await this.#explain(error, started);
    }
  }

  /**
   * The order, or an AcmeTimeoutError as soon as any request to the CA
   * times out: acme-client would go on to clean up (deactivate the
   * authorization, fetch a nonce), each request waiting its own timeout on a
   * CA that is not answering, so a stalled CA would take a multiple of
   * timeoutMs to report. The order settles in the background, unobserved.
   */
  #order(domain: string, guards: OrderGuards): Promise<IStoredCertificate> {
    let stopWatching = () => {};
    const stalled = new Promise<never>((_, reject) => {
      stopWatching = this.#http.onTimeout((failure) => reject(this.#http.explain(failure)));
    });
    const order = this.#runOrder(domain, guards);
    order.catch(() => undefined);
    return Promise.race([order, stalled]).finally(stopWatching);
  }

  async #runOrder(domain: string, guards: OrderGuards): Promise<IStoredCertificate> {
    const { challengeTypes, hooks, skipChallengeVerification, email, logger } = this.#options;
    const client = guarded(await this.#getClient(), guards);
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

  /** Stops trusting the extra CAs and timing requests (the interceptor is on acme-client's process-wide axios). */
  close(): void {
    this.#http.close();
  }

  /**
   * The client, made anew when there is none yet or when the account key in
   * use is not the stored one (the store could not be read or written last
   * time): each order tries again to reuse or keep the key in the store.
   */
  #getClient(): Promise<acme.Client> {
    if (this.#client !== undefined && this.#keyStored) return Promise.resolve(this.#client);
    this.#refreshing ??= this.#accountKeyFromStore()
      .then((key) => {
        if (this.#client === undefined || key !== this.#clientKey) {
          const { directoryUrl, pollIntervalMs } = this.#options;
          this.#client = new acme.Client({ directoryUrl, accountKey: key, backoffMin: pollIntervalMs, backoffMax: Math.max(pollIntervalMs * 6, 1000) });
          this.#clientKey = key;
        }
        return this.#client;
      })
      .finally(() => {
        this.#refreshing = undefined;
      });
    return this.#refreshing;
  }

  /**
   * The stored account key, or a new one stored now; under the account's
   * name lock, so processes sharing a store start with one account, not one
   * each. A store that cannot be read is never written over (the key there
   * may be fine); a key that could not be stored is kept in memory, so this
   * process keeps one account, and saving it is tried again at the next order.
   */
  async #accountKeyFromStore(): Promise<string> {
    const { directoryUrl, store, lock, faults, logger } = this.#options;
    return withNameLock(lock, `account-${accountId(directoryUrl)}`, faults, logger, async () => {
      let stored: string | undefined;
      let readable = true;
      try {
        stored = await store.loadAccountKey(directoryUrl);
        faults.clear('load-account-key');
      } catch (error) {
        readable = false;
        faults.report('load-account-key', error, 'could not read the stored ACME account key; using one kept in memory until it can be read (the stored one is left as it is)', { directoryUrl });
      }
      if (stored !== undefined) {
        this.#accountKey = stored;
        this.#keyStored = true;
        return stored;
      }
      if (this.#accountKey === undefined) {
        this.#accountKey = (await acme.crypto.createPrivateKey()).toString();
        logger.info({ directoryUrl }, 'created ACME account key');
      }
      if (readable) {
        try {
          await store.saveAccountKey(directoryUrl, this.#accountKey);
          faults.clear('save-account-key');
          this.#keyStored = true;
        } catch (error) {
          faults.report('save-account-key', error, 'could not store the ACME account key; it is kept in memory and saved at the next order that can', { directoryUrl });
        }
      }
      return this.#accountKey;
    });
  }

  /**
   * acme-client loses the cause of a request that got no answer: it throws
   * "Cannot read properties of undefined (reading 'config')". The transport
   * error was kept on the way (a timeout becomes an AcmeTimeoutError); when
   * there is none the directory is asked once more, directly, to say why.
   */
  async #explain(error: unknown, since: number): Promise<unknown> {
    if (!(error instanceof TypeError) || !error.message.includes("reading 'config'")) return error;
    const failure = this.#http.failureSince(since);
    if (failure !== undefined) return this.#http.explain(failure);
    const { directoryUrl, timeoutMs } = this.#options;
    const reason = await probe(directoryUrl, this.#http.agent, timeoutMs);
    return new Error(`the ACME CA at ${directoryUrl} could not be reached: ${reason}`, { cause: error });
  }
}

/** What a GET of the URL runs into: a network error's code and message, or the status it answers with now. */
function probe(url: string, agent: Agent | undefined, timeoutMs: number): Promise<string> {
  return new Promise((resolve) => {
    const onResponse = (res: IncomingMessage) => {
      res.resume();
      resolve(`no answer during the order (the directory answers HTTP ${res.statusCode} now)`);
    };
    const options = { agent: agent ?? false, timeout: timeoutMs };
    const req = url.startsWith('https:') ? httpsGet(url, options, onResponse) : httpGet(url, { agent: false, timeout: timeoutMs }, onResponse);
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ? `${error.code} (${error.message})` : error.message));
  });
}
