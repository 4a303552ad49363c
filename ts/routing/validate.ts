import type { RouteProblem } from '../errors.js';
import { domainPatternProblem } from './domain-matcher.js';
import { ipPatternProblem } from './ip-matcher.js';
import { pathPatternProblem } from './path-matcher.js';
import { closest } from '../util/did-you-mean.js';
import { isObject, isPort, show, unknownKeys, type Obj, type Report } from './validate-shape.js';
import { isIP } from 'node:net';
import { ciphersProblem, minVersionProblem } from '../proxy/tls/policy.js';
import { validateHeaders, validateLoadBalancing, validateTarget } from './validate-edge.js';

/**
 * Checks a whole route list and returns every problem found, so a user fixes
 * a config in one pass. Runs once per updateRoutes(), never per connection.
 * `alreadyValid`: routes known to be valid (identical to a live route),
 * whose own checks are skipped. `earlierNamed`: where the caller already
 * found each route's earlier namesake, so no map of every name is built here.
 */
export function validateRoutes(routes: unknown, alreadyValid?: (index: number) => boolean, earlierNamed?: (index: number) => number | undefined): RouteProblem[] {
  if (!Array.isArray(routes)) {
    return [{ route: 'routes', path: '', message: 'should be an array of routes' }];
  }
  const problems: RouteProblem[] = [];
  const names = new Map<string, number>();
  routes.forEach((route: unknown, index) => {
    // A route identical to one already live passed these checks when it went live.
    const check = alreadyValid === undefined || !alreadyValid(index);
    const name = isObject(route) ? route.name : undefined;
    let first: number | undefined;
    if (typeof name === 'string') {
      first = earlierNamed === undefined ? names.get(name) : earlierNamed(index);
      if (first === undefined && earlierNamed === undefined) names.set(name, index);
    }
    if (!check && first === undefined) return;
    const label = routeLabel(route, index);
    const report = (path: string, message: string) => problems.push({ route: label, path, message });
    if (check) validateRoute(route, report);
    if (first !== undefined) report('name', `duplicate name: routes[${first}] is also called '${name}'`);
  });
  return problems;
}

export function routeLabel(route: unknown, index: number): string {
  const name = isObject(route) ? route.name : undefined;
  return typeof name === 'string' && name.length > 0 ? name : `routes[${index}]`;
}

const routeKeys = ['name', 'priority', 'match', 'action', 'security', 'timeouts', 'headers'];
const routeTimeoutKeys = ['upstreamConnectMs', 'upstreamResponseMs', 'maxLifetimeMs', 'websocketIdleMs'];
const matchKeys = ['ports', 'domains', 'path', 'clientIp'];
const actionKeys = ['type', 'target', 'loadBalancing', 'tls', 'redirect', 'static', 'socketHandler'];
const actionTypes = ['forward', 'redirect', 'block', 'static', 'socket-handler', 'metrics'];
const tlsModes = ['passthrough', 'terminate', 'terminate-and-reencrypt'];
const tlsKeys = ['mode', 'certificate', 'minVersion', 'ciphers', 'upstream', 'http2'];
const upstreamTlsKeys = ['ca', 'servername', 'verify'];
const redirectStatuses = [301, 302, 307, 308];

/** Every field and value validation knows, for documentation checks. */
export const routeSchema = Object.freeze({ routeKeys, routeTimeoutKeys, matchKeys, actionKeys, actionTypes, tlsModes, tlsKeys, upstreamTlsKeys, redirectStatuses });
const controlChars = /[\u0000-\u001f\u007f]/;

function validateRoute(route: unknown, report: Report): void {
  if (!isObject(route)) return report('', 'should be an object with match and action');
  unknownKeys(route, routeKeys, '', report);
  if (route.name !== undefined && (typeof route.name !== 'string' || route.name.length === 0)) {
    report('name', 'should be a non-empty string');
  }
  if (route.priority !== undefined && !Number.isFinite(route.priority)) report('priority', 'should be a finite number');
  if (!isObject(route.match)) report('match', 'is required: an object with at least ports');
  else validateMatch(route.match, report);
  if (!isObject(route.action)) report('action', "is required: an object with a type such as 'forward'");
  else validateAction(route.action, isObject(route.match) ? route.match : {}, report);
  if (route.security !== undefined) validateSecurity(route.security, report);
  if (route.timeouts !== undefined) validateTimeouts(route.timeouts, report);
  validateHeaders(route.headers, report);
}

function validateTimeouts(timeouts: unknown, report: Report): void {
  if (!isObject(timeouts)) return report('timeouts', `should be an object with any of ${routeTimeoutKeys.join(', ')}`);
  unknownKeys(timeouts, routeTimeoutKeys, 'timeouts.', report);
  for (const key of routeTimeoutKeys) {
    const value = timeouts[key];
    if (value === undefined) continue;
    const zeroAllowed = key === 'maxLifetimeMs';
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || (value === 0 && !zeroAllowed)) {
      report(`timeouts.${key}`, `should be a positive number of milliseconds${zeroAllowed ? ' (0: off)' : ''}`);
    }
  }
}

function validateMatch(match: Obj, report: Report): void {
  unknownKeys(match, matchKeys, 'match.', report);
  validatePorts(match.ports, report);
  if (match.domains !== undefined) {
    const domains = typeof match.domains === 'string' ? [match.domains] : match.domains;
    if (!Array.isArray(domains) || domains.length === 0) {
      report('match.domains', 'should be a host name or a non-empty list of them');
    } else {
      domains.forEach((d: unknown, i) => {
        const problem = domainPatternProblem(d);
        if (problem) report(`match.domains[${i}]`, problem);
      });
    }
  }
  if (match.path !== undefined) {
    const problem = pathPatternProblem(match.path);
    if (problem) report('match.path', problem);
  }
  if (match.clientIp !== undefined) validateIpList(match.clientIp, 'match.clientIp', report);
}

function validatePorts(ports: unknown, report: Report): void {
  if (ports === undefined) return report('match.ports', 'is required: a port, a {from, to} range, or a list of them');
  const list = Array.isArray(ports) ? ports : [ports];
  if (list.length === 0) return report('match.ports', 'should list at least one port');
  list.forEach((entry: unknown, i) => {
    const path = Array.isArray(ports) ? `match.ports[${i}]` : 'match.ports';
    if (typeof entry === 'number') {
      if (!isPort(entry)) report(path, `${entry} is not a port: use an integer from 1 to 65535`);
    } else if (isObject(entry)) {
      if (!isPort(entry.from) || !isPort(entry.to)) report(path, 'range needs integer from and to, each 1-65535');
      else if (entry.from > entry.to) report(path, `range from ${entry.from} is above to ${entry.to}`);
    } else {
      report(path, 'should be a port number or a {from, to} range');
    }
  });
}

function validateAction(action: Obj, match: Obj, report: Report): void {
  unknownKeys(action, actionKeys, 'action.', report);
  const type = action.type;
  if (typeof type !== 'string' || !actionTypes.includes(type)) {
    const near = typeof type === 'string' ? closest(type, actionTypes) : undefined;
    report('action.type', `should be one of ${actionTypes.join(', ')}, instead got ${show(type)}${near ? ` (did you mean '${near}'?)` : ''}`);
    return;
  }
  const tls = action.tls;
  let tlsMode: string | undefined;
  if (tls !== undefined) tlsMode = validateTls(tls, type, report);

  if (type === 'forward') {
    if (action.target === undefined) report('action.target', 'is required for forward: { host, port }');
    else validateTarget(action.target, report);
  } else if (action.target !== undefined) {
    report('action.target', `is only used by forward routes, not ${type}`);
  }
  validateLoadBalancing(action.loadBalancing, type, report);
  if (type === 'redirect') validateRedirect(action.redirect, report);
  if (type === 'static') validateStatic(action.static, report);
  if (type === 'socket-handler' && typeof action.socketHandler !== 'function') {
    report('action.socketHandler', 'is required for socket-handler: a function (socket, context) => void');
  }
  if (tlsMode === 'passthrough' && match.path !== undefined) {
    report('match.path', "cannot be matched on passthrough TLS: the proxy never sees the request; use mode 'terminate'");
  }
  // Passthrough with redirect/static is reported by validateTls, so each mistake is listed once.
  if (type === 'socket-handler' && (match.domains !== undefined || match.path !== undefined) && tls === undefined) {
    report('match', 'socket-handler routes without tls cannot match domains or paths: there is no SNI or request to read them from');
  }
}

function validateTls(tls: unknown, type: string, report: Report): string | undefined {
  if (!isObject(tls)) {
    report('action.tls', 'should be { mode, certificate? }');
    return undefined;
  }
  unknownKeys(tls, tlsKeys, 'action.tls.', report);
  const mode = tls.mode;
  if (typeof mode !== 'string' || !tlsModes.includes(mode)) {
    report('action.tls.mode', `should be one of ${tlsModes.join(', ')}, instead got ${show(mode)}`);
    return undefined;
  }
  const cert = tls.certificate;
  if (mode === 'passthrough') {
    if (cert !== undefined) report('action.tls.certificate', 'is not used with passthrough: the upstream terminates TLS');
    if (type !== 'forward' && type !== 'block') report('action.tls.mode', `passthrough needs a forward route, not ${type}`);
  } else if (cert === undefined) {
    report('action.tls.certificate', `is required for ${mode}: 'auto' or { key, cert }`);
  } else if (cert !== 'auto') {
    if (!isObject(cert) || typeof cert.key !== 'string' || typeof cert.cert !== 'string') {
      report('action.tls.certificate', "should be 'auto' or { key, cert, ca? } with PEM strings");
    } else {
      if (!cert.key.includes('PRIVATE KEY')) report('action.tls.certificate.key', 'should be a PEM private key');
      if (!cert.cert.includes('CERTIFICATE')) report('action.tls.certificate.cert', 'should be a PEM certificate');
      if (cert.ca !== undefined && typeof cert.ca !== 'string') report('action.tls.certificate.ca', 'should be a PEM string');
    }
  }
  validateTlsPolicy(tls, mode, report);
  if (tls.http2 !== undefined) {
    if (typeof tls.http2 !== 'boolean') report('action.tls.http2', `should be true or false, instead got ${show(tls.http2)}`);
    else if (mode === 'passthrough') report('action.tls.http2', 'is not used with passthrough: the upstream negotiates the protocol with the client');
  }
  return mode;
}

/** The per-route TLS policy (minVersion, ciphers) and the re-encrypt upstream's verification. */
function validateTlsPolicy(tls: Obj, mode: string, report: Report): void {
  for (const key of ['minVersion', 'ciphers'] as const) {
    const value = tls[key];
    if (value === undefined) continue;
    if (mode === 'passthrough') {
      report(`action.tls.${key}`, 'is not used with passthrough: the upstream negotiates TLS with the client');
      continue;
    }
    const expected = key === 'minVersion' ? minVersionProblem(value) : ciphersProblem(value);
    if (expected !== undefined) report(`action.tls.${key}`, `should be ${expected}, instead got ${show(value)}`);
  }
  const upstream = tls.upstream;
  if (upstream === undefined) return;
  if (mode !== 'terminate-and-reencrypt') return report('action.tls.upstream', `is only used by terminate-and-reencrypt, not ${mode}`);
  if (!isObject(upstream)) return report('action.tls.upstream', 'should be { ca?, servername?, verify? }');
  unknownKeys(upstream, upstreamTlsKeys, 'action.tls.upstream.', report);
  if (upstream.verify !== undefined && typeof upstream.verify !== 'boolean') {
    report('action.tls.upstream.verify', `should be true or false, instead got ${show(upstream.verify)}`);
  }
  const ca = upstream.ca;
  if (ca !== undefined) {
    const list = Array.isArray(ca) ? ca : [ca];
    if (list.length === 0 || list.some((pem) => typeof pem !== 'string' || !pem.includes('CERTIFICATE'))) {
      report('action.tls.upstream.ca', 'should be a PEM CA certificate or a non-empty list of them');
    } else if (upstream.verify === false) {
      report('action.tls.upstream.ca', 'is never used with verify: false; drop one of them');
    }
  }
  const name = upstream.servername;
  if (name !== undefined && (typeof name !== 'string' || isIP(name) !== 0 || !/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?$/.test(name) || name.length > 253)) {
    report('action.tls.upstream.servername', `should be a DNS host name (SNI cannot carry an IP address), instead got ${show(name)}`);
  }
}

function validateRedirect(redirect: unknown, report: Report): void {
  if (!isObject(redirect)) return report('action.redirect', 'is required for redirect: { to, status? }');
  unknownKeys(redirect, ['to', 'status'], 'action.redirect.', report);
  if (typeof redirect.to !== 'string' || redirect.to.length === 0) report('action.redirect.to', 'should be a URL or path template');
  else if (controlChars.test(redirect.to)) report('action.redirect.to', 'should not contain control characters (CR/LF)');
  if (redirect.status !== undefined && !redirectStatuses.includes(redirect.status as number)) {
    report('action.redirect.status', `should be one of ${redirectStatuses.join(', ')}`);
  }
}

function validateStatic(response: unknown, report: Report): void {
  if (!isObject(response)) return report('action.static', 'is required for static: { status?, headers?, body? }');
  unknownKeys(response, ['status', 'headers', 'body'], 'action.static.', report);
  const status = response.status;
  if (status !== undefined && (!Number.isInteger(status) || (status as number) < 200 || (status as number) > 599)) {
    report('action.static.status', 'should be an HTTP status from 200 to 599');
  }
  if (response.body !== undefined && typeof response.body !== 'string') report('action.static.body', 'should be a string');
  if (response.headers !== undefined) {
    if (!isObject(response.headers)) return report('action.static.headers', 'should be an object of strings');
    for (const [name, value] of Object.entries(response.headers)) {
      if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) report(`action.static.headers.${name}`, 'is not a valid header name');
      if (typeof value !== 'string' || controlChars.test(value)) {
        report(`action.static.headers.${name}`, 'should be a string without control characters');
      }
    }
  }
}

function validateSecurity(security: unknown, report: Report): void {
  if (!isObject(security)) return report('security', 'should be { ipAllowList?, ipBlockList?, maxConnections? }');
  unknownKeys(security, ['ipAllowList', 'ipBlockList', 'maxConnections'], 'security.', report);
  if (security.ipAllowList !== undefined) validateIpList(security.ipAllowList, 'security.ipAllowList', report);
  if (security.ipBlockList !== undefined) validateIpList(security.ipBlockList, 'security.ipBlockList', report);
  const max = security.maxConnections;
  if (max !== undefined && (!Number.isInteger(max) || (max as number) < 1)) {
    report('security.maxConnections', 'should be a positive integer');
  }
}

function validateIpList(list: unknown, path: string, report: Report): void {
  if (!Array.isArray(list)) return report(path, 'should be a list of IP addresses or CIDRs');
  list.forEach((entry: unknown, i) => {
    const problem = ipPatternProblem(entry);
    if (problem) report(`${path}[${i}]`, problem);
  });
}
