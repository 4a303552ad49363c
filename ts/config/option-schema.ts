/**
 * The table of every SmartProxy option, one line per option. `new
 * SmartProxy()`, `updateOptions()`, `smartproxy validate` and `smartproxy
 * --config` all check against it, so they can never disagree. To add an
 * option: a line here, the field in options.ts, a row in the readme.
 */
import { ciphersProblem, minVersionProblem } from '../proxy/tls/policy.js';
import { ipPatternProblem } from '../routing/ip-matcher.js';
import { closest } from '../util/did-you-mean.js';
import { checkAgainst, field, fieldAt, group, listOf, show, type CheckContext, type OptionField, type OptionGroup, type OptionProblem } from './schema.js';

/** pino's level names; `silent` turns logging off. */
export const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const isString = (v: unknown) => typeof v === 'string' && v.length > 0;
const isBoolean = (v: unknown) => typeof v === 'boolean';
const isFunction = (v: unknown) => typeof v === 'function';
const isPort = (v: unknown) => Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 65535;
const isMs = (v: unknown) => typeof v === 'number' && Number.isFinite(v) && v > 0;
const isMsOrOff = (v: unknown) => typeof v === 'number' && Number.isFinite(v) && v >= 0;
const isCount = (v: unknown) => typeof v === 'number' && !Number.isNaN(v) && v >= 1;
const isEmail = (v: unknown) => typeof v === 'string' && /^[^\s@]+@[^\s@]+$/.test(v);
const isUrl = (v: unknown) => typeof v === 'string' && /^https?:\/\/[^\s]+$/.test(v);
const hasMethods = (...names: string[]) => (v: unknown) => typeof v === 'object' && v !== null && names.every((n) => typeof (v as Record<string, unknown>)[n] === 'function');
const isLogger = hasMethods('info', 'warn', 'error', 'debug', 'child');
const isCertificateStore = (v: unknown) => isString(v) || hasMethods('loadCertificate', 'saveCertificate', 'loadAccountKey', 'saveAccountKey')(v);
const isPem = (v: unknown) => typeof v === 'string' && v.includes('-----BEGIN');
const portProblem = (v: unknown) => (isPort(v) ? undefined : `should be a port from 1 to 65535, instead got ${String(v)}`);
const ms = (flags = {}) => field('a positive number of milliseconds', isMs, flags);
/** A field whose checker says itself what it expected (undefined when the value is fine). */
const described = (expected: (value: unknown) => string | undefined): OptionField => ({
  check(value, path, report) {
    const wanted = expected(value);
    if (wanted !== undefined) report(path, `should be ${wanted}, instead got ${show(value)}`);
  },
});

/** Timeouts (all live: connections accepted after a change use the new values). */
export const timeoutOptions: OptionGroup = {
  clientHelloMs: ms(),
  headersMs: ms(),
  keepAliveMs: ms(),
  upstreamConnectMs: ms(),
  upstreamResponseMs: ms(),
  drainMs: ms(),
  maxLifetimeMs: field('a number of milliseconds (0: off)', isMsOrOff),
  websocketIdleMs: ms(),
};

/** Limits (all live). */
export const limitOptions: OptionGroup = {
  maxConnections: field('a number of at least 1 (Infinity: no limit)', isCount),
  maxConnectionsPerIp: field('a number of at least 1 (Infinity: no limit)', isCount),
  connectionRatePerIp: field('a number of at least 1 (Infinity: no limit)', isCount),
  maxHeaderBytes: field('a number of bytes, at least 1', isCount),
  maxHeaderCount: field('a number of header fields, at least 1', isCount),
};

/** ACME (all need a restart: the account and its orders are set up at construction). */
export const acmeOptions: OptionGroup = {
  email: field("the account's contact email address", isEmail, { required: true }),
  directoryUrl: field('an http(s) URL of an ACME directory', isUrl),
  useProduction: field('true or false', isBoolean),
  port: field('a port from 1 to 65535', isPort),
  fallbackPorts: listOf('a list of ports', portProblem),
  challengeTypes: listOf("a list of 'http-01' and/or 'tls-alpn-01'", (v) => (v === 'http-01' || v === 'tls-alpn-01' ? undefined : `should be 'http-01' or 'tls-alpn-01', instead got ${String(v)}`)),
  renewThresholdDays: field('a positive number of days', isMs),
  certificateStore: field('a directory path or an ICertificateStore', isCertificateStore, {}),
  challengeStore: field('an IChallengeStore ({ set, get, delete })', hasMethods('set', 'get', 'delete'), { codeOnly: true }),
  caCertificates: field('a PEM string or a list of them', (v) => isPem(v) || (Array.isArray(v) && v.every(isPem))),
  skipChallengeVerification: field('true or false', isBoolean),
  pollIntervalMs: ms(),
  timeoutMs: ms(),
};

/** TLS policy for terminated connections (restart: secure contexts are built with it). Routes may override each field. */
export const tlsOptions: OptionGroup = {
  minVersion: described(minVersionProblem),
  ciphers: described(ciphersProblem),
};

const isWindow = (v: unknown) => Number.isInteger(v) && (v as number) >= 65_535 && (v as number) <= 2 ** 31 - 1;

/** HTTP/2 session limits (restart: sessions are set up with them). */
export const http2Options: OptionGroup = {
  maxConcurrentStreams: field('a whole number of streams, at least 1', (v) => Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 2 ** 31 - 1),
  maxHeaderListBytes: field('a whole number of bytes, at least 1024', (v) => Number.isInteger(v) && (v as number) >= 1024 && (v as number) <= 2 ** 31 - 1),
  streamWindowBytes: field('a whole number of bytes from 65535 to 2147483647', isWindow),
  sessionWindowBytes: field('a whole number of bytes from 65535 to 2147483647', isWindow),
  maxStreamsPerSession: field('a number of streams, at least 1 (Infinity: no limit)', isCount),
  idleMs: ms(),
};

/** PROXY protocol from load balancers (restart: the peers are read at construction). */
export const proxyProtocolOptions: OptionGroup = {
  allowFrom: listOf('a list of IPs or CIDRs', (v) => ipPatternProblem(v), { required: true }),
};

/** `accessLog`: true, false, or { logger } (a pino logger, code only); unknown fields are named. */
const accessLogField: OptionField = {
  check(value, path, report) {
    if (typeof value === 'boolean') return;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return report(path, `should be true, false or { logger }, instead got ${show(value)}`);
    const object = value as Record<string, unknown>;
    for (const key of Object.keys(object)) {
      if (key === 'logger') continue;
      report(`${path}.${key}`, `is not a known option${closest(key, ['logger']) ? " (did you mean 'logger'?)" : ''}`);
    }
    if (!isLogger(object.logger)) report(`${path}.logger`, `should be a pino logger, instead got ${show(object.logger)}`);
  },
};

/** Every top-level option. Routes are checked here for shape only; validateRoutes() checks each route. */
export const smartProxyOptions: OptionGroup = {
  routes: field('an array of routes', Array.isArray, { required: true, live: true }),
  acme: group(acmeOptions),
  store: field('an ISharedStore (RedisStore from smartproxy/redis)', hasMethods('onCertificateChanged', 'onAvailable'), { codeOnly: true }),
  certProvisionFunction: field("a function (domain) => Promise<{ key, cert } | 'http01'>", isFunction, { codeOnly: true }),
  logger: field('a pino logger', isLogger, { codeOnly: true }),
  logLevel: field(`one of ${logLevels.join(', ')}`, (v) => logLevels.includes(v as never), { live: true }),
  host: field('an IP address or host name to listen on', isString),
  trustedProxies: listOf('a list of IPs or CIDRs', (v) => ipPatternProblem(v), { live: true }),
  timeouts: group(timeoutOptions, { live: true }),
  limits: group(limitOptions, { live: true }),
  tls: group(tlsOptions),
  http2: group(http2Options),
  workers: field("a whole number of worker processes from 1 to 256, or 'auto'", (v) => v === 'auto' || (Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 256)),
  proxyProtocol: group(proxyProtocolOptions),
  accessLog: accessLogField,
};

/** Every problem with a set of SmartProxy options (or a config file's contents), at every depth. */
export function checkOptions(options: unknown, context: CheckContext = {}): OptionProblem[] {
  return checkAgainst(options, smartProxyOptions, context);
}

/**
 * Dotted names of the options that differ between two option objects and
 * need a restart to take effect (`host`, `acme.email`, …): what a reload
 * cannot apply. Compared by value, leaf by leaf within groups.
 */
export function restartOnlyChanges(before: Record<string, unknown>, after: Record<string, unknown>, table: OptionGroup = smartProxyOptions, prefix = ''): string[] {
  const changed: string[] = [];
  for (const [key, spec] of Object.entries(table)) {
    if (spec.live) continue;
    const a = before[key];
    const b = after[key];
    if (spec.group !== undefined && isRecord(a) && isRecord(b)) changed.push(...restartOnlyChanges(a, b, spec.group, `${prefix}${key}.`));
    else if (JSON.stringify(a) !== JSON.stringify(b)) changed.push(`${prefix}${key}`);
  }
  return changed;
}

/** Whether a running proxy applies a change to this option (a dotted path). */
export function isLiveOption(path: string): boolean {
  const top = path.split('.')[0]!;
  return fieldAt(smartProxyOptions, top)?.live === true;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
