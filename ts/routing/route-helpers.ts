import type {
  IRouteConfig,
  IRouteSecurity,
  IRouteTarget,
  IRouteTls,
  IStaticCertificate,
  PortSpec,
  RedirectStatus,
} from './types.js';
import { InvalidOptionError, type OptionProblem } from '../errors.js';
import { closest } from '../util/did-you-mean.js';

/**
 * Builders for the routes most proxies start with, in the SmartProxy
 * tradition. They only assemble plain IRouteConfig objects: the routes are
 * validated by updateRoutes(), once, for every route, so a helper's output
 * can be edited, serialised or sent to another process like any
 * hand-written route. Only each helper's own options argument is checked
 * here (InvalidOptionError), since a mistake there, such as a bare port
 * number, would otherwise be dropped without a trace.
 */

/** What every helper accepts besides its own settings. */
export interface IRouteHelperOptions {
  /** Route name, unique among the routes given together. Default: derived from the kind of route and its domains. */
  name?: string;
  /** Default: 0. */
  priority?: number;
  /** Request path glob, e.g. `'/api/*'`. Default: every path. */
  path?: string;
  /** Client addresses or CIDRs the route applies to. Default: every client. */
  clientIp?: string[];
  /** IP allow/block lists and maxConnections. Default: none. */
  security?: IRouteSecurity;
}

export interface IHttpRouteOptions extends IRouteHelperOptions {
  /** Port(s) the proxy listens on. Default: 80. */
  port?: PortSpec;
}

export interface IHttpsTerminateRouteOptions extends IRouteHelperOptions {
  /** `'auto'` (ACME or a certProvisionFunction) or a static PEM pair. Default: `'auto'`. */
  certificate?: 'auto' | IStaticCertificate;
  /** Speak TLS to the upstream too (terminate-and-reencrypt). Default: false. */
  reencrypt?: boolean;
  /** Port(s) the proxy listens on. Default: 443. */
  port?: PortSpec;
}

export interface IHttpsPassthroughRouteOptions extends Omit<IRouteHelperOptions, 'path'> {
  /** Port(s) the proxy listens on. Default: 443. */
  port?: PortSpec;
}

export interface IHttpToHttpsRedirectOptions extends IRouteHelperOptions {
  /** Port(s) the redirect answers on. Default: 80. */
  port?: PortSpec;
  /** Port named in the Location; left out of the URL when it is 443. Default: 443. */
  httpsPort?: number;
  /** Default: 301. */
  status?: RedirectStatus;
}

export interface ICompleteHttpsServerOptions extends IHttpsTerminateRouteOptions {
  /** Port the HTTP→HTTPS redirect answers on. Default: 80. */
  httpPort?: PortSpec;
  /** Status of the redirect. Default: 301. */
  redirectStatus?: RedirectStatus;
}

export interface ILoadBalancerRouteOptions extends IRouteHelperOptions {
  /** Port(s) the proxy listens on. Default: 443 with `tls`, 80 without. */
  port?: PortSpec;
  /** TLS handling at the proxy. Default: none (plain HTTP). */
  tls?: IRouteTls;
}

/**
 * createHttpRoute forwards plain HTTP for `domains` to `target`, routed per
 * request by Host (and `path` when given). Default port: 80.
 */
export function createHttpRoute(domains: string | string[], target: IRouteTarget, options: IHttpRouteOptions = {}): IRouteConfig {
  checkHelperOptions('createHttpRoute', options, [...baseKeys, 'port']);
  return build(`http:${label(domains)}`, options, options.port ?? 80, domains, {
    type: 'forward',
    target: copyTarget(target),
  });
}

/**
 * createHttpsTerminateRoute terminates TLS at the proxy for `domains` and
 * forwards the HTTP inside to `target`. Defaults: `certificate: 'auto'`,
 * plain HTTP upstream (`reencrypt: false`), port 443.
 */
export function createHttpsTerminateRoute(
  domains: string | string[],
  target: IRouteTarget,
  options: IHttpsTerminateRouteOptions = {},
): IRouteConfig {
  checkHelperOptions('createHttpsTerminateRoute', options, [...baseKeys, 'certificate', 'reencrypt', 'port']);
  const mode = options.reencrypt === true ? 'terminate-and-reencrypt' : 'terminate';
  return build(`https-${mode}:${label(domains)}`, options, options.port ?? 443, domains, {
    type: 'forward',
    target: copyTarget(target),
    tls: { mode, certificate: copyCertificate(options.certificate ?? 'auto') },
  });
}

/**
 * createHttpsPassthroughRoute pipes TLS for `domains`, chosen by SNI, to
 * `target` without decrypting it: the upstream holds the certificate.
 * Default port: 443.
 */
export function createHttpsPassthroughRoute(
  domains: string | string[],
  target: IRouteTarget,
  options: IHttpsPassthroughRouteOptions = {},
): IRouteConfig {
  checkHelperOptions('createHttpsPassthroughRoute', options, ['name', 'priority', 'clientIp', 'security', 'port']);
  return build(`https-passthrough:${label(domains)}`, options, options.port ?? 443, domains, {
    type: 'forward',
    target: copyTarget(target),
    tls: { mode: 'passthrough' },
  });
}

/**
 * createHttpToHttpsRedirect answers plain HTTP for `domains` with a redirect
 * to the same host, path and query over HTTPS. Defaults: port 80,
 * httpsPort 443 (left out of the Location), status 301.
 */
export function createHttpToHttpsRedirect(domains: string | string[], options: IHttpToHttpsRedirectOptions = {}): IRouteConfig {
  checkHelperOptions('createHttpToHttpsRedirect', options, [...baseKeys, 'port', 'httpsPort', 'status']);
  const httpsPort = options.httpsPort ?? 443;
  const authority = httpsPort === 443 ? '{domain}' : `{domain}:${httpsPort}`;
  return build(`http-to-https:${label(domains)}`, options, options.port ?? 80, domains, {
    type: 'redirect',
    // The template engine drops the '?' when the request had no query.
    redirect: { to: `https://${authority}{path}?{query}`, status: options.status ?? 301 },
  });
}

/**
 * createCompleteHttpsServer is the usual pair for a site: a terminating
 * HTTPS route (see createHttpsTerminateRoute for its defaults) and an
 * HTTP→HTTPS redirect on `httpPort` (default 80) to the HTTPS port. When
 * `name` is given the routes are called `<name>` and `<name>:redirect`.
 */
export function createCompleteHttpsServer(
  domains: string | string[],
  target: IRouteTarget,
  options: ICompleteHttpsServerOptions = {},
): [IRouteConfig, IRouteConfig] {
  checkHelperOptions('createCompleteHttpsServer', options, [...baseKeys, 'certificate', 'reencrypt', 'port', 'httpPort', 'redirectStatus']);
  const { httpPort, redirectStatus, ...httpsOptions } = options;
  const https = createHttpsTerminateRoute(domains, target, httpsOptions);
  const httpsPort = firstPort(options.port ?? 443);
  const redirect = createHttpToHttpsRedirect(domains, {
    port: httpPort ?? 80,
    httpsPort,
    ...(redirectStatus === undefined ? {} : { status: redirectStatus }),
    ...(options.name === undefined ? {} : { name: `${options.name}:redirect` }),
    ...(options.priority === undefined ? {} : { priority: options.priority }),
    ...(options.clientIp === undefined ? {} : { clientIp: options.clientIp.slice() }),
    ...(options.security === undefined ? {} : { security: copySecurity(options.security) }),
  });
  return [https, redirect];
}

/**
 * createLoadBalancerRoute spreads requests (or connections, for TCP-level
 * routes) for `domains` round-robin over `hosts`, all on upstream port
 * `port` (`'preserve'`: the port the client connected to). Defaults:
 * listens on 80, or 443 when `tls` is given; no TLS.
 */
export function createLoadBalancerRoute(
  domains: string | string[],
  hosts: string[],
  port: number | 'preserve',
  options: ILoadBalancerRouteOptions = {},
): IRouteConfig {
  checkHelperOptions('createLoadBalancerRoute', options, [...baseKeys, 'port', 'tls']);
  const tls = options.tls;
  return build(`load-balancer:${label(domains)}`, options, options.port ?? (tls === undefined ? 80 : 443), domains, {
    type: 'forward',
    target: { host: hosts.slice(), port },
    ...(tls === undefined ? {} : { tls: { ...tls, ...(tls.certificate === undefined ? {} : { certificate: copyCertificate(tls.certificate) }) } }),
  });
}

function build(
  defaultName: string,
  options: IRouteHelperOptions,
  ports: PortSpec,
  domains: string | string[],
  action: IRouteConfig['action'],
): IRouteConfig {
  const route: IRouteConfig = {
    name: options.name ?? defaultName,
    match: {
      ports: copyPorts(ports),
      domains: typeof domains === 'string' ? domains : domains.slice(),
      ...(options.path === undefined ? {} : { path: options.path }),
      ...(options.clientIp === undefined ? {} : { clientIp: options.clientIp.slice() }),
    },
    action,
  };
  if (options.priority !== undefined) route.priority = options.priority;
  if (options.security !== undefined) route.security = copySecurity(options.security);
  return route;
}

// Copies keep a caller's later edits to its own objects out of the routes built here.
function copyTarget(target: IRouteTarget): IRouteTarget {
  return { host: typeof target.host === 'string' ? target.host : target.host.slice(), port: target.port };
}

function copyCertificate(certificate: 'auto' | IStaticCertificate): 'auto' | IStaticCertificate {
  return certificate === 'auto' ? 'auto' : { ...certificate };
}

function copySecurity(security: IRouteSecurity): IRouteSecurity {
  return {
    ...security,
    ...(security.ipAllowList === undefined ? {} : { ipAllowList: security.ipAllowList.slice() }),
    ...(security.ipBlockList === undefined ? {} : { ipBlockList: security.ipBlockList.slice() }),
  };
}

function copyPorts(ports: PortSpec): PortSpec {
  if (typeof ports === 'number') return ports;
  if (!Array.isArray(ports)) return { ...ports };
  return ports.map((p) => (typeof p === 'number' ? p : { ...p }));
}

function firstPort(ports: PortSpec): number {
  const first = Array.isArray(ports) ? ports[0] : ports;
  if (first === undefined) return 443;
  return typeof first === 'number' ? first : first.from;
}

function label(domains: string | string[]): string {
  return typeof domains === 'string' ? domains : domains.join(',');
}

const baseKeys = ['name', 'priority', 'path', 'clientIp', 'security'];

/** Throws InvalidOptionError unless `options` is an object of the helper's known options. */
function checkHelperOptions(helper: string, options: unknown, known: readonly string[]): void {
  const where = `${helper}() options`;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    const example = typeof options === 'number' ? ` such as { port: ${options} } or { httpsPort: ${options} }` : '';
    throw new InvalidOptionError([{ option: where, message: `should be an object of options${example} (known: ${known.join(', ')}), instead got ${typeof options === 'string' ? `'${options}'` : String(options)}` }]);
  }
  const problems: OptionProblem[] = [];
  for (const key of Object.keys(options)) {
    if (known.includes(key)) continue;
    const near = closest(key, known);
    problems.push({ option: `${where}.${key}`, message: `is not a known option${near ? ` (did you mean '${near}'?)` : ''}` });
  }
  if (problems.length > 0) throw new InvalidOptionError(problems);
}
