import type { SecureContext } from 'node:tls';
import type { Logger } from 'pino';
import type { IHttp2Options, ILimitOptions, ITimeoutOptions } from '../options.js';
import type { MetricsCollector } from '../metrics/metrics.js';
import type { IRouteTimeouts } from '../routing/types.js';
import type { ClientLimits } from './client-limits.js';
import type { LimitReporter } from './limit-reporter.js';
import type { IpMatcher } from '../routing/ip-matcher.js';
import type { Route } from '../routing/route.js';
import type { RouteTable } from '../routing/route-table.js';
import type { ConnectionTracker } from './connection-tracker.js';
import type { LiveSettings } from '../config/live-settings.js';
import type { UpstreamPool } from './upstream/pool.js';
import type { AccessLog } from './access-log.js';

/** Where terminating routes get their certificates; the CertificateManager implements it. */
export interface SecureContextSource {
  /** The context to terminate TLS with for this route and SNI; undefined when none is available yet. */
  secureContextFor(route: Route, serverName: string | undefined): SecureContext | undefined;
  /** Answers a TLS-ALPN-01 challenge on this connection when one is pending for the name; false otherwise. */
  answerTlsAlpnChallenge?(serverName: string): SecureContext | undefined;
  /** The same, looked up in a shared store (an order another instance placed); undefined when there is none to ask. */
  lookupTlsAlpnChallenge?(serverName: string): Promise<SecureContext | undefined> | undefined;
}

/** The data path's view of the routes: the live table, read on every connection and request; it can change nothing. */
export interface RouteSnapshot {
  readonly table: RouteTable;
}

/**
 * What every part of the data path shares, built once by SmartProxy.
 * `routes.table`, `timeouts`, `limits` and `trustedProxies` are read live
 * (getters): read them where they are used, never keep a copy.
 */
export interface ProxyContext {
  readonly routes: RouteSnapshot;
  readonly logger: Logger;
  readonly timeouts: Readonly<Required<ITimeoutOptions>>;
  readonly trustedProxies: IpMatcher | undefined;
  readonly certificates: SecureContextSource;
  readonly tracker: ConnectionTracker;
  /** The one pool of keep-alive upstream connections, for every engine's forwarded requests. */
  readonly pool: UpstreamPool;
  readonly limits: Readonly<Required<ILimitOptions>>;
  readonly clientLimits: ClientLimits;
  readonly limitReporter: LimitReporter;
  readonly metrics: MetricsCollector;
  /** HTTP/2 session limits, fixed at construction. */
  readonly http2: Readonly<Required<IHttp2Options>>;
  /** Where access log records go; undefined when the access log is off (the default). */
  readonly accessLog: AccessLog | undefined;
  /** Peers whose connections must start with a PROXY protocol header; undefined when the option is off. */
  readonly proxyProtocol: IpMatcher | undefined;
  /** The Prometheus text a `metrics` route serves. */
  renderMetrics(): string;
}

/** A route's own timeout where it sets one, else the proxy's. */
export function routeTimeout(ctx: ProxyContext, route: Route, name: keyof IRouteTimeouts): number {
  return route.config.timeouts?.[name] ?? ctx.timeouts[name];
}

type LiveFields = 'routes' | 'timeouts' | 'limits' | 'trustedProxies';

/**
 * The data path's context. The route table and the live settings are
 * getters, read on every connection and request, so an update or
 * updateOptions() is one assignment and nothing holds a stale copy; the
 * data path sees the table only, never the RouteManager that changes it.
 */
export function dataPathContext(routes: { readonly table: RouteTable }, settings: LiveSettings, fixed: Omit<ProxyContext, LiveFields>): ProxyContext {
  return {
    ...fixed,
    routes: {
      get table(): RouteTable {
        return routes.table;
      },
    },
    get timeouts() {
      return settings.timeouts;
    },
    get limits() {
      return settings.limits;
    },
    get trustedProxies() {
      return settings.trustedProxies;
    },
  };
}

