import { createSecureContext, type SecureContext } from 'node:tls';
import { secureContextPolicyOptions, type ResolvedTlsPolicy } from '../proxy/tls/policy.js';
import type { CertificateMirror } from './types.js';
import type { Logger } from 'pino';
import { PortInUseError } from '../errors.js';
import type { InternalRoute } from '../routing/route-manager.js';
import type { RouteTable } from '../routing/route-table.js';
import type { ChallengeHooks } from './acme-issuer.js';
import type { IChallengeStore } from './challenge-store.js';
import { challengePathPrefix, createHttp01Responder } from './http01-responder.js';
import type { ISharedChallengeStore } from './shared-store.js';

/** Bound on waiting for a token written to a shared store to read back before the CA is told to validate. */
const readableWithinMs = 10_000;

/** Name of the internal route that answers HTTP-01 challenges. */
export const challengeRouteName = 'smartproxy:acme-challenge';

/** How the solvers put the challenge route live: the proxy's own transaction for internal routes. */
export interface InternalRouteControl {
  /** Adds or replaces the route; binds its port only if no route holds it yet. Rejects with PortInUseError when another application holds it. */
  setInternalRoute(route: InternalRoute): Promise<void>;
  removeInternalRoute(name: string): Promise<void>;
}

export interface ChallengeSolversOptions {
  logger: Logger;
  store: IChallengeStore;
  /** `acme.port` then `acme.fallbackPorts`: where HTTP-01 is answered, in order of preference. */
  acmePorts: number[];
  routes?: InternalRouteControl;
  /** The proxy-wide TLS policy the TLS-ALPN-01 answers are served under. */
  policy: ResolvedTlsPolicy;
  /** The worker processes: a TLS-ALPN-01 answer is validated only once every one serves it. */
  mirror?: CertificateMirror;
}

/**
 * Answers ACME challenges: HTTP-01 through an internal route on the ACME
 * port (riding a listener a user route already holds, or binding the port
 * while a token is pending, or a fallback port when another application
 * holds it), and TLS-ALPN-01 through certificates the TLS path asks for.
 *
 * With a shared challenge store (`store.shared`), tokens placed by another
 * process must be answered here too, so the route stays on the ACME port for
 * as long as a user route holds that port, pending order or not. It never
 * binds the port for that alone: a proxy with no route on port 80 leaves it
 * to the sibling that has one. And binding it for an order of its own may
 * fail because a sibling holds it; with a shared store that is expected
 * (the sibling answers from the store), so the order goes on.
 */
export class ChallengeSolvers {
  readonly #options: ChallengeSolversOptions;
  readonly #responder: ReturnType<typeof createHttp01Responder>;
  readonly #alpn = new Map<string, SecureContext>();
  /** Contexts built from answers other instances placed in the shared store, by certificate PEM. */
  readonly #sharedAlpn = new Map<string, SecureContext>();
  #pending = 0;
  /** The ACME port a user route holds (shared stores only): the route stays there. */
  #stickyPort: number | undefined;
  /** Where the route is live now, undefined when it is not. */
  #livePort: number | undefined;
  #sync: Promise<void> = Promise.resolve();
  #stopped = false;

  constructor(options: ChallengeSolversOptions) {
    this.#options = options;
    this.#responder = createHttp01Responder(options.store);
  }

  get #shared(): boolean {
    return this.#options.store.shared === true;
  }

  /** The store, when it also keeps TLS-ALPN-01 answers for every instance. */
  get #alpnStore(): ISharedChallengeStore | undefined {
    const store = this.#options.store as Partial<ISharedChallengeStore>;
    return store.shared === true && typeof store.getAlpn === 'function' ? (store as ISharedChallengeStore) : undefined;
  }

  /**
   * Resolves once `read()` gives `expected`: with a shared store the CA
   * must not be told to validate before every instance can answer.
   */
  async #untilReadable(what: string, read: () => Promise<string | undefined>, expected: string): Promise<void> {
    const deadline = Date.now() + readableWithinMs;
    for (let delay = 10; ; delay = Math.min(delay * 2, 500)) {
      if ((await read()) === expected) return;
      if (Date.now() > deadline) throw new Error(`the ${what} written to the shared store did not read back within ${readableWithinMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }

  /** The hooks the ACME issuer publishes answers through. */
  hooks(): ChallengeHooks {
    return {
      addHttpToken: async (token, keyAuthorization) => {
        const store = this.#options.store;
        await store.set(token, keyAuthorization);
        if (this.#shared) await this.#untilReadable('HTTP-01 token', () => store.get(token), keyAuthorization);
        this.#pending++;
        await this.#reconcile();
      },
      removeHttpToken: async (token) => {
        await this.#options.store.delete(token);
        this.#pending--;
        this.#reconcile().catch((error: unknown) => this.#options.logger.error({ err: error }, 'releasing the ACME challenge route'));
      },
      addAlpnCertificate: async (domain, keyPem, certPem) => {
        this.#alpn.set(domain, createSecureContext({ key: keyPem, cert: certPem, ...secureContextPolicyOptions(this.#options.policy) }));
        await this.#options.mirror?.alpnCertificate(domain, { key: keyPem, cert: certPem });
        const shared = this.#alpnStore;
        if (shared === undefined) return;
        await shared.setAlpn(domain, { key: keyPem, cert: certPem });
        await this.#untilReadable('TLS-ALPN-01 answer', async () => (await shared.getAlpn(domain))?.cert, certPem);
      },
      removeAlpnCertificate: async (domain) => {
        this.#alpn.delete(domain);
        await this.#options.mirror?.alpnCertificate(domain, undefined);
        await this.#alpnStore?.deleteAlpn(domain);
      },
    };
  }

  answerTlsAlpnChallenge(serverName: string): SecureContext | undefined {
    return this.#alpn.get(serverName);
  }

  /**
   * A TLS-ALPN-01 answer another instance placed in the shared store;
   * undefined (no lookup at all) without one. Only `acme-tls/1`
   * handshakes come here, so the store is never in the path of traffic.
   */
  lookupTlsAlpnChallenge(serverName: string): Promise<SecureContext | undefined> | undefined {
    const shared = this.#alpnStore;
    if (shared === undefined) return undefined;
    return shared.getAlpn(serverName).then((answer) => {
      if (answer === undefined) return undefined;
      let context = this.#sharedAlpn.get(answer.cert);
      if (context === undefined) {
        context = createSecureContext({ key: answer.key, cert: answer.cert, ...secureContextPolicyOptions(this.#options.policy) });
        // Answers live minutes; a handful at a time is all there ever is.
        if (this.#sharedAlpn.size > 64) this.#sharedAlpn.clear();
        this.#sharedAlpn.set(answer.cert, context);
      }
      return context;
    });
  }

  /** A new table is live: with a shared store, follow the user routes on the ACME ports. */
  routesApplied(table: RouteTable): void {
    if (!this.#shared || this.#options.routes === undefined) return;
    const held = this.#options.acmePorts.find((port) => table.routes.some((route) => !route.internal && route.layer === 'http' && route.ports.includes(port)));
    if (held === this.#stickyPort) return;
    this.#stickyPort = held;
    // Not awaited: this runs inside the route transaction, and the change is a transaction of its own, queued after it.
    this.#reconcile().catch((error: unknown) => this.#options.logger.error({ err: error, port: held }, 'keeping the ACME challenge route on the ACME port'));
  }

  stop(): void {
    this.#stopped = true;
  }

  /** Moves the route to where it should be now; one change at a time, in call order. */
  #reconcile(): Promise<void> {
    const next = this.#sync.then(() => this.#apply());
    this.#sync = next.catch(() => undefined);
    return next;
  }

  async #apply(): Promise<void> {
    const routes = this.#options.routes;
    if (routes === undefined || this.#stopped) return;
    const wanted = this.#stickyPort !== undefined || this.#pending > 0;
    if (!wanted) {
      if (this.#livePort === undefined) return;
      this.#livePort = undefined;
      await routes.removeInternalRoute(challengeRouteName);
      return;
    }
    if (this.#livePort !== undefined && (this.#stickyPort === undefined || this.#livePort === this.#stickyPort)) return;
    const ports = this.#stickyPort !== undefined ? [this.#stickyPort] : this.#options.acmePorts;
    let lastError: unknown;
    for (const port of ports) {
      try {
        await routes.setInternalRoute(this.#route(port));
        this.#livePort = port;
        if (port !== this.#options.acmePorts[0]) {
          this.#options.logger.warn({ port, preferred: this.#options.acmePorts[0] }, `ACME port ${this.#options.acmePorts[0]} is held by another application; answering HTTP-01 on ${port}: forward public port 80 to it, as the CA only validates on port 80`);
        }
        return;
      } catch (error) {
        lastError = error;
        if (!(error instanceof PortInUseError)) throw error;
      }
    }
    if (this.#shared) {
      this.#options.logger.info({ ports }, 'the ACME port is held by another process; with a shared challenge store it answers this order’s HTTP-01 tokens');
      return;
    }
    throw lastError;
  }

  #route(port: number): InternalRoute {
    return {
      config: {
        name: challengeRouteName,
        priority: Number.MAX_SAFE_INTEGER,
        match: { ports: port, path: `${challengePathPrefix}*` },
        action: { type: 'static' },
      },
      requestHandler: this.#responder,
    };
  }
}
