import acme from 'acme-client';
import type { AxiosResponse, InternalAxiosRequestConfig } from 'axios';
import { createRequire } from 'node:module';
import { Agent } from 'node:https';
import { AcmeTimeoutError } from '../errors.js';

type Adapter = (config: InternalAxiosRequestConfig) => Promise<AxiosResponse>;

// acme-client talks through its own copy of axios; its HTTP adapter is taken from that copy, whatever else is installed.
const requireHere = createRequire(import.meta.url);
const axiosOfAcme = createRequire(requireHere.resolve('acme-client'))('axios') as { getAdapter(name: string): Adapter };
const httpAdapter = axiosOfAcme.getAdapter('http');
const kWrapped = Symbol('smartproxy.acme-adapter');

/** What went wrong on the wire for the last request that got no response. */
export interface TransportFailure {
  url: string;
  error: Error & { code?: string };
  timedOut: boolean;
  at: number;
}

export interface AcmeHttpOptions {
  directoryUrl: string;
  /** Bound on each request to the CA. */
  timeoutMs: number;
  /** Extra CAs trusted for the CA's API. */
  caCertificates: string[];
}

/**
 * What acme-client's HTTP client lacks, for requests to one ACME directory's
 * origin only: a timeout on every request (its axios has none, so a frozen CA
 * held an order forever), trust in extra CAs (acme-client has no per-client
 * TLS options), and the transport error of a request that got no answer,
 * which acme-client loses (it then throws "reading 'config'"). It works
 * through an interceptor on acme-client's process-wide axios, scoped to the
 * origin so no other client in the process is touched.
 */
export class AcmeHttp {
  readonly #origin: string;
  readonly #timeoutMs: number;
  readonly #agent: Agent | undefined;
  readonly #interceptor: number;
  /** The latest requests that got no response, oldest first (a few: orders are few and short). */
  #failures: TransportFailure[] = [];
  readonly #timeoutListeners = new Set<(failure: TransportFailure) => void>();

  constructor(options: AcmeHttpOptions) {
    this.#origin = new URL(options.directoryUrl).origin;
    this.#timeoutMs = options.timeoutMs;
    this.#agent = options.caCertificates.length > 0 ? new Agent({ ca: options.caCertificates, keepAlive: false }) : undefined;
    this.#interceptor = acme.axios.interceptors.request.use((config) => this.#scope(config));
  }

  /** The agent that trusts the extra CAs, if any (for probing the directory the same way). */
  get agent(): Agent | undefined {
    return this.#agent;
  }

  /**
   * The first request that got no response since `since` (ms epoch), if
   * any: the first is the cause; acme-client's clean-up requests after it
   * (deactivating the authorization, a nonce) fail the same way.
   */
  failureSince(since: number): TransportFailure | undefined {
    return this.#failures.find((failure) => failure.at >= since);
  }

  /** Calls `listener` whenever a request to the CA times out, until the returned function is called. */
  onTimeout(listener: (failure: TransportFailure) => void): () => void {
    this.#timeoutListeners.add(listener);
    return () => this.#timeoutListeners.delete(listener);
  }

  /** The error to report for a transport failure: a timeout is an AcmeTimeoutError. */
  explain(failure: TransportFailure): Error {
    if (failure.timedOut) return new AcmeTimeoutError(failure.url, this.#timeoutMs, { cause: failure.error });
    const reason = failure.error.code ? `${failure.error.code} (${failure.error.message})` : failure.error.message;
    return new Error(`the ACME CA could not be reached at ${failure.url}: ${reason}`, { cause: failure.error });
  }

  close(): void {
    acme.axios.interceptors.request.eject(this.#interceptor);
    this.#agent?.destroy();
  }

  #scope(config: InternalAxiosRequestConfig): InternalAxiosRequestConfig {
    if (config.url === undefined || new URL(config.url, this.#origin).origin !== this.#origin) return config;
    if (this.#agent !== undefined && config.httpsAgent === undefined) config.httpsAgent = this.#agent;
    if (!config.timeout) config.timeout = this.#timeoutMs;
    const adapter = config.adapter as (Adapter & { [kWrapped]?: true }) | undefined;
    if (adapter === undefined || typeof adapter === 'string' || adapter[kWrapped] !== true) {
      const wrapped: Adapter & { [kWrapped]?: true } = (request) =>
        httpAdapter(request).catch((error: Error & { code?: string; response?: unknown }) => {
          if (error.response === undefined) this.#remember(request, error);
          throw error;
        });
      wrapped[kWrapped] = true;
      config.adapter = wrapped;
    }
    return config;
  }

  #remember(request: InternalAxiosRequestConfig, error: Error & { code?: string }): void {
    const timedOut = error.code === 'ECONNABORTED' || error.code === 'ETIMEDOUT' || /timeout/i.test(error.message);
    const failure = { url: request.url ?? this.#origin, error, timedOut, at: Date.now() };
    this.#failures.push(failure);
    if (this.#failures.length > 8) this.#failures.shift();
    if (timedOut) for (const listener of this.#timeoutListeners) listener(failure);
  }
}
