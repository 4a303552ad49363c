/**
 * The public option types and their defaults. This file imports types only,
 * and only from files that hold no implementation the options depend on, so
 * the option types never tie a user's type-check to the proxy's internals.
 * Each option is checked by the table in config/option-schema.ts.
 */
import type { Logger } from 'pino';
import type { CertProvisionFunction } from './certificates/types.js';
import type { IChallengeStore } from './certificates/challenge-store.js';
import type { ICertificateStore } from './certificates/store.js';
import type { ISharedStore } from './certificates/shared-store.js';
import type { IRouteConfig, ITlsPolicy } from './routing/types.js';

export interface IAcmeOptions {
  /** Account contact address, required by Let's Encrypt. */
  email: string;
  /** ACME directory. Default: Let's Encrypt staging, or production when useProduction is set. */
  directoryUrl?: string;
  /** Use Let's Encrypt production. Default: false (staging, whose certificates browsers do not trust). */
  useProduction?: boolean;
  /** Port the HTTP-01 challenge is answered on. Default: 80. */
  port?: number;
  /** Ports to answer HTTP-01 on when `port` is held by another application; public port 80 must be forwarded there. */
  fallbackPorts?: number[];
  /** Default: ['http-01']. */
  challengeTypes?: ('http-01' | 'tls-alpn-01')[];
  /** Renew when fewer days than this remain (or a third of the lifetime, whichever comes first). Default: 30. */
  renewThresholdDays?: number;
  /** Directory for certificates and the account key, or a store of your own. Default: './certs'. */
  certificateStore?: string | ICertificateStore;
  /** Where pending HTTP-01 tokens are kept; share one between proxy processes behind one address. Default: in memory. */
  challengeStore?: IChallengeStore;
  /** Extra CAs trusted when talking to the ACME API (a test CA such as Pebble). */
  caCertificates?: string | string[];
  /** Skip acme-client's own pre-flight check of the challenge (it needs public DNS). Default: false. */
  skipChallengeVerification?: boolean;
  /** How often a pending order is polled (acme-client's backoffMin). Default: 5000 ms. */
  pollIntervalMs?: number;
  /** Bound on each request to the CA; a CA that does not answer fails the order (retried with backoff). Default: 30000 ms. */
  timeoutMs?: number;
}

export interface ITimeoutOptions {
  /** Time a new connection on a TLS port has to send its ClientHello. Default: 10000 ms. */
  clientHelloMs?: number;
  /** Time to receive a complete HTTP request head. Default: 30000 ms. */
  headersMs?: number;
  /** Idle keep-alive connections from clients are closed after this. Default: 60000 ms. */
  keepAliveMs?: number;
  /** Time to connect to an upstream. Default: 10000 ms. */
  upstreamConnectMs?: number;
  /** Time for an upstream to start its response. Default: 60000 ms (504 after). */
  upstreamResponseMs?: number;
  /** How long stop() lets open requests finish before closing them. Default: 5000 ms. */
  drainMs?: number;
  /** Close any client connection once it is this old. Default: 0 (off). */
  maxLifetimeMs?: number;
  /** Close a WebSocket connection after this long without traffic either way. Default: 3600000 ms (1 h). */
  websocketIdleMs?: number;
}

export interface ILimitOptions {
  /** Open client connections across every port; new ones beyond it are closed at once. Default: 20000. */
  maxConnections?: number;
  /** Open connections one client IP may hold. Default: Infinity (no limit). */
  maxConnectionsPerIp?: number;
  /** New connections one client IP may open per second. Default: Infinity (no limit). */
  connectionRatePerIp?: number;
  /** Largest HTTP request head accepted; larger ones get 431. Default: 16384 bytes. */
  maxHeaderBytes?: number;
  /**
   * Most header fields in one HTTP request; more get 431. Default: 100 (Apache's
   * default), well under the 2,000 after which Node servers silently drop fields.
   */
  maxHeaderCount?: number;
}

/**
 * HTTP/2 on terminated TLS (restart to change). Each limit that ends a
 * stream or a session is counted in `limitHits` under `http2.<name>`.
 */
export interface IHttp2Options {
  /** Streams one session may have open at once (SETTINGS_MAX_CONCURRENT_STREAMS); more are refused. Default: 100. */
  maxConcurrentStreams?: number;
  /**
   * Largest decoded request header list (RFC 9113 §6.5.2: names + values + 32
   * per field), advertised in SETTINGS. A stream over it gets 431, or, once
   * the client acknowledged the setting, is reset with ENHANCE_YOUR_CALM by
   * Node before it reaches a route. Default: 32768 bytes.
   */
  maxHeaderListBytes?: number;
  /** Flow-control window of each stream: request body bytes a client may send before the proxy asks for more. Default: 65535 bytes. */
  streamWindowBytes?: number;
  /** Flow-control window of a whole session, shared by its streams. Default: 1048576 bytes (1 MiB). */
  sessionWindowBytes?: number;
  /** Streams one session may open in its life; the proxy then sends GOAWAY and lets open ones finish. Default: 10000. */
  maxStreamsPerSession?: number;
  /** A session without open streams for this long gets GOAWAY and is closed. Default: 60000 ms. */
  idleMs?: number;
}

export interface ISmartProxyOptions {
  routes: IRouteConfig[];
  acme?: IAcmeOptions;
  /**
   * Supplies certificates for `certificate: 'auto'` routes yourself: return
   * `{ key, cert, ca? }`, or `'http01'` to have ACME obtain it. When it throws,
   * ACME is used if configured.
   */
  certProvisionFunction?: CertProvisionFunction;
  /**
   * State shared by several instances behind one address (several machines
   * behind a TCP balancer): certificates and keys, the per-name order lock,
   * challenge answers, session ticket keys. `RedisStore` from
   * `smartproxy/redis` is one. When given it supplies both
   * `acme.certificateStore` and `acme.challengeStore`, so giving either too
   * is an InvalidOptionError. Default: none (certificates in files under
   * `acme.certificateStore`, everything else in this process).
   */
  store?: ISharedStore;
  /**
   * Where the proxy logs; every line carries `name: 'smartproxy'` (a child
   * logger is made of yours). Default: pino at `logLevel`, pretty when stdout
   * is a terminal (with pino-pretty installed) and JSON otherwise.
   */
  logger?: Logger;
  /**
   * Level of the proxy's log lines. Default: the `SMARTPROXY_LOG_LEVEL`
   * environment variable, else your logger's level, else 'info'.
   */
  logLevel?: LogLevel;
  /** Address every listener binds. Default: all interfaces. */
  host?: string;
  /** Peers (IPs/CIDRs) whose X-Forwarded-* headers are kept and extended; from anyone else they are replaced. Default: none. */
  trustedProxies?: string[];
  timeouts?: ITimeoutOptions;
  limits?: ILimitOptions;
  /**
   * TLS versions and cipher suites for every terminating route; a route's
   * `action.tls.minVersion` / `action.tls.ciphers` override them. Default:
   * Mozilla "intermediate": TLS 1.2 minimum, ECDHE with AES-GCM or
   * ChaCha20-Poly1305 only.
   */
  tls?: ITlsPolicy;
  /** Limits of HTTP/2 sessions; HTTP/2 itself is offered on every terminating route unless it sets `action.tls.http2: false`. */
  http2?: IHttp2Options;
  /**
   * Serve from this many worker processes ('auto': one per core, Node's
   * availableParallelism()); this process stays the control plane (routes,
   * certificates and ACME, metrics). Routes must then be plain data (no
   * socketHandler). See the readme's "Workers". Default: unset, one process.
   */
  workers?: number | 'auto';
  /**
   * PROXY protocol (v1 or v2) from load balancers at these IPs/CIDRs: their
   * connections must start with a header (within `timeouts.clientHelloMs`),
   * and the client address it carries is the client everywhere (routing, IP
   * lists, limits, X-Forwarded-For, logs). A PROXY header from any other peer
   * is refused. Default: off.
   */
  proxyProtocol?: IProxyProtocolOptions;
  /**
   * One record per HTTP request and per TCP/passthrough connection. `true`:
   * through your `logger` if you gave one, else pino on stdout with its
   * asynchronous destination; `{ logger }`: through that logger. Default: false.
   */
  accessLog?: boolean | { logger: Logger };
}

export interface IProxyProtocolOptions {
  /** Peers (IPs/CIDRs) that must send a PROXY header; required. */
  allowFrom: string[];
}

/** pino's level names; 'silent' turns logging off. */
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

/**
 * The options a running proxy can change with `updateOptions()`. A group
 * that is given replaces the whole group (fields left out return to their
 * defaults); a group left out stays as it is.
 */
export interface ILiveOptions {
  timeouts?: ITimeoutOptions;
  limits?: ILimitOptions;
  trustedProxies?: string[];
  logLevel?: LogLevel;
}

/**
 * Every name under which a refused or cut-off client is counted in
 * `getMetrics().limitHits` and logged as `limit reached: <name>`.
 */
export type LimitName =
  | 'maxConnections'
  | 'maxConnectionsPerIp'
  | 'connectionRatePerIp'
  | 'maxHeaderBytes'
  | 'maxHeaderCount'
  | 'route.maxConnections'
  | 'timeouts.clientHelloMs'
  | 'timeouts.headersMs'
  | 'timeouts.websocketIdleMs'
  | 'http2.maxConcurrentStreams'
  | 'http2.maxHeaderListBytes'
  | 'http2.maxStreamsPerSession'
  | 'http2.flowControl'
  | 'http2.rapidReset'
  | 'http2.protocolError';

/** Every LimitName, for documentation checks. */
export const limitNames: readonly LimitName[] = Object.freeze([
  'maxConnections',
  'maxConnectionsPerIp',
  'connectionRatePerIp',
  'maxHeaderBytes',
  'maxHeaderCount',
  'route.maxConnections',
  'timeouts.clientHelloMs',
  'timeouts.headersMs',
  'timeouts.websocketIdleMs',
  'http2.maxConcurrentStreams',
  'http2.maxHeaderListBytes',
  'http2.maxStreamsPerSession',
  'http2.flowControl',
  'http2.rapidReset',
  'http2.protocolError',
]);

export const defaultTimeouts: Required<ITimeoutOptions> = Object.freeze({
  clientHelloMs: 10_000,
  headersMs: 30_000,
  keepAliveMs: 60_000,
  upstreamConnectMs: 10_000,
  upstreamResponseMs: 60_000,
  drainMs: 5_000,
  maxLifetimeMs: 0,
  websocketIdleMs: 3_600_000,
});

export const defaultLimits: Required<ILimitOptions> = Object.freeze({
  maxConnections: 20_000,
  maxConnectionsPerIp: Infinity,
  connectionRatePerIp: Infinity,
  maxHeaderBytes: 16_384,
  maxHeaderCount: 100,
});

export const defaultHttp2: Required<IHttp2Options> = Object.freeze({
  maxConcurrentStreams: 100,
  maxHeaderListBytes: 32_768,
  streamWindowBytes: 65_535,
  sessionWindowBytes: 1_048_576,
  maxStreamsPerSession: 10_000,
  idleMs: 60_000,
});
