import { createPrivateKey, X509Certificate } from 'node:crypto';
import type { Logger } from 'pino';
import { CorruptStoreEntryError, InvalidOptionError, LeaseLostError, type OptionProblem } from '../errors.js';
import type { ILease } from '../certificates/name-lock.js';
import type { IAlpnChallenge, ISharedChallengeStore, ISharedStore } from '../certificates/shared-store.js';
import type { ICertificateStore, IStoredCertificate } from '../certificates/store.js';
import { RedisConnection } from './connection.js';
import { RedisNameLock } from './redis-name-lock.js';
import { RedisTicketKeys } from './redis-ticket-keys.js';
import { RedisKeys, saveScript } from './scripts.js';

export interface RedisStoreOptions {
  /** The Redis server, e.g. `redis://10.0.0.5:6379` (`rediss://` for TLS, `redis://:password@host`). Required. */
  url: string;
  /** Starts every key, inside a Cluster hash tag (`{prefix}:…`). Instances that share certificates use the same one. Default: 'smartproxy'. */
  prefix?: string;
  /** The order lock's lease: a holder that dies frees its name after this. Default: 15000 ms. */
  leaseMs?: number;
  /** How often a waiter tries the lock again. Default: 250 ms. */
  lockPollMs?: number;
  /** How often each instance reads every managed name again, in case a change notification was missed. Default: 30000 ms. */
  syncIntervalMs?: number;
  /** How long a set of session ticket keys is used before the fleet switches to a new one. Default: 12 h. */
  ticketRotationMs?: number;
  /** How long an HTTP-01 token or TLS-ALPN-01 answer outlives an order that crashed before removing it. Default: 10 min. */
  challengeTtlMs?: number;
  /** Longest pause between reconnection attempts. Default: 5000 ms. */
  maxReconnectDelayMs?: number;
}

/**
 * The state several proxy instances share, in Redis: certificates and
 * keys, ACME account keys, the leased and fenced per-name order lock,
 * HTTP-01 tokens and TLS-ALPN-01 answers, session ticket keys, and a
 * pub/sub channel announcing every certificate saved. Give one to each
 * instance: `new SmartProxy({ store: new RedisStore({ url }), … })`.
 *
 * Redis is never in the path of traffic: certificates are served from
 * memory; only orders, renewals and challenge answers read it. It
 * connects in the background and reconnects by itself; call close() after
 * the proxy's stop().
 */
export class RedisStore implements ISharedStore {
  readonly certificates: ICertificateStore;
  readonly challenges: ISharedChallengeStore;
  readonly ticketKeys: RedisTicketKeys;
  readonly syncIntervalMs: number;
  readonly #commands: RedisConnection;
  readonly #subscriber: RedisConnection;
  readonly #keys: RedisKeys;
  readonly #changeListeners = new Set<(domain: string) => void>();
  #subscribed = false;

  constructor(options: RedisStoreOptions) {
    const problems = optionProblems(options);
    if (problems.length > 0) throw new InvalidOptionError(problems);
    const keys = (this.#keys = new RedisKeys(options.prefix ?? 'smartproxy'));
    this.syncIntervalMs = options.syncIntervalMs ?? 30_000;
    this.#commands = new RedisConnection(options, 'commands');
    // Pub/sub needs a connection of its own: a subscribed client runs no other commands.
    this.#subscriber = new RedisConnection(options, 'notifications');
    const run = this.#commands.run.bind(this.#commands);
    const challengeTtl = options.challengeTtlMs ?? 10 * 60_000;
    this.certificates = new RedisCertificateStore(this.#commands, keys, new RedisNameLock(this.#commands, keys, { leaseMs: options.leaseMs, pollMs: options.lockPollMs }));
    this.challenges = {
      shared: true,
      set: async (token, keyAuthorization) => void (await run((c) => c.set(keys.http01(token), keyAuthorization, { expiration: { type: 'PX', value: challengeTtl } }))),
      // Read for the CA's validator, which waits seconds for an answer: a reconnect under way may finish first.
      get: async (token) => (await run((c) => c.get(keys.http01(token)), 1000)) ?? undefined,
      delete: async (token) => void (await run((c) => c.del(keys.http01(token)))),
      setAlpn: async (domain, answer) => void (await run((c) => c.multi().hSet(keys.alpn(domain), { key: answer.key, cert: answer.cert }).pExpire(keys.alpn(domain), challengeTtl).exec())),
      getAlpn: async (domain): Promise<IAlpnChallenge | undefined> => {
        const found = await run((c) => c.hGetAll(keys.alpn(domain)), 0);
        return typeof found.key === 'string' && typeof found.cert === 'string' ? { key: found.key, cert: found.cert } : undefined;
      },
      deleteAlpn: async (domain) => void (await run((c) => c.del(keys.alpn(domain)))),
    };
    this.ticketKeys = new RedisTicketKeys(this.#commands.client, keys, options.ticketRotationMs ?? 12 * 60 * 60_000);
    this.ticketKeys.start(this.syncIntervalMs);
    // The first sync may run before the connection is up; run it again as soon as it is.
    this.#commands.onAvailable(() => void this.ticketKeys.sync());
    this.#subscriber.onAvailable(() => void this.#subscribe());
    void this.#subscribe();
  }

  attach(context: { logger: Logger }): void {
    this.#commands.setLogger(context.logger);
    this.#subscriber.setLogger(context.logger);
  }

  onCertificateChanged(listener: (domain: string) => void): () => void {
    this.#changeListeners.add(listener);
    return () => this.#changeListeners.delete(listener);
  }

  onAvailable(listener: () => void): () => void {
    return this.#commands.onAvailable(listener);
  }

  /** Closes both connections and stops rotating ticket keys. Call after the proxies using it have stopped. */
  async close(): Promise<void> {
    this.ticketKeys.close();
    this.#changeListeners.clear();
    await Promise.all([this.#commands.close(), this.#subscriber.close()]);
  }

  /** Subscribes once the notification connection is up (node-redis subscribes again by itself after a reconnect). */
  async #subscribe(): Promise<void> {
    if (this.#subscribed || !this.#subscriber.client.isReady) return;
    this.#subscribed = true;
    try {
      await this.#subscriber.client.subscribe(this.#keys.changes(), (domain: string) => {
        for (const listener of this.#changeListeners) listener(domain);
      });
    } catch {
      this.#subscribed = false; // tried again at the next reconnect; the periodic check covers the gap
    }
  }
}

const durations = ['leaseMs', 'lockPollMs', 'syncIntervalMs', 'ticketRotationMs', 'challengeTtlMs', 'maxReconnectDelayMs'] as const;

/** Every problem with RedisStore's options, named `RedisStore.<option>`, checked before anything connects. */
function optionProblems(options: RedisStoreOptions | undefined): OptionProblem[] {
  const problems: OptionProblem[] = [];
  const url: unknown = options?.url;
  if (typeof url !== 'string' || !/^rediss?:\/\/\S+$/.test(url)) problems.push({ option: 'RedisStore.url', message: `should be a redis:// or rediss:// URL, instead got ${String(url)}` });
  const prefix: unknown = options?.prefix;
  if (prefix !== undefined && (typeof prefix !== 'string' || !/^[^{}\s]+$/.test(prefix))) problems.push({ option: 'RedisStore.prefix', message: `should be a non-empty string without braces or spaces, instead got ${String(prefix)}` });
  for (const name of durations) {
    const value: unknown = options?.[name];
    if (value !== undefined && !(typeof value === 'number' && Number.isFinite(value) && value > 0)) problems.push({ option: `RedisStore.${name}`, message: `should be a positive number of milliseconds, instead got ${String(value)}` });
  }
  return problems;
}

/** Certificates and account keys in Redis hashes; saves fenced by the order lock's lease. */
class RedisCertificateStore implements ICertificateStore {
  readonly nameLock: RedisNameLock;
  readonly #connection: RedisConnection;
  readonly #keys: RedisKeys;

  constructor(connection: RedisConnection, keys: RedisKeys, lock: RedisNameLock) {
    this.#connection = connection;
    this.#keys = keys;
    this.nameLock = lock;
  }

  async loadCertificate(domain: string): Promise<IStoredCertificate | undefined> {
    const found = await this.#connection.run((c) => c.hGetAll(this.#keys.certificate(domain)));
    if (Object.keys(found).length === 0) return undefined;
    const what = `stored certificate for ${domain} (Redis ${this.#keys.certificate(domain)})`;
    const { cert, key, issuedAt, expiresAt, source } = found;
    if (cert === undefined || key === undefined || issuedAt === undefined || expiresAt === undefined || (source !== 'acme' && source !== 'custom')) throw new CorruptStoreEntryError(what, 'fields are missing');
    try {
      if (!new X509Certificate(cert).checkPrivateKey(createPrivateKey(key))) throw new Error('the key does not match the certificate');
    } catch (error) {
      throw new CorruptStoreEntryError(what, (error as Error).message);
    }
    return { cert, key, issuedAt: new Date(issuedAt), expiresAt: new Date(expiresAt), source };
  }

  async saveCertificate(domain: string, certificate: IStoredCertificate, lease?: ILease): Promise<void> {
    const token = lease?.token ?? '';
    const fields = { cert: certificate.cert, key: certificate.key, issuedAt: certificate.issuedAt.toISOString(), expiresAt: certificate.expiresAt.toISOString(), source: certificate.source, fence: String(lease?.fence ?? 0) };
    const saved = await this.#connection.run((c) =>
      c.eval(saveScript, {
        keys: [this.#keys.certificate(domain), this.#keys.lock(domain), this.#keys.fence(domain)],
        arguments: [token, String(lease?.fence ?? 0), this.#keys.changes(), domain, ...Object.entries(fields).flat()],
      }),
    );
    if (Number(saved) !== 1) throw new LeaseLostError(domain, 'save');
  }

  async loadAccountKey(directoryUrl: string): Promise<string | undefined> {
    return (await this.#connection.run((c) => c.get(this.#keys.account(directoryUrl)))) ?? undefined;
  }

  async saveAccountKey(directoryUrl: string, keyPem: string): Promise<void> {
    await this.#connection.run((c) => c.set(this.#keys.account(directoryUrl), keyPem));
  }
}
