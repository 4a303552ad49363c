/**
 * Validation of the load-balancing and edge fields of a route: the target
 * forms, `action.loadBalancing` and `headers`. Called by validate.ts, once
 * per route update, never per request.
 */
import { headerRuleProblem } from '../proxy/http/header-rules.js';
import { closest } from '../util/did-you-mean.js';
import { isObject, isPort, show, unknownKeys, type Report } from './validate-shape.js';

const targetKeys = ['host', 'port', 'proxyProtocol'];
const endpointKeys = ['host', 'port', 'proxyProtocol'];
const loadBalancingKeys = ['policy', 'healthCheck'];
const policies = ['round-robin', 'least-connections', 'ip-hash'];
const healthCheckKeys = ['path', 'intervalMs', 'timeoutMs', 'unhealthyThreshold', 'healthyThreshold'];
const proxyProtocolVersions = ['v1', 'v2'];
const headerSides = ['request', 'response'];

/** Every field and value these checks know, for documentation checks. */
export const edgeSchema = Object.freeze({ targetKeys, endpointKeys, loadBalancingKeys, policies, healthCheckKeys, proxyProtocolVersions, headerSides });

/** `{ host: string | string[], port, proxyProtocol? }` or a non-empty list of `{ host, port, proxyProtocol? }`. */
export function validateTarget(target: unknown, report: Report): void {
  if (Array.isArray(target)) {
    if (target.length === 0) return report('action.target', 'should list at least one { host, port }');
    target.forEach((entry: unknown, i) => {
      const path = `action.target[${i}]`;
      if (!isObject(entry)) return report(path, 'should be { host, port, proxyProtocol? }');
      unknownKeys(entry, endpointKeys, `${path}.`, report);
      if (!isHost(entry.host)) report(`${path}.host`, 'should be a host name or IP address');
      if (!isPort(entry.port)) report(`${path}.port`, `should be an integer from 1 to 65535, instead got ${show(entry.port)}`);
      validateProxyProtocol(entry.proxyProtocol, `${path}.proxyProtocol`, report);
    });
    return;
  }
  if (!isObject(target)) return report('action.target', 'should be { host, port } or a list of them');
  unknownKeys(target, targetKeys, 'action.target.', report);
  const hosts = typeof target.host === 'string' ? [target.host] : target.host;
  if (!Array.isArray(hosts) || hosts.length === 0) {
    report('action.target.host', 'should be a host name or a non-empty list of them');
  } else {
    hosts.forEach((h: unknown, i) => {
      if (!isHost(h)) report(Array.isArray(target.host) ? `action.target.host[${i}]` : 'action.target.host', 'should be a host name or IP address');
    });
  }
  if (target.port !== 'preserve' && !isPort(target.port)) {
    report('action.target.port', `should be an integer from 1 to 65535 or 'preserve', instead got ${show(target.port)}`);
  }
  validateProxyProtocol(target.proxyProtocol, 'action.target.proxyProtocol', report);
}

function validateProxyProtocol(value: unknown, path: string, report: Report): void {
  if (value !== undefined && !proxyProtocolVersions.includes(value as string)) report(path, `should be 'v1' or 'v2', instead got ${show(value)}`);
}

/** `{ policy?, healthCheck? }`; only forward routes balance. */
export function validateLoadBalancing(value: unknown, type: string, report: Report): void {
  if (value === undefined) return;
  if (type !== 'forward') return report('action.loadBalancing', `is only used by forward routes, not ${type}`);
  if (!isObject(value)) return report('action.loadBalancing', 'should be { policy?, healthCheck? }');
  unknownKeys(value, loadBalancingKeys, 'action.loadBalancing.', report);
  const policy = value.policy;
  if (policy !== undefined && !policies.includes(policy as string)) {
    const near = typeof policy === 'string' ? closest(policy, policies) : undefined;
    report('action.loadBalancing.policy', `should be one of ${policies.join(', ')}, instead got ${show(policy)}${near ? ` (did you mean '${near}'?)` : ''}`);
  }
  const check = value.healthCheck;
  if (check === undefined) return;
  if (!isObject(check)) return report('action.loadBalancing.healthCheck', `should be an object with any of ${healthCheckKeys.join(', ')}`);
  unknownKeys(check, healthCheckKeys, 'action.loadBalancing.healthCheck.', report);
  if (check.path !== undefined && (typeof check.path !== 'string' || !check.path.startsWith('/') || /[\s\u0000-\u001f\u007f]/.test(check.path))) {
    report('action.loadBalancing.healthCheck.path', `should be a path starting with '/', instead got ${show(check.path)}`);
  }
  for (const key of ['intervalMs', 'timeoutMs'] as const) {
    const ms = check[key];
    if (ms !== undefined && (typeof ms !== 'number' || !Number.isFinite(ms) || ms <= 0)) report(`action.loadBalancing.healthCheck.${key}`, 'should be a positive number of milliseconds');
  }
  for (const key of ['unhealthyThreshold', 'healthyThreshold'] as const) {
    const n = check[key];
    if (n !== undefined && (!Number.isInteger(n) || (n as number) < 1)) report(`action.loadBalancing.healthCheck.${key}`, 'should be a positive integer');
  }
}

/** `{ request?, response? }`, each a record of header name to string (set) or null (remove). */
export function validateHeaders(value: unknown, report: Report): void {
  if (value === undefined) return;
  if (!isObject(value)) return report('headers', 'should be { request?, response? }');
  unknownKeys(value, headerSides, 'headers.', report);
  for (const side of headerSides) {
    const rules = value[side];
    if (rules === undefined) continue;
    if (!isObject(rules)) {
      report(`headers.${side}`, 'should be an object of header name to string (set) or null (remove)');
      continue;
    }
    for (const [name, rule] of Object.entries(rules)) {
      const problem = headerRuleProblem(name, rule);
      if (problem !== undefined) report(`headers.${side}.${name}`, problem);
    }
  }
}

function isHost(value: unknown): boolean {
  return typeof value === 'string' && value.length > 0 && !/[\s/]/.test(value);
}
