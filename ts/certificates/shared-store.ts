/**
 * What several proxy instances (machines, or processes) share so that they
 * act as one: certificates and keys, the per-name order lock, ACME challenge
 * answers, TLS session ticket keys and word of a changed certificate. The
 * file store under `acme.certificateStore` is the default for one machine;
 * `RedisStore` from `smartproxy/redis` is the one for many.
 */
import type { Logger } from 'pino';
import type { IChallengeStore } from './challenge-store.js';
import type { ICertificateStore } from './store.js';

/** A TLS-ALPN-01 answer: the self-signed certificate the CA must be shown for a name. */
export interface IAlpnChallenge {
  key: string;
  cert: string;
}

/**
 * A challenge store that also keeps TLS-ALPN-01 answers, so any instance
 * can present one on its TLS ports, not only the instance that ordered.
 */
export interface ISharedChallengeStore extends IChallengeStore {
  readonly shared: true;
  setAlpn(domain: string, answer: IAlpnChallenge): Promise<void>;
  getAlpn(domain: string): Promise<IAlpnChallenge | undefined>;
  deleteAlpn(domain: string): Promise<void>;
}

/**
 * The TLS session ticket keys every instance uses, so a session one
 * instance started resumes on another. Kept small on purpose: the
 * worker processes of issue 14 take the same two calls.
 */
export interface ITicketKeySource {
  /** The 48 bytes of the key that encrypts new tickets (Node's `ticketKeys` format). */
  ticketKeys(): Buffer;
  /** Called with the new key after each rotation; returns the unsubscribe function. */
  onTicketKeysChanged(listener: (keys: Buffer) => void): () => void;
}

/**
 * Everything a fleet of instances shares. Give the same one (one per
 * instance, on the same backend) to each `new SmartProxy({ store })`.
 */
export interface ISharedStore {
  /** Certificates, account keys and, as `nameLock`, the leased, fenced per-name order lock. */
  readonly certificates: ICertificateStore;
  /** HTTP-01 tokens and TLS-ALPN-01 answers, readable by every instance. */
  readonly challenges: ISharedChallengeStore;
  /** Shared session ticket keys; without them each instance keeps its own (sessions resume only where they began). */
  readonly ticketKeys?: ITicketKeySource;
  /**
   * How often every managed name is read again from the store, in case a
   * change notification was missed (a reconnect, a failover). Default: 30000 ms.
   */
  readonly syncIntervalMs?: number;
  /** Gives the store the proxy's logger (for outages); called once by each proxy that uses it. */
  attach?(context: { logger: Logger }): void;
  /** Calls `listener(domain)` whenever any instance saves a certificate; returns the unsubscribe function. */
  onCertificateChanged(listener: (domain: string) => void): () => void;
  /**
   * Calls `listener` each time the store becomes reachable again after an
   * outage, so orders that failed meanwhile run now instead of at their
   * backoff time. Returns the unsubscribe function.
   */
  onAvailable(listener: () => void): () => void;
}
