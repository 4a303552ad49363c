import type { Socket } from 'node:net';

/** A port range, inclusive at both ends. */
export interface IPortRange {
  from: number;
  to: number;
}

export type PortSpec = number | IPortRange | (number | IPortRange)[];

export interface IRouteMatch {
  /** Ports the route listens on: a number, a range, or a list of both. */
  ports: PortSpec;
  /**
   * Host names matched against the HTTP Host header or the TLS SNI:
   * `'example.com'`, `'*.example.com'` (any depth of subdomain), `'*'`. Case-insensitive.
   * Omitted: the route matches any domain, and connections that carry none.
   */
  domains?: string | string[];
  /** Request path glob for HTTP routes, e.g. `'/api/*'` or `'/static/**'`. The query string is ignored. */
  path?: string;
  /** Client addresses or CIDRs the route applies to, e.g. `['10.0.0.0/8', '::1']`. */
  clientIp?: string[];
}

/** A PROXY protocol version sent to an upstream first on each connection. */
export type ProxyProtocolVersion = 'v1' | 'v2';

export interface IRouteTarget {
  /** Upstream host; a list is balanced by `action.loadBalancing` (default round-robin). */
  host: string | string[];
  /** Upstream port; `'preserve'` uses the port the client connected to. */
  port: number | 'preserve';
  /** Send a PROXY protocol header (`'v1'` text, `'v2'` binary) first on every upstream connection. Default: none. */
  proxyProtocol?: ProxyProtocolVersion;
}

/** One target of a list-form `action.target`: each may have its own port. */
export interface IRouteTargetEndpoint {
  host: string;
  port: number;
  /** As IRouteTarget.proxyProtocol. Default: none. */
  proxyProtocol?: ProxyProtocolVersion;
}

/** Active health checks of a route's targets. */
export interface IHealthCheck {
  /** Path an HTTP route's targets are checked with (GET; 2xx/3xx is healthy). Default: `'/'`. Other routes are checked with a TCP connect. */
  path?: string;
  /** Time between checks of one target. Default: 5000 ms. */
  intervalMs?: number;
  /** Time a check may take before it counts as failed. Default: 2000 ms. */
  timeoutMs?: number;
  /** Failed checks in a row that take a target out of rotation. Default: 3. */
  unhealthyThreshold?: number;
  /** Passed checks in a row that put it back. Default: 2. */
  healthyThreshold?: number;
}

/** How a forward route spreads connections over its targets. */
export interface ILoadBalancing {
  /** Default: `'round-robin'`. `'ip-hash'` keeps a client IP on one target while it is healthy (consistent hashing). */
  policy?: 'round-robin' | 'least-connections' | 'ip-hash';
  /** Active checks; without them only passive failover applies. Default: none. */
  healthCheck?: IHealthCheck;
}

/**
 * Header rules (SmartProxy v19 parity): a string sets the header (templates
 * `{clientIp}`, `{domain}`, `{path}`, `{port}`, `{route}`), `null` removes it.
 */
export interface IRouteHeaders {
  /** Applied to the request sent upstream. */
  request?: Record<string, string | null>;
  /** Applied to the response sent to the client. */
  response?: Record<string, string | null>;
}

export interface IStaticCertificate {
  key: string;
  cert: string;
  ca?: string;
}

export type TlsMode = 'passthrough' | 'terminate' | 'terminate-and-reencrypt';

export type TlsMinVersion = 'TLSv1.2' | 'TLSv1.3';

/** Which TLS versions and cipher suites a terminating route accepts from clients. */
export interface ITlsPolicy {
  /** Lowest TLS version a client may use. Default: `'TLSv1.2'`. */
  minVersion?: TlsMinVersion;
  /**
   * OpenSSL cipher string; TLS 1.3 suites (`TLS_*`) may be listed in it too,
   * otherwise OpenSSL's TLS 1.3 defaults stay on. Default: Mozilla
   * "intermediate", ECDHE with AES-GCM or ChaCha20-Poly1305 only (no static
   * RSA, no CBC).
   */
  ciphers?: string;
}

/** How a terminate-and-reencrypt route checks its upstream's certificate. */
export interface IUpstreamTls {
  /** CA certificate(s) (PEM) the upstream's certificate must chain to. Default: Node's bundled root store. */
  ca?: string | string[];
  /** Name sent as SNI and checked against the upstream's certificate. Default: the request's Host (without port). */
  servername?: string;
  /** Verify the upstream's certificate. Default: true; `false` is an explicit opt-out, logged once per route. */
  verify?: boolean;
}

/**
 * A route's TLS. For terminating modes, `minVersion` and `ciphers` (from
 * ITlsPolicy) replace the proxy's `tls` option for this route only; unset,
 * the proxy's values apply.
 */
export interface IRouteTls extends ITlsPolicy {
  mode: TlsMode;
  /** For terminating modes: `'auto'` (ACME) or a static PEM key pair. */
  certificate?: 'auto' | IStaticCertificate;
  /** For terminate-and-reencrypt: how the upstream is verified. Default: verified against the system store. */
  upstream?: IUpstreamTls;
  /**
   * For terminating modes: offer HTTP/2 (ALPN `h2`) besides HTTP/1.1. The
   * upstream is spoken to over HTTP/1.1 either way. Default: true.
   */
  http2?: boolean;
}

export type RedirectStatus = 301 | 302 | 307 | 308;

export interface IRouteRedirect {
  /** Location; may use `{domain}`, `{path}`, `{port}` and `{query}`. */
  to: string;
  /** Default: 301. */
  status?: RedirectStatus;
}

export interface IRouteStatic {
  /** Default: 200. */
  status?: number;
  headers?: Record<string, string>;
  body?: string;
}

/** What a socket handler is told about the connection it receives. */
export interface ISocketHandlerContext {
  port: number;
  clientIp: string;
  domain: string | undefined;
  routeName: string;
}

export type SocketHandler = (socket: Socket, context: ISocketHandlerContext) => void | Promise<void>;

export type RouteActionType = 'forward' | 'redirect' | 'block' | 'static' | 'socket-handler' | 'metrics';

export interface IRouteAction {
  type: RouteActionType;
  target?: IRouteTarget | IRouteTargetEndpoint[];
  /** Forward routes with several targets: the policy and health checks. Default: round-robin, no checks. */
  loadBalancing?: ILoadBalancing;
  tls?: IRouteTls;
  redirect?: IRouteRedirect;
  static?: IRouteStatic;
  socketHandler?: SocketHandler;
}

export interface IRouteSecurity {
  ipAllowList?: string[];
  ipBlockList?: string[];
  maxConnections?: number;
}

/** Timeouts for one route, overriding the proxy's `timeouts` option. */
export interface IRouteTimeouts {
  /** Time to connect to this route's upstream. */
  upstreamConnectMs?: number;
  /** Time for this route's upstream to start answering (504 after). */
  upstreamResponseMs?: number;
  /** Close this route's connections once they are this old; 0 leaves them open. */
  maxLifetimeMs?: number;
  /** Close this route's WebSocket connections after this long without traffic either way. */
  websocketIdleMs?: number;
}

export interface IRouteConfig {
  /** Unique among the routes given together; used in logs and errors. */
  name?: string;
  /** Higher wins; between equal priorities the more specific match wins. Default: 0. */
  priority?: number;
  match: IRouteMatch;
  action: IRouteAction;
  security?: IRouteSecurity;
  timeouts?: IRouteTimeouts;
  /** Headers set or removed on HTTP requests and responses of this route. Default: none. */
  headers?: IRouteHeaders;
}
